"""Sync runs on real Redis and Kafka: requests from the topic, lifecycle events read back,
revoke before start, status summary, bad requests to the DLQ, the signed webhook."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.clock import ManualClock
from collectors.registry import TrackedAccount
from collectors.simulator_source import simulated_ids
from collectors.sync_runs import new_run_id
from collectors.webhook import verify
from socialpulse.contract import Platform, RunState, SyncRequest
from tests.collectors.helpers import TEST_RATES, collector_kit, read_all
from tests.conftest import Namespace
from tests.fakes.bluesky import make_bluesky
from tests.http_server import serve
from tests.pipeline import produce_raw

pytestmark = [pytest.mark.kafka, pytest.mark.redis_db]

T0 = 1_795_000_000.0
SECRET = "whsec-test-secret"
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"  # bsky.app in the fake Bluesky


def simulated(count: int) -> list[TrackedAccount]:
    return [
        TrackedAccount(Platform.SIMULATED, i, i, frozenset({"w"})) for i in simulated_ids(count, 42)
    ]


def by_run(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event in events:
        out.setdefault(event["run_id"], []).append(event["state"])
    return out


async def test_requests_from_kafka_run_through_their_lifecycle(ns: Namespace) -> None:
    clock = ManualClock(T0)
    accounts = simulated(3)
    ids = [new_run_id() for _ in accounts]
    async with collector_kit(ns, clock, accounts=accounts, simulator_backfill_hours=0) as kit:
        await kit.collector.service.cycle()  # first sight: scheduled backfill runs
        clock.advance(120)  # the API asks for a sync two minutes later
        requests = [
            SyncRequest(run_id=r, platform=Platform.SIMULATED, account_id=a.account_id or "")
            for r, a in zip(ids, accounts, strict=True)
        ]
        records: list[tuple[bytes | None, bytes]] = [
            (f"simulated:{q.account_id}".encode(), q.model_dump_json().encode()) for q in requests
        ]
        records.append((b"simulated:x", b'{"platform": "myspace"}'))
        await produce_raw(
            kit.settings,
            ns.topics.sync_requests,
            records,
        )
        consumer = AIOKafkaConsumer(
            ns.topics.sync_requests, bootstrap_servers=ns.urls.kafka_bootstrap,
            group_id=f"{ns.name}-collectors", enable_auto_commit=False,
            auto_offset_reset="earliest",
        )  # fmt: skip
        await consumer.start()
        stop = asyncio.Event()
        intake = asyncio.create_task(kit.collector.intake.run(consumer, stop))
        try:
            for _ in range(60):
                if all([await kit.collector.runs.get(r) for r in ids]):
                    break
                await asyncio.sleep(0.25)
        finally:
            stop.set()
            await intake
            await consumer.stop()
        await kit.collector.service.cycle()
        runs = [await kit.collector.runs.get(r) for r in ids]
        status = await kit.collector.runs.status(f"simulated:{accounts[0].account_id}")
        events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
        letters = await read_all(ns.urls.kafka_bootstrap, ns.topics.dlq)
        profiles = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
    assert all(r is not None and r.state is RunState.SUCCESS for r in runs)
    lifecycle = by_run(events)
    assert all(lifecycle[r] == ["PENDING", "STARTED", "SUCCESS"] for r in ids)
    final = {e["run_id"]: e for e in events if e["state"] == "SUCCESS"}
    # A request inside the cache TTL of the scheduled poll makes no new observation.
    assert all(final[r]["cache_hit"] and final[r]["profiles"] == 0 for r in ids)
    assert all(final[r]["duration_ms"] >= 0 and final[r]["upstream_calls"] == 0 for r in ids)
    assert len(profiles) == 3
    assert status is not None and status["last_run_id"] in ids
    assert status["last_state"] == "SUCCESS" and status["next_due_at"] > T0
    assert len(letters) == 1 and "invalid sync request" in letters[0]["reason"]
    assert letters[0]["topic"] == ns.topics.sync_requests


async def test_revoke_before_start_wins_and_nothing_is_polled(ns: Namespace) -> None:
    clock = ManualClock(T0)
    keep, drop = simulated(2)
    async with collector_kit(
        ns, clock, accounts=[keep, drop], simulator_backfill_hours=0, cache_ttl_s=0
    ) as kit:
        await kit.collector.service.cycle()
        first = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
        before = Counter(p["account_id"] for p in first)
        clock.advance(60)
        runs = kit.collector.runs
        kept = await kit.collector.intake.accept(
            SyncRequest(platform=Platform.SIMULATED, account_id=keep.account_id or "")
        )
        dropped = await kit.collector.intake.accept(
            SyncRequest(platform=Platform.SIMULATED, account_id=drop.account_id or "")
        )
        revoked = await runs.revoke(dropped.run_id, clock.time())
        assert revoked is not None and revoked.state is RunState.REVOKED
        await kit.collector.service.cycle()
        # Too late to revoke once it ran: the state stays SUCCESS.
        late = await runs.revoke(kept.run_id, clock.time())
        assert late is not None and late.state is RunState.SUCCESS
        events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
        after = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
    lifecycle = by_run(events)
    assert lifecycle[dropped.run_id] == ["PENDING", "REVOKED"]
    assert lifecycle[kept.run_id] == ["PENDING", "STARTED", "SUCCESS"]
    new = Counter(p["account_id"] for p in after) - before
    assert new == {keep.account_id: 1}


async def test_webhook_is_signed_and_retried_until_the_receiver_takes_it(
    ns: Namespace,
) -> None:
    received: list[dict[str, Any]] = []
    answers = iter([503, 200])

    async def hook(request: Request) -> Response:
        body = await request.body()
        ok = verify(
            SECRET,
            request.headers["x-socialpulse-timestamp"],
            body,
            request.headers["x-socialpulse-signature"],
        )
        received.append({"ok": ok, "event": json.loads(body), **request.headers})
        return Response(status_code=next(answers, 200))

    clock = ManualClock(T0)
    account = simulated(1)
    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:  # type: ignore[arg-type]
        async with collector_kit(
            ns, clock, accounts=account, simulator_backfill_hours=0,
            webhook_url=f"{base}/hook", webhook_secret=SECRET, cache_ttl_s=0,
        ) as kit:  # fmt: skip
            await kit.collector.service.cycle()  # a scheduled run: no webhook by default
            run = await kit.collector.intake.accept(
                SyncRequest(platform=Platform.SIMULATED, account_id=account[0].account_id or "")
            )
            clock.advance(5)
            await kit.collector.service.cycle()
            assert kit.collector.webhooks is not None
            await kit.collector.webhooks.drain()
    assert [r["ok"] for r in received] == [True, True]
    assert [r["event"]["run_id"] for r in received] == [run.run_id] * 2
    assert received[0]["event"]["state"] == "SUCCESS"
    assert received[0]["x-socialpulse-delivery"] == f"{run.run_id}:SUCCESS"
    assert clock.sleeps == [1.0]  # one back-off after the 503
    assert not verify("wrong-secret", received[0]["x-socialpulse-timestamp"], b"{}", "x")


async def test_status_of_an_account_tracked_by_handle_says_when_it_is_next_due(
    ns: Namespace,
) -> None:
    # Tracked as "bluesky:@bsky.app" until the first answer gives its DID: the runs and the
    # status hash then use the id key while the scheduler still files it under the handle.
    tracked = TrackedAccount(Platform.BLUESKY, "bsky.app", None, frozenset({"w"}))
    clock = ManualClock(T0)
    fake = make_bluesky()
    with fake.running() as base:
        async with collector_kit(
            ns, clock, accounts=[tracked], upstream_base_urls={"bluesky": base},
            rate_limits=TEST_RATES, cache_ttl_s=0, profile_interval_s=900,
        ) as kit:  # fmt: skip
            service, runs = kit.collector.service, kit.collector.runs
            await service.cycle()
            scheduled = await runs.status(f"bluesky:{DID}")
            assert await runs.status("bluesky:@bsky.app") is None
            assert scheduled is not None and scheduled["last_state"] == "SUCCESS"
            due = scheduled["next_due_at"]
            assert due is not None and T0 < due <= T0 + 1350

            # It is the scheduler's own due time: nothing before it, a poll at it.
            polls = len(fake.calls("*/app.bsky.actor.getProfile"))
            clock.now = due - 1
            await service.cycle()
            assert len(fake.calls("*/app.bsky.actor.getProfile")) == polls
            clock.now = due
            await service.cycle()
            assert len(fake.calls("*/app.bsky.actor.getProfile")) == polls + 1
            after_poll = await runs.status(f"bluesky:{DID}")
            assert after_poll is not None and after_poll["next_due_at"] > due

            # Requested by its id, polled under the handle the scheduler tracks it by.
            clock.advance(60)
            run = await kit.collector.intake.accept(
                SyncRequest(platform=Platform.BLUESKY, account_id=DID)
            )
            await service.cycle()
            requested = await runs.status(f"bluesky:{DID}")
    assert requested is not None and requested["last_run_id"] == run.run_id
    assert requested["last_state"] == "SUCCESS"
    assert requested["next_due_at"] is not None and requested["next_due_at"] > clock.now
