"""Collector scheduler: one cycle over N tracked accounts against a fake Apify on loopback.

The scheduler runs in this process exactly as ``socialpulse collect`` wires it
(``collectors.wiring.build_collector``: shared token bucket, circuit breaker,
Redis response cache, shard leases, sync runs and their events, the Kafka
emitter) with N Instagram accounts tracked; the Apify source batches them
into actor runs of ``--batch`` accounts. The fake Apify API v2
(``tests/fakes/apify.py``) runs in a child process, so its CPU and memory are
not counted, and exits by itself after ``--lifetime`` seconds or when this
process goes away. Measured per cycle:

1. **first sight**: every account due at once (the backfill cycle);
2. **re-sync inside the cache TTL**: the schedule state is wiped (as after a
   state loss) so every account is due again, and a second replica polls them:
   every upstream answer must come from the Redis cache (zero calls);
3. **on demand inside the TTL**: a sync requested for every account: no calls.

Reported: wall time, scheduler CPU seconds, peak RSS, upstream calls against
``ceil(N / batch)``, duplicate accounts per upstream call, snapshots emitted
per second. Services as in ``bench_worker``: the test Kafka and Redis (or
``SOCIALPULSE_KAFKA_BOOTSTRAP`` / ``SOCIALPULSE_REDIS_URL``). Everything made
under the ``bench<hex>`` prefix (topics, Redis keys) is removed at the end.

    python -m bench.bench_scheduler --accounts 100000 --batch 500 [--rate 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from redis.asyncio import Redis

from collectors.clock import SystemClock
from collectors.emitter import SnapshotEmitter
from collectors.registry import TrackedAccount
from collectors.wiring import Collector, build_collector
from socialpulse.contract import Platform, SyncRequest, Topics
from socialpulse.kafka import ensure_topics, make_producer
from socialpulse.settings import CollectorSettings
from tests.services import ENV_NAMES, LOCAL_TEST_URLS

RSS_TARGET_MB = 200.0
TOKEN = "apify_api_test_token"  # the fake's token (tests/fakes/apify.py)


@dataclass
class CycleReport:
    name: str
    accounts: int
    wall_s: float
    cpu_s: float
    upstream_calls: int
    expected_calls: int
    duplicate_accounts: int
    profiles_emitted: int
    events_emitted: int
    peak_rss_mb: float

    @property
    def snapshots_per_s(self) -> float:
        return self.profiles_emitted / self.wall_s if self.wall_s else 0.0


class CallLog:
    """What every upstream call asked for, as it left httpx (an event hook).

    Accounts are ``user<N>``, so one byte per account counts how often each was
    asked for in a cycle, without holding 100k names.
    """

    def __init__(self, accounts: int) -> None:
        self.calls = 0
        self._asked = bytearray(accounts + 1)

    async def hook(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/run-sync-get-dataset-items"):
            self.calls += 1
            for name in json.loads(request.content)["usernames"]:
                n = int(name.removeprefix("user"))
                self._asked[n] = min(255, self._asked[n] + 1)

    def start(self) -> int:
        self._asked[:] = bytes(len(self._asked))
        return self.calls

    def since(self, start: int) -> tuple[int, int]:
        """(calls, extra times accounts were asked for) since ``start()``."""
        return self.calls - start, sum(n - 1 for n in self._asked if n > 1)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _env_url(name: str) -> str:
    return os.environ.get(ENV_NAMES[name]) or LOCAL_TEST_URLS[name]


@contextmanager
def fake_apify(lifetime_s: float) -> Iterator[str]:
    from tests.http_server import free_port

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_scheduler", "--serve-fake", str(port),
         "--lifetime", str(lifetime_s)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/v2/acts", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve_fake(port: int, lifetime_s: float) -> None:
    """The child: 3a's fake Apify on loopback, bounded in time and tied to its parent."""
    import uvicorn

    from tests.fakes.apify import ApifyWorld, make_apify

    parent = os.getppid()

    def watchdog() -> None:
        deadline = time.monotonic() + lifetime_s
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watchdog, daemon=True).start()
    app = make_apify(ApifyWorld()).app
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@asynccontextmanager
async def collector(
    settings: CollectorSettings, accounts: list[TrackedAccount], calls: CallLog
) -> AsyncIterator[tuple[Collector, SnapshotEmitter]]:
    redis = Redis.from_url(settings.redis_url)
    producer = make_producer(settings)
    await producer.start()
    try:
        async with httpx.AsyncClient(event_hooks={"request": [calls.hook]}) as http:
            emitter = SnapshotEmitter(producer, Topics(settings.topic_prefix))
            built = build_collector(
                settings, clock=SystemClock(), redis=redis, http=http, emitter=emitter,
                static_accounts=accounts,
            )  # fmt: skip
            yield built, emitter
            await built.leases.release_all()
    finally:
        await producer.stop()
        await redis.aclose()


def _emitted(kind: str) -> float:
    from collectors import metrics

    return float(metrics.SNAPSHOTS_EMITTED.labels(kind)._value.get())  # noqa: SLF001


def _upstream_trouble() -> dict[str, float]:
    """Retries and errors by class so far (from the collector's own Prometheus metrics)."""
    from prometheus_client import REGISTRY

    out: dict[str, float] = {}
    for family in REGISTRY.collect():
        if family.name in (
            "socialpulse_collector_upstream_retries",
            "socialpulse_collector_upstream_errors",
        ):
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    kind = sample.labels.get("reason") or sample.labels.get("error_class")
                    name = f"{family.name.rsplit('_', 1)[-1]}:{kind}"
                    out[name] = out.get(name, 0) + sample.value
    return out


async def measure(name: str, built: Collector, calls: CallLog, expected: int) -> CycleReport:
    start_calls = calls.start()
    profiles, events = _emitted("profile"), _emitted("sync_event")
    cpu, wall = time.process_time(), time.perf_counter()
    await built.service.catch_up()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    made, duplicates = calls.since(start_calls)
    return CycleReport(
        name, len(await built.registry.accounts()), wall, cpu, made, expected, duplicates,
        int(_emitted("profile") - profiles), int(_emitted("sync_event") - events),
        round(_peak_rss_mb(), 1),
    )  # fmt: skip


def bench_settings(args: argparse.Namespace, base: str) -> CollectorSettings:
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    return CollectorSettings(
        kafka_bootstrap=_env_url("kafka_bootstrap"), redis_url=_env_url("redis_url"),
        topic_prefix=prefix, apify_token=SecretStr(TOKEN), upstream_base_urls={"apify": base},
        apify_batch_size=args.batch, rate_limits={"apify": args.rate},
        max_in_flight=args.in_flight, max_batches=args.concurrency, batch_linger_s=0,
        registry_from_clickhouse=False, cache_ttl_s=args.cache_ttl, metrics_port=0,
        replica_id="bench-a",
    )  # fmt: skip


async def run(args: argparse.Namespace, base: str) -> dict[str, Any]:
    settings = bench_settings(args, base)
    accounts = [
        TrackedAccount(Platform.INSTAGRAM, f"user{n}", None, frozenset({"bench"}))
        for n in range(1, args.accounts + 1)
    ]
    expected = math.ceil(args.accounts / args.batch)
    await ensure_topics(settings)
    calls = CallLog(args.accounts)
    reports: list[CycleReport] = []
    try:
        rss_before = _peak_rss_mb()
        async with collector(settings, accounts, calls) as (built, _):
            reports.append(await measure("first sight", built, calls, expected))
            # As the intake takes them off the topic: up to 1000 requests at a time.
            for start in range(1, args.accounts + 1, 1000):
                await built.intake.accept_many([
                    SyncRequest(platform=Platform.INSTAGRAM, account_id=str(9_000_000 + n))
                    for n in range(start, min(start + 1000, args.accounts + 1))
                ])  # fmt: skip
            reports.append(await measure("on demand inside TTL", built, calls, 0))
        await _wipe(settings, "sched")  # schedule state lost: every account due again
        second = settings.model_copy(update={"replica_id": "bench-b"})
        async with collector(second, accounts, calls) as (built, _):
            reports.append(await measure("re-sync inside TTL", built, calls, 0))
        peak = _peak_rss_mb()
    finally:
        await _wipe(settings, "")
        await _drop_topics(settings)
    return {
        "accounts": args.accounts, "batch": args.batch, "rate_limit_per_s": args.rate,
        "peak_rss_mb": round(peak, 1), "rss_before_mb": round(rss_before, 1),
        "upstream_trouble": _upstream_trouble(),
        "rss_target_mb": RSS_TARGET_MB, "cycles": [
            {**asdict(r), "snapshots_per_s": round(r.snapshots_per_s, 1)} for r in reports
        ],
    }  # fmt: skip


async def _wipe(settings: CollectorSettings, kind: str) -> None:
    redis = Redis.from_url(settings.redis_url)
    try:
        pattern = f"{settings.topic_prefix}:{kind}*"
        keys = [k async for k in redis.scan_iter(match=pattern, count=5000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
    finally:
        await redis.aclose()


async def _drop_topics(settings: CollectorSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(Topics(settings.topic_prefix).all())
    finally:
        await admin.close()


def _print(result: dict[str, Any]) -> None:
    print(
        f"{result['accounts']} accounts, batch {result['batch']}, "
        f"Apify rate limit {result['rate_limit_per_s']}/s, peak RSS {result['peak_rss_mb']} MB "
        f"(target < {RSS_TARGET_MB:.0f} MB)"
    )
    print(f"RSS before the collector {result['rss_before_mb']} MB; upstream retries/errors: "
          f"{result['upstream_trouble'] or 'none'}")  # fmt: skip
    print(f"{'cycle':<22}{'wall s':>8}{'CPU s':>8}{'calls':>7}{'expected':>9}{'dup':>5}"
          f"{'profiles':>10}{'events':>8}{'snap/s':>9}{'RSS MB':>8}")  # fmt: skip
    for c in result["cycles"]:
        print(f"{c['name']:<22}{c['wall_s']:>8.1f}{c['cpu_s']:>8.1f}{c['upstream_calls']:>7}"
              f"{c['expected_calls']:>9}{c['duplicate_accounts']:>5}{c['profiles_emitted']:>10}"
              f"{c['events_emitted']:>8}{c['snapshots_per_s']:>9.0f}"
              f"{c['peak_rss_mb']:>8.0f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="accounts per Apify actor run")
    parser.add_argument("--rate", type=float, default=5.0, help="Apify requests/s (shared)")
    parser.add_argument("--concurrency", type=int, default=8, help="batches polled at once")
    parser.add_argument("--in-flight", type=int, default=5000, help="accounts in flight (bound)")
    parser.add_argument("--cache-ttl", type=float, default=600.0)
    parser.add_argument("--lifetime", type=float, default=900.0, help="the fake's time limit")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-fake", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake, args.lifetime)
        return 0
    with fake_apify(args.lifetime) as base:
        result = asyncio.run(run(args, base))
    print(json.dumps(result, indent=2)) if args.json else _print(result)
    ok = result["peak_rss_mb"] < RSS_TARGET_MB and all(
        c["upstream_calls"] == c["expected_calls"] and c["duplicate_accounts"] == 0
        for c in result["cycles"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
