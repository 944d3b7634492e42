"""sync.events -> the worker -> sync_runs: the furthest state of each run, in any order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from clickhouse_connect.driver.client import Client

from socialpulse.contract import Platform, RunState, SyncEvent, Trigger
from tests.conftest import Namespace, wait_until
from tests.integration.test_pipeline import NOW
from tests.pipeline import produce_raw, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.slow]


def event(run: str, state: RunState, minute: int, **fields: object) -> SyncEvent:
    return SyncEvent(
        event_id=f"{run}:{state.value}", run_id=run, platform=Platform.BLUESKY,
        account_id="did:plc:abc", trigger=Trigger.REQUEST, state=state,
        at=NOW + timedelta(minutes=minute), created_at=NOW, **fields,
    )  # fmt: skip


def test_sync_runs_table_keeps_the_furthest_state(ns: Namespace, ch: Client) -> None:
    done = NOW + timedelta(minutes=2)
    events = [
        event("r1", RunState.SUCCESS, 2, started_at=NOW, finished_at=done, profiles=1, posts=7),
        event("r1", RunState.PENDING, 0),
        event("r1", RunState.STARTED, 1, started_at=NOW),
        event("r2", RunState.PENDING, 0),
        event("r2", RunState.REVOKED, 1),
        event("r1", RunState.STARTED, 1, started_at=NOW),  # a duplicate delivery
    ]
    records = [(e.key.encode(), e.model_dump_json().encode()) for e in events]
    records.append((b"bluesky:x", b'{"run_id": 5}'))
    asyncio.run(produce_raw(ns.settings(), ns.topics.sync_events, records))
    ns.start_worker()

    def written() -> bool:
        return ch.query("SELECT count() FROM sync_runs FINAL").result_rows[0][0] == 2

    wait_until(written, 120, lambda: ns.worker_log()[-3000:])
    rows = ch.query(
        "SELECT run_id, state, profiles, posts, finished_at IS NOT NULL"
        " FROM sync_runs FINAL ORDER BY run_id"
    ).result_rows
    assert rows == [("r1", "SUCCESS", 1, 7, True), ("r2", "REVOKED", 0, 0, False)]
    letters = read_topic(ns.urls.kafka_bootstrap, ns.topics.dlq, expect=1)
    assert len(letters) == 1 and "invalid sync event" in str(letters[0]["reason"])
