"""The scheduler end to end on real Redis and Kafka: what is polled, when, and what lands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from prometheus_client import REGISTRY

from collectors.clock import ManualClock
from collectors.registry import TrackedAccount
from collectors.simulator_source import simulated_ids
from socialpulse.contract import Platform, SyncRequest
from socialpulse.kafka import ensure_topics
from socialpulse.settings import REPO_ROOT, CollectorSettings
from tests.collectors.helpers import collector_kit, read_all
from tests.conftest import Namespace
from tests.fakes.apify import TOKEN, ApifyWorld, make_apify

pytestmark = [pytest.mark.kafka, pytest.mark.redis_db]
APIFY_RUNS = "socialpulse_collector_apify_runs_total"

T0 = 1_795_000_000.0  # 2026-11-18T09:46:40Z


def simulated(count: int) -> list[TrackedAccount]:
    return [
        TrackedAccount(Platform.SIMULATED, i, i, frozenset({"w"})) for i in simulated_ids(count, 42)
    ]


async def test_simulated_accounts_backfill_once_then_follow_the_cadence(ns: Namespace) -> None:
    clock = ManualClock(T0)
    accounts = simulated(5)
    async with collector_kit(
        ns, clock, accounts=accounts, simulator_backfill_hours=2, profile_interval_s=900
    ) as kit:
        service = kit.collector.service
        await service.cycle()
        first = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
        # Backfill: the 15-minute grid over two hours (8 or 9 instants) plus now, per account.
        per_account = Counter(r["account_id"] for r in first)
        assert set(per_account) == {a.account_id for a in accounts}
        assert all(9 <= n <= 10 for n in per_account.values())

        await service.cycle()  # nothing is due a moment later
        clock.advance(60)
        await service.cycle()
        assert len(await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)) == len(
            first
        )

        # Each account's next slot lies 450-1350 s after a poll (its phase on the 15-minute
        # grid, at least half an interval on): 1350 s later, each is polled exactly once more.
        clock.advance(1350)
        await service.cycle()
        after = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
        new = Counter(r["account_id"] for r in after) - per_account
        assert new == Counter({a.account_id: 1 for a in accounts})

        events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
    states = Counter(e["state"] for e in events)
    assert states == {"STARTED": 10, "SUCCESS": 10}
    assert all(e["_key"] == f"simulated:{e['account_id']}" for e in events)
    runs = {e["run_id"] for e in events}
    assert {r["sync_run_id"] for r in after} <= runs


def instagram(count: int, start: int = 1) -> list[TrackedAccount]:
    return [
        TrackedAccount(Platform.INSTAGRAM, f"user{n}", None, frozenset({"w"}))
        for n in range(start, start + count)
    ]


def apify_settings(base: str) -> dict[str, Any]:
    return {
        "apify_token": TOKEN,
        "upstream_base_urls": {"apify": base},
        "apify_batch_size": 50,
        "rate_limits": {"apify": 200.0},
    }


async def test_batched_source_costs_one_call_per_batch_and_the_cache_saves_resyncs(
    ns: Namespace,
) -> None:
    clock = ManualClock(T0)
    fake = make_apify(ApifyWorld())
    with fake.running() as base:
        async with collector_kit(ns, clock, accounts=instagram(120), **apify_settings(base)) as kit:
            apify_runs = {"actor": "apify/instagram-profile-scraper", "status": "SUCCEEDED"}
            runs_before = REGISTRY.get_sample_value(APIFY_RUNS, apify_runs) or 0
            await kit.collector.service.cycle()
            runs_sync = fake.calls("*/run-sync-get-dataset-items")
            assert len(runs_sync) == 3  # ceil(120 / 50)
            assert REGISTRY.get_sample_value(APIFY_RUNS, apify_runs) == runs_before + 3
            assert sorted(len(c.json()["usernames"]) for c in runs_sync) == [20, 50, 50]
            profiles = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
            assert len(profiles) == 120
            # Immutable ids, never handles, and the run that produced each.
            assert {p["account_id"] for p in profiles} == {
                str(9_000_000 + n) for n in range(1, 121)
            }
            events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
            succeeded = {e["run_id"]: e for e in events if e["state"] == "SUCCESS"}
            assert {p["sync_run_id"] for p in profiles} == set(succeeded)
            assert {e["account_id"] for e in succeeded.values()} == {
                p["account_id"] for p in profiles
            }

            # The same accounts requested again, by id, inside the cache TTL: no upstream call.
            clock.advance(30)
            for profile in profiles:
                await kit.collector.intake.accept(
                    SyncRequest(platform=Platform.INSTAGRAM, account_id=profile["account_id"])
                )
            await kit.collector.service.cycle()
            assert len(fake.calls("*/run-sync-get-dataset-items")) == 3
            events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
            requested = [e for e in events if e["trigger"] == "request"]
            assert Counter(e["state"] for e in requested) == {
                "PENDING": 120, "STARTED": 120, "SUCCESS": 120,
            }  # fmt: skip
            assert all(e["cache_hit"] for e in requested if e["state"] == "SUCCESS")


def test_collect_once_runs_the_scheduler_process_end_to_end(ns: Namespace) -> None:
    env = {
        **os.environ, **ns.env,
        "SOCIALPULSE_SIMULATOR_ACCOUNTS": "3", "SOCIALPULSE_SIMULATOR_BACKFILL_HOURS": "1",
        "SOCIALPULSE_REGISTRY_FROM_CLICKHOUSE": "false", "SOCIALPULSE_BATCH_LINGER_S": "0",
    }  # fmt: skip
    settings = ns.settings(CollectorSettings)
    asyncio.run(ensure_topics(settings))
    done = subprocess.run(
        [sys.executable, "-m", "socialpulse.cli", "collect", "--once"],
        env=env, cwd=REPO_ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    profiles = asyncio.run(read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots))
    events = asyncio.run(read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events))
    assert Counter(p["account_id"] for p in profiles) == dict.fromkeys(simulated_ids(3, 42), 5)
    assert Counter(e["state"] for e in events) == {"STARTED": 3, "SUCCESS": 3}
    assert b"simulator mode True" in done.stderr
