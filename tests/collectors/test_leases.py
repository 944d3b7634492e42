"""Replicas split the accounts through shard leases on real Redis: disjoint, complete,
handed over when a replica dies, never two polls of one account in one cycle."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from collectors.clock import ManualClock
from collectors.leases import ShardLeases, preferred_owner
from collectors.registry import TrackedAccount
from socialpulse.contract import Platform
from tests.collectors.helpers import collector_kit, read_all, redis_for
from tests.conftest import Namespace
from tests.fakes.apify import TOKEN, ApifyWorld, make_apify

T0 = 1_795_000_000.0


@pytest.mark.redis_db
async def test_two_replicas_hold_disjoint_shards_that_cover_all(ns: Namespace) -> None:
    clock = ManualClock(T0)
    async with redis_for(ns) as redis:
        a, b = (ShardLeases(redis, ns.name, r, clock, shards=64, ttl_s=30) for r in "ab")
        await a.refresh()
        assert len(a.held) == 64  # alone: everything
        await b.refresh()  # b joins; a still holds what b should get
        assert not a.held & b.held
        await a.refresh()  # a lets go of b's share
        await b.refresh()
        assert not a.held & b.held and a.held | b.held == set(range(64))
        assert 16 <= len(a.held) <= 48  # rendezvous hashing spreads the shards

        # b dies (no more refreshes): after one TTL its heartbeat and leases expire.
        clock.advance(31)
        await a.refresh()
        assert len(a.held) == 64
        assert not any(b.holds(s) for s in range(64))  # b's own view lapsed too


@pytest.mark.redis_db
async def test_a_busy_shard_is_not_handed_over_until_its_polls_finish(ns: Namespace) -> None:
    clock = ManualClock(T0)
    async with redis_for(ns) as redis:
        a, b = (ShardLeases(redis, ns.name, r, clock, shards=8, ttl_s=30) for r in "ab")
        assert len(await a.refresh()) == 8
        live = await b.live_replicas()  # b announces itself
        moving = {s for s in range(8) if preferred_owner(s, live) == "b"}
        assert moving
        busy = frozenset(sorted(moving)[:1])
        await a.refresh(busy=busy)  # still polling in one of them: keep it, unusable
        assert not any(a.holds(s) for s in busy)
        await b.refresh()
        assert not b.held & busy and (moving - busy) <= b.held
        await a.refresh()  # polls done: released
        await b.refresh()
        assert moving <= b.held


@pytest.mark.kafka
@pytest.mark.redis_db
async def test_two_replicas_never_poll_an_account_twice_in_a_cycle(ns: Namespace) -> None:
    clock = ManualClock(T0)
    accounts = [
        TrackedAccount(Platform.INSTAGRAM, f"user{n}", None, frozenset({"w"}))
        for n in range(1, 301)
    ]
    fake = make_apify(ApifyWorld())
    with fake.running() as base:
        common = {
            "accounts": accounts, "apify_token": TOKEN, "upstream_base_urls": {"apify": base},
            "apify_batch_size": 50, "rate_limits": {"apify": 500.0}, "shards": 32,
        }  # fmt: skip
        async with (
            collector_kit(ns, clock, replica_id="r1", **common) as one,  # type: ignore[arg-type]
            collector_kit(ns, clock, replica_id="r2", **common) as two,  # type: ignore[arg-type]
        ):
            for kit in (one, two):
                await kit.collector.leases.live_replicas()
            for cycle in range(3):
                await asyncio.gather(one.collector.service.cycle(), two.collector.service.cycle())
                polled = Counter(
                    name for c in fake.calls("*/run-sync-get-dataset-items")
                    for name in c.json()["usernames"]
                )  # fmt: skip
                assert polled == {a.handle: cycle + 1 for a in accounts}, f"cycle {cycle}"
                clock.advance(1350)  # past the next profile slot of every account (450-1350 s)
            events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
    assert one.collector.service.polled > 0 and two.collector.service.polled > 0
    assert one.collector.service.polled + two.collector.service.polled == 900
    assert Counter(e["state"] for e in events) == {"STARTED": 900, "SUCCESS": 900}
