"""The ``socialpulse`` command (CONTRACT §5): one subcommand per process kind."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

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

    collect = sub.add_parser("collect", help="run the collectors (the simulator by default)")
    collect.add_argument("--once", action="store_true", help="emit the backfill and exit")
    collect.set_defaults(handler=_collect)

    sub.add_parser("worker", help="run a stream worker").set_defaults(handler=_worker)
    sub.add_parser("api", help="serve the read API").set_defaults(handler=_api)

    accounts = sub.add_parser("accounts", help="track accounts in a workspace")
    accounts.add_argument("action", choices=["add"])
    accounts.add_argument("platform")
    accounts.add_argument("account_ids", nargs="+")
    accounts.add_argument("--workspace", default="demo")
    accounts.set_defaults(handler=_accounts)

    token = sub.add_parser("token", help="mint a JWT for the read API (development)")
    token.add_argument("--workspace", default="demo")
    token.add_argument("--role", default="editor", choices=["admin", "editor", "analyst"])
    token.add_argument("--sub", default="dev")
    token.add_argument("--hours", type=float, default=24.0)
    token.set_defaults(handler=_token)

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
    from socialpulse.kafka import ensure_topics

    settings = cfg.CommonSettings()
    client = make_client(settings)
    if args.rollback:
        done = runner.rollback(client, settings.clickhouse_database, args.to or 0)
        print("rolled back:", ", ".join(f"{m.version:04d}_{m.name}" for m in done) or "nothing")
        return 0
    created = asyncio.run(ensure_topics(settings))
    print("topics created:", ", ".join(created) or "none (all exist)")
    done = runner.migrate(client, settings.clickhouse_database, args.to)
    print("migrations applied:", ", ".join(f"{m.version:04d}_{m.name}" for m in done) or "none")
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
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info"
    )
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from clickhouse.accounts import track

    settings = cfg.CommonSettings()
    from clickhouse.client import make_client

    track(make_client(settings), args.workspace, args.platform, args.account_ids, added_by="cli")
    print(f"tracking {len(args.account_ids)} {args.platform} account(s) in '{args.workspace}'")
    return 0


def _token(args: argparse.Namespace) -> int:
    from api.tokens import mint

    print(mint(cfg.ApiSettings(), args.sub, args.workspace, args.role, args.hours))
    return 0


def _run(_: argparse.Namespace) -> int:
    from socialpulse.run import run_all

    return run_all()


if __name__ == "__main__":
    raise SystemExit(main())
