"""Freshness: produced → queryable in ClickHouse, at a steady input rate through one worker.

Starts ``socialpulse worker`` on a fresh namespace (as ``bench.bench_worker`` does), waits until
it owns its partitions, then produces profile snapshots at a steady ``--rate`` for
``--seconds``, each stamped ``observed_at`` = the moment it is handed to the producer. A row's
freshness is ``ingested_at - observed_at``: ``ingested_at`` is ClickHouse's ``now64(3)`` when
it writes the insert the row came in, so this is the whole path (producer, broker, consumer,
processing, sink) short of the insert's acknowledgement. Prints p50/p99/p99.9/max next to the
target (issue 4: p99 < 2 s at 5k/s), and the rate actually achieved by the producer.

    python -m bench.bench_freshness --rate 5000 --seconds 30 [--workers 2] [--json]

``--baseline REV`` measures this code and the code of git revision REV in alternating runs
(``--rounds`` of each, default 2), REV from a ``git archive`` export measured by this very
script, and prints them side by side: the box's load moves these figures more than most
changes do, so only interleaved runs compare.

``--workers N`` runs N worker processes in one consumer group (they split the topic's
partitions): how a host with N cores would run the stream, with one worker per core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.bench_api import cpu_ticks
from bench.bench_worker import (
    code_version,
    cpu_seconds,
    delete_topics,
    namespace_env,
    note,
    services,
    settings_of,
    tail,
)
from clickhouse.client import make_client, quote_ident
from clickhouse.migrations import runner
from socialpulse.contract import (
    SCHEMA_VERSION,
    Topics,
    account_key,
    format_ms,
    snapshot_id,
)
from socialpulse.kafka import ensure_topics, make_producer
from socialpulse.settings import REPO_ROOT, CommonSettings
from streams.publish import Publisher
from tests.services import ServiceUrls

TARGET_P99_S = 2.0
READY = re.compile(r"worker ready: partitions \[([0-9, ]*)\]")
TICK_S = 0.01


async def steady(
    settings: CommonSettings, topic: str, rate: int, seconds: float, accounts: int
) -> float:
    """Produce ``rate``/s in ticks of 10 ms for ``seconds``; returns the rate achieved."""
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    # Record batches per partition (the worker's publisher): one send() per record cost
    # this process about half a core at 5k/s, taken from the worker it measures.
    publisher = Publisher(producer)
    loop = asyncio.get_running_loop()
    try:
        started, sent, futures = loop.time(), 0, []
        total = int(rate * seconds)
        while sent < total:
            due = min(total, int((loop.time() - started) * rate) + 1)
            now_ms = int(time.time() * 1000)
            observed_at = format_ms(now_ms)
            tick = []
            while sent < due:
                i = sent % accounts
                account = f"fresh-{i:05d}"
                # orjson over a dict of the contract's fields: pydantic per record would make
                # the producer, not the worker, the bottleneck of this benchmark.
                value = orjson.dumps(
                    {
                        "schema_version": SCHEMA_VERSION,
                        "snapshot_id": snapshot_id("bench", account, now_ms, sent),
                        "platform": "instagram",
                        "account_id": account,
                        "handle": account,
                        "display_name": None,
                        "observed_at": observed_at,
                        "followers": 10_000 + sent // accounts + sent % 7,
                        "following": None,
                        "posts_count": None,
                        "source": "bench",
                        "sync_run_id": None,
                    }
                )
                tick.append((topic, account_key("instagram", account).encode(), value))
                sent += 1
            futures += await publisher.send_keyed(tick)
            await asyncio.sleep(TICK_S)
        await asyncio.gather(*futures)
        return sent / (loop.time() - started)
    finally:
        await producer.stop()


def wait_until_split(
    workers: list[subprocess.Popen[bytes]], logs: list[Path], partitions: int
) -> None:
    """Until every worker's newest assignment is in and together they own each partition once:
    a worker that joins later makes the group rebalance, and the first one logs again."""
    deadline = time.monotonic() + 90
    while True:
        owned: list[int] = []
        for log in logs:
            ready = READY.findall(log.read_text(errors="replace"))
            owned += [int(p) for p in ready[-1].split(",") if p.strip()] if ready else [-1]
        if sorted(owned) == list(range(partitions)):
            return
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not split the partitions:\n{tail(logs[-1])}")
        time.sleep(0.2)


def benchmark(args: argparse.Namespace, urls: ServiceUrls, tmp: Path) -> dict[str, Any]:
    name = f"fresh{uuid.uuid4().hex[:10]}"
    env = namespace_env(urls, name, tmp, "fresh")
    settings = settings_of(env)
    topic = Topics(name).profile_snapshots
    n = int(args.rate * args.seconds)
    asyncio.run(ensure_topics(settings))
    ch = make_client(settings)
    logs = [tmp / f"worker-{i}.log" for i in range(args.workers)]
    load_before = os.getloadavg()[0]
    try:
        runner.migrate(ch, name)
        workers: list[subprocess.Popen[bytes]] = []
        for i, log in enumerate(logs):
            with log.open("wb") as out:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "socialpulse.cli", "worker"],
                        env={**os.environ, **env, "SOCIALPULSE_WORKER_ID": f"fresh-{i}"},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=REPO_ROOT,
                    )
                )
        try:
            wait_until_split(workers, logs, settings.topic_partitions)
            note(
                f"producing {args.rate:,}/s for {args.seconds:.0f}s to {topic}"
                f" ({args.workers} worker process{'es' if args.workers > 1 else ''})"
            )
            cpu_before, wall_before = sum(cpu_seconds(w.pid) for w in workers), time.monotonic()
            ticks_before = cpu_ticks()
            achieved = asyncio.run(steady(settings, topic, args.rate, args.seconds, args.accounts))
            deadline = time.monotonic() + args.timeout
            while ch.query("SELECT count() FROM profile_snapshots").result_rows[0][0] < n:
                if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
                    raise RuntimeError(f"rows missing after {args.timeout:.0f}s:\n{tail(logs[0])}")
                time.sleep(0.5)
            cpu_s = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
            wall_s = time.monotonic() - wall_before
            steal, total = (b - a for a, b in zip(ticks_before, cpu_ticks(), strict=True))
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=60)
            if args.worker_log is not None:
                args.worker_log.write_text("".join(log.read_text(errors="replace") for log in logs))
        lag_ms = "toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(observed_at)"
        quantiles, worst = ch.query(
            f"SELECT quantilesExact(0.5, 0.99, 0.999)({lag_ms}), max({lag_ms})"
            " FROM profile_snapshots"
        ).result_rows[0]
        p50, p99, p999 = quantiles
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        ch.close()
        asyncio.run(delete_topics(urls.kafka_bootstrap, name))
    return {
        "rate_target": args.rate,
        "rate_achieved": achieved,
        "seconds": args.seconds,
        "snapshots": n,
        "accounts": args.accounts,
        "workers": args.workers,
        "code": code_version(),
        "nproc": os.cpu_count(),
        "loadavg_1m": [load_before, os.getloadavg()[0]],
        # The workers' own CPU from the first snapshot produced to the last row visible:
        # per snapshot, it says how far this is from keeping up whatever the box's load.
        "worker_cpu_us_per_snapshot": cpu_s / n * 1e6,
        "worker_cpu_share": cpu_s / wall_s / args.workers,
        # Time the hypervisor gave other guests: it slows every process here without
        # showing in the load average (seen at 23-59% late in session 3).
        "cpu_steal": steal / total if total else 0.0,
        "freshness_p50_s": p50 / 1000,
        "freshness_p99_s": p99 / 1000,
        "freshness_p999_s": p999 / 1000,
        "freshness_max_s": worst / 1000,
        "target_p99_s": TARGET_P99_S,
    }


def table(r: dict[str, Any]) -> str:
    la = r["loadavg_1m"]
    rows = [
        ("input rate (target / achieved)",
         f"{r['rate_target']:,}/s / {r['rate_achieved']:,.0f}/s", ""),
        ("snapshots / accounts", f"{r['snapshots']:,} / {r['accounts']:,}", ""),
        ("worker processes", f"{r['workers']}", ""),
        ("code / nproc / load avg 1m", f"{r['code']} / {r['nproc']} / {la[0]:.1f}-{la[1]:.1f}", ""),
        ("CPU steal (hypervisor)", f"{r['cpu_steal']:.0%}", ""),
        ("worker CPU per snapshot", f"{r['worker_cpu_us_per_snapshot']:.0f} µs", ""),
        ("worker CPU busy (of one core each)", f"{100 * r['worker_cpu_share']:.0f}%", ""),
        ("freshness p50", f"{r['freshness_p50_s']:.3f} s", ""),
        ("freshness p99", f"{r['freshness_p99_s']:.3f} s", f"< {r['target_p99_s']:.0f} s"),
        ("freshness p99.9", f"{r['freshness_p999_s']:.3f} s", ""),
        ("freshness max", f"{r['freshness_max_s']:.3f} s", ""),
    ]  # fmt: skip
    head = f"{'metric':<32}{'measured':>28}{'target (issue 4)':>20}"
    return "\n".join([head, "-" * len(head), *(f"{a:<32}{b:>28}{c:>20}" for a, b, c in rows)])


def side_by_side(args: argparse.Namespace) -> int:
    """Alternate runs of this tree and of ``args.baseline``'s, each in its own process."""
    plain = [
        "--rate", str(args.rate), "--seconds", str(args.seconds), "--accounts",
        str(args.accounts), "--timeout", str(args.timeout), "--workers", str(args.workers),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-fresh-base-") as base:
        archive = subprocess.run(
            ["git", "archive", args.baseline], cwd=REPO_ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", base], input=archive.stdout, check=True)
        # The same measurement on both sides: this script, in the baseline's tree.
        (Path(base) / "bench" / "bench_freshness.py").write_bytes(Path(__file__).read_bytes())
        runs: list[tuple[str, dict[str, Any]]] = []
        for i in range(args.rounds):
            for label, tree in (("this code", REPO_ROOT), (args.baseline, Path(base))):
                note(f"round {i + 1}/{args.rounds}: {label}")
                done = subprocess.run(
                    [sys.executable, "-m", "bench.bench_freshness", *plain, "--json"],
                    cwd=tree,
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"{label} run failed:\n{done.stderr[-3000:]}")
                runs.append((label, json.loads(done.stdout)))
    if args.json:
        print(json.dumps([{"side": label, **r} for label, r in runs], indent=2))
        return 0
    head = f"{'run':<22}{'steal':>7}{'load 1m':>11}{'CPU/snap':>10}{'busy':>6}{'p50':>9}{'p99':>9}"
    print(f"{args.rate:,} snapshots/s for {args.seconds:.0f} s, {args.workers} worker(s);"
          f" target p99 < {TARGET_P99_S:.0f} s")  # fmt: skip
    print(head + "\n" + "-" * len(head))
    for label, r in runs:
        la = r["loadavg_1m"]
        print(
            f"{label[:21]:<22}{r['cpu_steal']:>7.0%}{la[0]:>5.1f}-{la[1]:<5.1f}"
            f"{r['worker_cpu_us_per_snapshot']:>8.0f}µs{r['worker_cpu_share']:>6.0%}"
            f"{r['freshness_p50_s']:>8.2f}s{r['freshness_p99_s']:>8.2f}s"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_freshness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rate", type=int, default=5000, help="snapshots/s (default 5000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to produce")
    parser.add_argument("--accounts", type=int, default=5000, help="distinct accounts")
    parser.add_argument("--timeout", type=float, default=300.0, help="drain limit after producing")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes in the group (default 1)"
    )
    parser.add_argument("--worker-log", type=Path, help="keep the workers' logs in this file")
    parser.add_argument("--baseline", help="a git revision to measure alternately with this code")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side with --baseline")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if min(args.rate, args.accounts, args.workers, args.rounds) < 1 or args.seconds <= 0:
        parser.error("--rate, --accounts, --workers, --rounds and --seconds must be positive")
    if args.baseline is not None:
        if args.worker_log is not None:
            parser.error("--worker-log keeps one run's logs: not with --baseline")
        return side_by_side(args)
    with services() as urls, tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        results = benchmark(args, urls, Path(tmp))
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
