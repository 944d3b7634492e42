"""The ``socialpulse`` command (CONTRACT §5): one subcommand per process kind."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from clickhouse.accounts import LABELS
from socialpulse import settings as cfg

log = logging.getLogger("socialpulse")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=cfg.CommonSettings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialpulse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    services = sub.add_parser("services", help="start, stop or show Kafka, ClickHouse and Redis")
    services.add_argument("action", choices=["up", "down", "status"])
    services.set_defaults(handler=_services)

    migrate = sub.add_parser("migrate", help="create topics and apply ClickHouse migrations")
    migrate.add_argument(
        "--to", type=int, default=None, help="migrate (or roll back) to this version"
    )
    migrate.add_argument(
        "--rollback", action="store_true", help="roll back down to --to (default 0)"
    )
    migrate.set_defaults(handler=_migrate)

    collect = sub.add_parser(
        "collect", help="run the collector scheduler (simulated accounts when no upstream token)"
    )
    collect.add_argument(
        "--once", action="store_true", help="run one scheduling cycle (first sight: the backfill)"
    )
    collect.set_defaults(handler=_collect)

    sub.add_parser("worker", help="run a stream worker").set_defaults(handler=_worker)
    sub.add_parser("api", help="serve the read API").set_defaults(handler=_api)

    accounts = sub.add_parser("accounts", help="track accounts; what the collectors poll")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="track accounts in a workspace (the accounts table)")
    add.add_argument("platform")
    add.add_argument("account_ids", nargs="+", help="the platform's immutable ids")
    add.add_argument("--workspace", default="demo")
    add.add_argument("--handle", help="the username, when adding one account")
    add.add_argument(
        "--label", choices=LABELS, default="own", help="the workspace's own account or a competitor"
    )
    add.set_defaults(handler=_accounts_add)
    listing = actions.add_parser("list", help="the merged registry the collectors poll")
    listing.set_defaults(handler=_accounts_list)
    secret = actions.add_parser(
        "set-token", help="store an account's OAuth token, encrypted (read from stdin)"
    )
    secret.add_argument("platform")
    secret.add_argument("account_id")
    secret.set_defaults(handler=_accounts_set_token)

    token = sub.add_parser("token", help="mint a JWT for the read API (development)")
    token.add_argument("--workspace", default="demo")
    token.add_argument("--role", default="editor", choices=["admin", "editor", "analyst"])
    token.add_argument("--sub", default="dev")
    token.add_argument("--hours", type=float, default=24.0)
    token.set_defaults(handler=_token)

    replay = sub.add_parser(
        "replay", help="rebuild the derived tables from the raw topics (workers stopped)"
    )
    replay.add_argument(
        "--from", dest="since", required=True, type=_timestamp,
        help="rebuild rows from this time on, e.g. 2026-11-01T00:00:00Z",
    )  # fmt: skip
    replay.set_defaults(handler=_replay)

    run = sub.add_parser("run", help="services, migrations, collectors, worker and API in one go")
    run.set_defaults(handler=_run)
    return parser


def _services(args: argparse.Namespace) -> int:
    from socialpulse.services import manager

    settings = cfg.ServicesSettings()
    action = {"up": manager.up, "down": manager.down, "status": manager.status}[args.action]
    try:
        statuses = action(settings)
    except manager.ServicesError as exc:
        print(f"socialpulse services {args.action}: {exc}", file=sys.stderr)
        return 1
    print(manager.format_table(statuses))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from clickhouse.client import make_client
    from clickhouse.migrations import runner
    from socialpulse.kafka import TopicCreationError, ensure_topics

    settings = cfg.CommonSettings()
    client = make_client(settings)
    if args.rollback:
        done = runner.rollback(client, settings.clickhouse_database, args.to or 0)
        print("rolled back:", ", ".join(f"{m.version:04d}_{m.name}" for m in done) or "nothing")
        return 0
    try:
        created = asyncio.run(ensure_topics(settings))
    except TopicCreationError as exc:
        factor = settings.topic_replication_factor
        print(f"error: {exc} (SOCIALPULSE_TOPIC_REPLICATION_FACTOR={factor})", file=sys.stderr)
        return 1
    print("topics created:", ", ".join(created) or "none (all exist)")
    done = runner.migrate(client, settings.clickhouse_database, args.to)
    print("migrations applied:", ", ".join(f"{m.version:04d}_{m.name}" for m in done) or "none")
    if args.to is None:
        from clickhouse.retention import apply_raw_ttl, apply_upstream_items_ttl

        apply_raw_ttl(client, settings.raw_ttl_days)
        print(f"raw snapshots TTL: {settings.raw_ttl_days or 'none'} days")
        apply_upstream_items_ttl(client, settings.upstream_items_ttl_days)
        print(f"raw upstream items TTL: {settings.upstream_items_ttl_days or 'none'} days")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from collectors.process import run_collector_process

    return asyncio.run(run_collector_process(cfg.CollectorSettings(), once=args.once))


def _worker(_: argparse.Namespace) -> int:
    from streams.worker import run_worker

    run_worker(cfg.WorkerSettings())
    return 0


def _api(_: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = cfg.ApiSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        access_log=settings.api_access_log,
    )
    return 0


def _accounts_add(args: argparse.Namespace) -> int:
    from clickhouse.accounts import track
    from clickhouse.client import make_client
    from socialpulse.contract import Platform

    if args.platform not in set(Platform):
        print(f"unknown platform {args.platform!r}; one of {', '.join(Platform)}", file=sys.stderr)
        return 2
    if args.handle and len(args.account_ids) != 1:
        print("--handle names one account: give exactly one id with it", file=sys.stderr)
        return 2
    track(
        make_client(cfg.CommonSettings()), args.workspace, args.platform, args.account_ids,
        added_by="cli", label=args.label, handle=args.handle,
    )  # fmt: skip
    print(
        f"tracking {len(args.account_ids)} {args.platform} account(s) in '{args.workspace}'"
        f" as {args.label}"
    )
    return 0


def _accounts_list(_: argparse.Namespace) -> int:
    from clickhouse.client import make_client
    from collectors.clock import SystemClock
    from collectors.wiring import registry_for

    settings = cfg.CollectorSettings()
    registry = registry_for(settings, SystemClock(), lambda: make_client(settings))
    for account in asyncio.run(registry.accounts()):
        workspaces = ",".join(sorted(account.workspaces))
        print(f"{account.key}\t{account.handle}\t{workspaces}")
    return 0


def _accounts_set_token(args: argparse.Namespace) -> int:
    from collectors.secrets import SecretsError, SecretToken, TokenVault, fernet_from

    settings = cfg.CollectorSettings()
    if settings.secrets_key is None:
        print("set SOCIALPULSE_SECRETS_KEY (a Fernet key) first", file=sys.stderr)
        return 2
    # From stdin, never argv: command lines end up in shell history and `ps`.
    value = sys.stdin.readline().strip()
    if not value:
        print("no token on stdin", file=sys.stderr)
        return 2

    async def store() -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
        try:
            assert settings.secrets_key is not None
            vault = TokenVault(
                redis, settings.topic_prefix, fernet_from(settings.secrets_key.get_secret_value())
            )
            await vault.put(args.platform, args.account_id, SecretToken(value))
        finally:
            await redis.aclose()

    try:
        asyncio.run(store())
    except SecretsError as exc:
        print(f"socialpulse accounts set-token: {exc}", file=sys.stderr)
        return 2
    print(f"stored the token of {args.platform}:{args.account_id} (encrypted)")
    return 0


def _token(args: argparse.Namespace) -> int:
    from api.tokens import mint

    print(mint(cfg.ApiSettings(), args.sub, args.workspace, args.role, args.hours))
    return 0


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _replay(args: argparse.Namespace) -> int:
    import subprocess

    from clickhouse.client import make_client
    from socialpulse.contract import Topics
    from socialpulse.kafka import group_lag
    from streams.replay import ReplayError, run_prepare, watch

    settings = cfg.WorkerSettings()
    try:
        total = run_prepare(settings, make_client(settings), args.since)
    except ReplayError as exc:
        print(f"socialpulse replay: {exc}", file=sys.stderr)
        return 1
    print(f"derived rows from {args.since.isoformat()} deleted, state reset; re-reading {total:,}")
    worker = subprocess.Popen([sys.executable, "-m", "socialpulse.cli", "worker"])
    topics = Topics(settings.topic_prefix)
    raw = [topics.profile_snapshots, topics.post_snapshots]

    def remaining() -> int | None:
        try:
            return asyncio.run(group_lag(settings.kafka_bootstrap, settings.consumer_group, raw))
        except Exception:  # the group is rebalancing: no figure this time
            return None

    try:
        watch(
            total,
            remaining,
            lambda line: print(line, flush=True),
            alive=lambda: worker.poll() is None,
        )
    except ReplayError as exc:
        print(f"socialpulse replay: {exc}", file=sys.stderr)
        return 1
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print("replay complete; start the workers again")
    return 0


def _run(_: argparse.Namespace) -> int:
    from socialpulse.run import run_all

    return run_all()


if __name__ == "__main__":
    raise SystemExit(main())
