"""Worker throughput: the raw aiokafka consume rate next to the real worker's, end to end.

Fills ``<prefix>.raw.profile-snapshots`` of a fresh namespace (topic prefix, ClickHouse
database and consumer group ``bench<hex>``, removed at the end) with N profile snapshots and
measures (a) a group-less ``AIOKafkaConsumer`` reading them from the beginning (no decoding,
``json.loads``, pydantic, the worker's own parser) and (b) ``python -m socialpulse.cli worker``
from process start, and from the first row visible, until ``count()`` of ``profile_snapshots``
is N and the group's committed offsets reach the end. Rates are also given per CPU-second
(robust to a busy box).

Services: ``SOCIALPULSE_KAFKA_BOOTSTRAP`` / ``SOCIALPULSE_CLICKHOUSE_URL`` when set; else the
test services (Kafka 127.0.0.1:19092, ClickHouse :18123), used as they are when they answer,
else started by ``tests/services.py`` (stopped at the end unless
``SOCIALPULSE_TEST_KEEP_SERVICES=1``). Other ``SOCIALPULSE_*`` variables reach the worker.

    python -m bench.bench_worker --snapshots 200000 --accounts 1000 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from clickhouse.client import make_client, quote_ident
from clickhouse.migrations import runner
from socialpulse.contract import Platform, ProfileSnapshot, Topics, from_ms, snapshot_id
from socialpulse.kafka import ensure_topics, kafka_ready, make_producer
from socialpulse.settings import REPO_ROOT, CommonSettings
from streams.records import RawMessage, parse
from tests.pipeline import consumer_lag
from tests.services import ENV_NAMES, LOCAL_TEST_URLS, ServiceUrls, provide_services

TARGET_RATE = 25_000.0  # snapshots/s per worker (issue 4)
TARGET_RATIO = 0.5  # worker rate / raw consume rate (issue 4)
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PLATFORMS = (Platform.INSTAGRAM, Platform.TIKTOK, Platform.X, Platform.YOUTUBE, Platform.BLUESKY)
DECODERS: dict[str, Callable[[bytes], object] | None] = {
    "none": None,
    "json.loads": json.loads,
    "pydantic": ProfileSnapshot.model_validate_json,
    # The worker's own parser (msgspec, then the record; no key check): the floor under
    # any worker that reads these records at all.
    "worker parse": lambda value: parse(RawMessage(None, value, "", 0, 0), ProfileSnapshot),
}
Record = tuple[bytes, bytes]


def code_version() -> str:
    """The commit measured, with ``+dirty`` when the worker's code has local changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"  # e.g. a `git archive` export
    dirty = git("status", "--porcelain", "--", "streams", "socialpulse", "clickhouse")
    return head + ("+dirty" if dirty else "")


def note(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def generate(n: int, accounts: int, interval_ms: int, seed: int) -> list[Record]:
    """Ticks over all accounts in turn, like a collector: about 30% of snapshots
    change followers, 2% hide them, 1% arrive after their account's next one."""
    rng = random.Random(seed)
    who = [(PLATFORMS[i % len(PLATFORMS)], f"acct-{seed}-{i:05d}") for i in range(accounts)]
    followers = [int(rng.lognormvariate(8.0, 1.8)) for _ in range(accounts)]
    following = [rng.randint(50, 2000) for _ in range(accounts)]
    out: list[Record] = []
    for j in range(n):
        tick, i = divmod(j, accounts)
        platform, account = who[i]
        if rng.random() < 0.3:
            followers[i] = max(0, followers[i] + rng.randint(-5, 5 + followers[i] // 500))
        t_ms = START_MS + tick * interval_ms + rng.randint(0, 30_000)
        snap = ProfileSnapshot(
            snapshot_id=snapshot_id(platform.value, account, t_ms, "bench"),
            platform=platform,
            account_id=account,
            handle=f"user_{i:05d}",
            display_name=f"User {i}",
            observed_at=from_ms(t_ms),
            followers=None if rng.random() < 0.02 else followers[i],
            following=following[i],
            posts_count=100 + tick // 96,
            source="bench",
        )
        out.append((snap.key.encode(), snap.to_json_bytes()))
    for j in range(len(out) - accounts):
        if rng.random() < 0.01:  # same account, next tick: out of order for that account
            out[j], out[j + accounts] = out[j + accounts], out[j]
    return out


async def produce(settings: CommonSettings, topic: str, records: list[Record]) -> float:
    producer = make_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(
    bootstrap: str, topic: str, n: int, decode: Callable[[bytes], object] | None, timeout_s: float
) -> tuple[float, float]:
    """Records per second and per CPU-second of a group-less consumer reading ``n``
    records from the beginning."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        started, cpu, count = time.perf_counter(), time.process_time(), 0
        while count < n:
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"raw consumer read {count} of {n} in {timeout_s:.0f}s")
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batches.values():
                count += len(messages)
                if decode is not None:
                    for message in messages:
                        decode(message.value or b"")
        return n / (time.perf_counter() - started), n / (time.process_time() - cpu)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class WorkerRun:
    first_row_s: float  # from process start to the first row visible
    rows_at_first: int
    cpu_at_first_s: float  # user + system CPU of the worker process by then
    all_rows_s: float  # to count() == N
    done_s: float  # to count() == N and lag 0
    cpu_s: float  # worker CPU by then


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def run_worker(
    env: dict[str, str],
    settings: CommonSettings,
    ch: Any,
    n: int,
    log: Path,
    timeout_s: float,
    profile: Path | None = None,
) -> WorkerRun:
    group, topic = env["SOCIALPULSE_CONSUMER_GROUP"], Topics(settings.topic_prefix)
    # py-spy samples the worker from outside (not a project dependency): the one
    # installed next to this interpreter (pip install py-spy), else the one on PATH.
    # Looked up before the worker starts, so a missing one leaves no worker behind.
    spy_bin: str | None = None
    if profile:
        beside = Path(sys.executable).parent / "py-spy"
        spy_bin = str(beside) if beside.exists() else shutil.which("py-spy")
        if spy_bin is None:
            raise RuntimeError("--profile needs py-spy: pip install py-spy")
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "socialpulse.cli", "worker"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    spy = (
        subprocess.Popen(
            [
                spy_bin,
                "record",
                "--format",
                "raw",
                "-o",
                str(profile),
                "--pid",
                str(child.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if spy_bin
        else None
    )
    started = time.monotonic()
    first: tuple[float, int, float] | None = None
    all_rows: float | None = None
    try:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"worker exited with {child.returncode}:\n{tail(log)}")
            rows = int(ch.command("SELECT count() FROM profile_snapshots"))
            now = time.monotonic() - started
            if rows and first is None:
                first = (now, rows, cpu_seconds(child.pid))
            if rows >= n and first is not None:
                all_rows = now if all_rows is None else all_rows
                lag = consumer_lag(settings.kafka_bootstrap, group, topic.profile_snapshots)
                if lag == 0:
                    done = time.monotonic() - started
                    return WorkerRun(*first, all_rows, done, cpu_seconds(child.pid))
            if now > timeout_s:
                raise TimeoutError(
                    f"worker wrote {rows}/{n} rows in {timeout_s:.0f}s:\n{tail(log)}"
                )
            time.sleep(0.2)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            spy.wait(timeout=60)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def faust_baseline(
    bootstrap: str, topic: str, group: str, n: int, timeout_s: float
) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.faust_baseline", "--bootstrap", bootstrap, "--topic", topic,
         "--group", group, "--n", str(n)],
        capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"faust baseline printed no result:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """The namespace's topics: the worker's changelog and the faust baseline's own too."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def _answers(urls: ServiceUrls) -> bool:
    try:
        url = urls.clickhouse_url.rstrip("/") + "/ping"
        ping = httpx.get(url, timeout=5, trust_env=False).is_success
    except httpx.HTTPError:
        return False
    return ping and asyncio.run(kafka_ready(urls.kafka_bootstrap))


@contextmanager
def services() -> Iterator[ServiceUrls]:
    """Services that already answer are used as they are (never stopped)."""
    explicit = {k: os.environ[v] for k, v in ENV_NAMES.items() if os.environ.get(v)}
    kafka, clickhouse, redis = (explicit.get(k, LOCAL_TEST_URLS[k]) for k in ENV_NAMES)
    urls = ServiceUrls(kafka, clickhouse, redis)
    if _answers(urls):
        yield urls
        return
    note("services do not answer; starting them (tests/services.py)")
    with provide_services() as started:
        yield started


def namespace_env(urls: ServiceUrls, name: str, tmp: Path, worker_id: str) -> dict[str, str]:
    """A worker's environment in a namespace of its own: topics, database and group ``name``."""
    return {
        **urls.env(),
        "SOCIALPULSE_TOPIC_PREFIX": name,
        "SOCIALPULSE_CLICKHOUSE_DATABASE": name,
        "SOCIALPULSE_CONSUMER_GROUP": f"{name}-worker",
        "SOCIALPULSE_VAR_DIR": str(tmp),
        "SOCIALPULSE_METRICS_PORT": "0",
        "SOCIALPULSE_WORKER_ID": worker_id,
    }


def settings_of(env: dict[str, str]) -> CommonSettings:
    return CommonSettings.model_validate(
        {k.removeprefix("SOCIALPULSE_").lower(): v for k, v in env.items()}
    )


def benchmark(args: argparse.Namespace, urls: ServiceUrls, tmp: Path) -> dict[str, Any]:
    name = f"bench{uuid.uuid4().hex[:10]}"
    env = namespace_env(urls, name, tmp, "bench")
    env["SOCIALPULSE_TOPIC_PARTITIONS"] = str(args.partitions)
    settings = settings_of(env)
    n, topic = args.snapshots, Topics(name).profile_snapshots
    note(f"namespace {name}: generating {n:,} snapshots of {args.accounts:,} accounts")
    records = generate(n, args.accounts, int(args.interval_minutes * 60_000), args.seed)
    mean_bytes = sum(len(v) for _, v in records) / n
    load_before = os.getloadavg()[0]
    asyncio.run(ensure_topics(settings))
    ch = make_client(settings)
    try:
        runner.migrate(ch, name)
        note(f"producing to {topic}")
        produce_rate = asyncio.run(produce(settings, topic, records))
        del records
        raw: dict[str, float] = {}
        raw_cpu: dict[str, float] = {}
        for mode, decode in DECODERS.items():
            note(f"raw consume, decode={mode}, median of {args.repeat}")
            rates = [
                asyncio.run(raw_consume(urls.kafka_bootstrap, topic, n, decode, 120))
                for _ in range(args.repeat)
            ]
            raw[mode] = statistics.median(wall for wall, _ in rates)
            raw_cpu[mode] = statistics.median(cpu for _, cpu in rates)
        note("faust baseline: an agent taking batches and doing nothing")
        faust_rate = faust_baseline(urls.kafka_bootstrap, topic, f"{name}-faust", n, args.timeout)
        note("running the worker")
        run = run_worker(env, settings, ch, n, tmp / "worker.log", args.timeout, args.profile)
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        ch.close()
        asyncio.run(delete_topics(urls.kafka_bootstrap, name))
    load_after = os.getloadavg()[0]
    incl = n / run.done_s
    excl = (n - run.rows_at_first) / (run.done_s - run.first_row_s)
    per_cpu = (n - run.rows_at_first) / (run.cpu_s - run.cpu_at_first_s)
    return {
        "snapshots": n,
        "accounts": args.accounts,
        "partitions": args.partitions,
        "interval_minutes": args.interval_minutes,
        "mean_value_bytes": round(mean_bytes, 1),
        "nproc": os.cpu_count(),
        "code": code_version(),
        "loadavg_1m": [load_before, load_after],
        "produce_rate": produce_rate,
        "raw_consume_rate": raw,
        "raw_consume_per_cpu_s": raw_cpu,
        "faust_noop_agent_rate": faust_rate["rate"],
        "faust_noop_agent_per_cpu_s": faust_rate["per_cpu_s"],
        "worker_rate_incl_startup": incl,
        "worker_rate_excl_startup": excl,
        "worker_per_cpu_s_excl_startup": per_cpu,
        "ratio_incl_startup": incl / raw["none"],
        "ratio_excl_startup": excl / raw["none"],
        "ratio_per_cpu_s": per_cpu / raw_cpu["none"],
        **{f"worker_{k}": v for k, v in asdict(run).items()},
        "targets_issue_4": {"worker_rate": TARGET_RATE, "ratio": TARGET_RATIO},
    }


def table(r: dict[str, Any]) -> str:
    raw, cpu, la = r["raw_consume_rate"], r["raw_consume_per_cpu_s"], r["loadavg_1m"]
    rate, ratio = f">= {TARGET_RATE:,.0f}/s", f">= {TARGET_RATIO}x"
    rows = [
        ("N / accounts / partitions",
         f"{r['snapshots']:,} / {r['accounts']:,} / {r['partitions']}"),
        ("code / nproc / load avg 1m", f"{r['code']} / {r['nproc']} / {la[0]:.1f}-{la[1]:.1f}"),
        ("mean value size", f"{r['mean_value_bytes']:.0f} B"),
        ("produce (setup, acks=all)", f"{r['produce_rate']:,.0f}/s"),
        ("(a) raw consume, no decode", f"{raw['none']:,.0f}/s", f"{cpu['none']:,.0f}"),
        ("    raw + json.loads", f"{raw['json.loads']:,.0f}/s", f"{cpu['json.loads']:,.0f}"),
        ("    raw + pydantic", f"{raw['pydantic']:,.0f}/s", f"{cpu['pydantic']:,.0f}"),
        ("    raw + the worker's parser", f"{raw['worker parse']:,.0f}/s",
         f"{cpu['worker parse']:,.0f}"),
        ("faust agent doing nothing", f"{r['faust_noop_agent_rate']:,.0f}/s",
         f"{r['faust_noop_agent_per_cpu_s']:,.0f}"),
        ("(b) worker, incl. startup", f"{r['worker_rate_incl_startup']:,.0f}/s", "", rate),
        ("    worker, excl. startup", f"{r['worker_rate_excl_startup']:,.0f}/s",
         f"{r['worker_per_cpu_s_excl_startup']:,.0f}", rate),
        ("(b)/(a), incl. startup", f"{r['ratio_incl_startup']:.4f}x", "", ratio),
        ("(b)/(a), excl. startup", f"{r['ratio_excl_startup']:.4f}x",
         f"{r['ratio_per_cpu_s']:.4f}x", ratio),
        ("worker: first row after", f"{r['worker_first_row_s']:.1f} s"),
        ("worker: all rows after", f"{r['worker_all_rows_s']:.1f} s"),
        ("worker: lag 0 + all rows after", f"{r['worker_done_s']:.1f} s"),
        ("worker CPU (user+sys)", f"{r['worker_cpu_s']:.1f} s"),
    ]  # fmt: skip
    header = ("metric", "measured", "per CPU-second", "target (issue 4)")
    cells = [header, *[(*row, "", "")[:4] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    lines = [
        f"{a.ljust(widths[0])}  {b.rjust(widths[1])}  {c.rjust(widths[2])}  {d}".rstrip()
        for a, b, c, d in cells
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--snapshots", type=int, default=50_000, help="N (default 50000)")
    parser.add_argument("--accounts", type=int, default=1000, help="distinct accounts")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument("--interval-minutes", type=float, default=15.0, help="per account")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="raw consume runs (median)")
    parser.add_argument("--timeout", type=float, default=600.0, help="worker phase limit, s")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy (speedscope) profile of the worker here"
    )
    args = parser.parse_args(argv)
    if min(args.snapshots, args.accounts, args.repeat) < 1:
        parser.error("--snapshots, --accounts and --repeat must be positive")
    with services() as urls, tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        results = benchmark(args, urls, Path(tmp))
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
