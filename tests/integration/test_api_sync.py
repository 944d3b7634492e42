"""Sync endpoints on real services: trigger, run status, revoke, per-account sync status.

Kafka, ClickHouse, Redis and a worker are real. The collectors' side is the collectors'
own code (``RequestIntake``, ``SyncRuns``) on the same Redis and topics, so what the
API writes and reads is checked against what the collectors really do with it.

The response cache is off here (TTL 0): these tests change sync state between reads
and check each read; caching is tested in ``test_api_limits``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaConsumer
from clickhouse_connect.driver.client import Client
from httpx import Client as HttpClient
from httpx import Response
from redis.asyncio import Redis as AsyncRedis

from api.app import create_app
from api.resources import Resources
from api.tokens import mint
from clickhouse import audit, queries_tracking
from collectors.clock import SystemClock
from collectors.emitter import SnapshotEmitter
from collectors.state import ScheduleStore
from collectors.sync_requests import OnDemandQueue, RequestIntake
from collectors.sync_runs import Run, SyncRuns
from socialpulse.contract import (
    Platform,
    ProfileSnapshot,
    RunState,
    SyncEvent,
    Trigger,
    format_ts,
    snapshot_id,
)
from socialpulse.kafka import make_producer
from socialpulse.settings import ApiSettings
from tests.conftest import Namespace, wait_until
from tests.http_server import serve
from tests.integration.test_pipeline import wait_for_quiescence
from tests.pipeline import produce_raw

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

START = time.time()
NOW = datetime.fromtimestamp(START, UTC)
# account -> minutes ago it was last observed (None: never)
OBSERVED: dict[str, int | None] = {
    "a-fresh": 10, "a-auth": 10, "a-private": 10, "a-old": 180, "a-overdue": 10, "a-new": None,
    "a-table": 10, "trig-1": 10, "trig-2": 10, "trig-3": 10, "b-only": 10, "shared": 10,
}  # fmt: skip
WS_A = [a for a in OBSERVED if a.startswith(("a-", "trig-"))] + ["shared"]
WS_B = ["b-only", "shared"]


@dataclass
class Api:
    client: HttpClient
    settings: ApiSettings
    ch: Client
    ns: Namespace

    def call(
        self,
        method: str,
        path: str,
        ws: str,
        role: str = "editor",
        json: Any = None,
        sub: str | None = None,
        **params: Any,
    ) -> Response:
        token = mint(self.settings, sub or f"{role}@{ws}", ws, role)
        return self.client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, json=json, params=params
        )

    def trigger(self, ws: str, accounts: list[str], role: str = "editor") -> Response:
        body = {"accounts": [{"platform": "simulated", "account_id": a} for a in accounts]}
        return self.call("POST", "/v1/sync", ws, role, json=body)

    def run(self, run_id: str, ws: str = "ws-a", role: str = "analyst") -> Response:
        return self.call("GET", f"/v1/sync/runs/{run_id}", ws, role)

    def revoke(self, run_id: str, ws: str = "ws-a", role: str = "editor") -> Response:
        return self.call("DELETE", f"/v1/sync/runs/{run_id}", ws, role)

    def status(self, ws: str = "ws-a", role: str = "analyst", **params: Any) -> dict[str, Any]:
        response = self.call("GET", "/v1/sync/status", ws, role, **params)
        assert response.status_code == 200, response.text
        return {i["account_id"]: i for i in response.json()["items"]}


@dataclass
class Collectors:
    runs: SyncRuns
    intake: RequestIntake


@asynccontextmanager
async def collectors(ns: Namespace) -> AsyncIterator[Collectors]:
    """The collectors' run store and request intake, on the test's Redis and topics."""
    client = AsyncRedis.from_url(ns.urls.redis_url)
    producer = make_producer(ns.settings())
    await producer.start()
    try:
        emitter = SnapshotEmitter(producer, ns.topics)
        runs = SyncRuns(client, ns.name, emitter, ttl_s=3600)
        store = ScheduleStore(client, ns.name, 4, posts_ttl_s=3600)
        intake = RequestIntake(
            runs, OnDemandQueue(client, ns.name, 4), store, emitter, SystemClock()
        )
        yield Collectors(runs, intake)
    finally:
        await producer.stop()
        await client.aclose()


def ago(minutes: float) -> float:
    return START - minutes * 60


def finished_run(account: str, state: RunState, at: float, error_class: str | None = None) -> Run:
    return Run(
        run_id=f"live-{account}-{int(at)}", platform=Platform.SIMULATED, account_id=account,
        handle=account, trigger=Trigger.SCHEDULE, state=state, created_at=at - 5,
        started_at=at - 4, finished_at=at, error_class=error_class,
        error=f"{error_class} from upstream" if error_class else None,
    )  # fmt: skip


async def seed_live_status(ns: Namespace) -> None:
    """What the collectors' scheduler records after runs (``SyncRuns.record_status``)."""
    async with collectors(ns) as side:
        record = side.runs.record_status
        await record(
            [finished_run("a-fresh", RunState.SUCCESS, ago(10))], {"simulated:a-fresh": ago(-5)}
        )
        await record([finished_run("a-auth", RunState.SUCCESS, ago(60))], {})
        await record(
            [finished_run("a-auth", RunState.FAILURE, ago(5), "auth")],
            {"simulated:a-auth": ago(-1)},
        )
        await record([finished_run("a-private", RunState.FAILURE, ago(10), "private")], {})
        await record([finished_run("a-old", RunState.SUCCESS, ago(180))], {})
        await record(
            [finished_run("a-overdue", RunState.SUCCESS, ago(10))],
            {"simulated:a-overdue": ago(30)},  # 30 min overdue, past the 15 min grace
        )


def table_event(run: str, account: str, state: RunState, minutes_ago: float, **f: Any) -> SyncEvent:
    at = NOW - timedelta(minutes=minutes_ago)
    return SyncEvent(
        event_id=f"{run}:{state.value}", run_id=run, platform=Platform.SIMULATED,
        account_id=account, trigger=Trigger.SCHEDULE, state=state, at=at,
        created_at=at - timedelta(seconds=5), **f,
    )  # fmt: skip


# Runs only the sync_runs table knows (their live state expired long ago).
TABLE_EVENTS = [
    table_event("tbl-ok", "a-table", RunState.SUCCESS, 120, profiles=1, posts=4,
                started_at=NOW - timedelta(minutes=121), finished_at=NOW - timedelta(minutes=120)),
    table_event("tbl-bad", "a-table", RunState.FAILURE, 60, error_class="transient",
                error="apify: 503", finished_at=NOW - timedelta(minutes=60)),
    table_event("tbl-b", "b-only", RunState.SUCCESS, 90, finished_at=NOW - timedelta(minutes=90)),
]  # fmt: skip


@pytest.fixture(scope="module")
def api(module_ns: tuple[Namespace, Client]) -> Iterator[Api]:
    ns, ch = module_ns
    snaps = [
        ProfileSnapshot(
            snapshot_id=snapshot_id(account, k),
            platform=Platform.SIMULATED,
            account_id=account,
            handle=f"{account}-handle",
            observed_at=NOW - timedelta(minutes=minutes + k),
            followers=1000 - k,
            source="test",
        )  # fmt: skip
        for account, minutes in OBSERVED.items()
        if minutes is not None
        for k in range(3)
    ]
    settings = ns.settings()
    feed: list[tuple[bytes | None, bytes]] = [(s.key.encode(), s.to_json_bytes()) for s in snaps]
    asyncio.run(produce_raw(settings, ns.topics.profile_snapshots, feed))
    events: list[tuple[bytes | None, bytes]] = [
        (e.key.encode(), e.model_dump_json().encode()) for e in TABLE_EVENTS
    ]
    asyncio.run(produce_raw(settings, ns.topics.sync_events, events))
    for ws, accounts in (("ws-a", WS_A), ("ws-b", WS_B)):
        for account in accounts:
            label = "competitor" if (ws, account) == ("ws-b", "shared") else "own"
            row = queries_tracking.TrackedAccount(ws, "simulated", account, account, label, "test")
            queries_tracking.write(ch, row, None)
    asyncio.run(seed_live_status(ns))
    ns.start_worker()
    wait_for_quiescence(ns, ch)
    wait_until(
        lambda: ch.query("SELECT count() FROM sync_runs FINAL").result_rows[0][0] >= 3,
        120,
        lambda: f"the worker to sink sync.events\n{ns.worker_log()[-3000:]}",
    )
    api_settings = ns.settings(
        ApiSettings, cache_ttl_overview_s=0, cache_ttl_accounts_s=0, cache_ttl_timeseries_s=0
    )
    assert isinstance(api_settings, ApiSettings)
    resources = Resources(ch, redis.Redis.from_url(ns.urls.redis_url))
    with serve(create_app(api_settings, resources)) as base, HttpClient(base_url=base) as client:
        yield Api(client, api_settings, ch, ns)


def requests_on_topic(ns: Namespace, run_ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The ``sync.requests`` records (key, value) carrying these run ids."""

    async def read() -> dict[str, tuple[str, dict[str, Any]]]:
        consumer = AIOKafkaConsumer(
            ns.topics.sync_requests,
            bootstrap_servers=ns.urls.kafka_bootstrap,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        try:
            deadline = time.monotonic() + 30
            while set(run_ids) - set(found) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for message in (m for ms in batch.values() for m in ms):
                    value = json.loads(message.value)
                    if value.get("run_id") in run_ids:
                        found[value["run_id"]] = (message.key.decode(), value)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(read())


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def run_ids(response: Response) -> list[str]:
    assert response.status_code == 202, response.text
    return [r["run_id"] for r in response.json()["runs"]]


# --- trigger -------------------------------------------------------------------------------


def test_trigger_publishes_one_request_per_account_on_the_topic(api: Api) -> None:
    response = api.trigger("ws-a", ["trig-1", "a-fresh", "trig-1"])  # trig-1 twice: one run
    assert response.status_code == 202, response.text
    runs = response.json()["runs"]
    assert [(r["platform"], r["account_id"], r["state"]) for r in runs] == [
        ("simulated", "trig-1", "PENDING"),
        ("simulated", "a-fresh", "PENDING"),
    ]
    ids = [r["run_id"] for r in runs]
    assert len(set(ids)) == 2 and all(r["created_at"].endswith("Z") for r in runs)

    published = requests_on_topic(api.ns, ids)
    assert set(published) == set(ids)
    key, value = published[ids[0]]
    assert key == "simulated:trig-1"  # keyed by account (CONTRACT §1)
    assert value["platform"] == "simulated" and value["account_id"] == "trig-1"
    assert value["handle"] == "trig-1-handle"  # the handle last observed
    assert (value["workspace"], value["requested_by"]) == ("ws-a", "editor@ws-a")
    assert value["requested_at"].endswith("Z")

    status = api.run(ids[0]).json()
    assert (status["state"], status["trigger"], status["source"]) == ("PENDING", "request", "live")
    assert status["started_at"] is None and status["finished_at"] is None

    audited = [r.entry for r in audit.recent(api.ch, "ws-a") if r.entry.action == "sync"]
    assert {(e.target, e.detail["run_id"]) for e in audited} >= {
        ("simulated:trig-1", ids[0]),
        ("simulated:a-fresh", ids[1]),
    }
    assert all((e.subject, e.role) == ("editor@ws-a", "editor") for e in audited)


def test_collectors_take_the_request_under_its_run_id(api: Api) -> None:
    [run_id] = run_ids(api.trigger("ws-a", ["trig-2"]))
    key, value = requests_on_topic(api.ns, [run_id])[run_id]

    async def lifecycle() -> None:
        async with collectors(api.ns) as side:
            request = await side.intake.parse(key.encode(), json.dumps(value).encode())
            assert request is not None
            [run] = await side.intake.accept_many([request])
            assert (run.run_id, run.state) == (run_id, RunState.PENDING)

            started = time.time()
            assert await side.runs.start_many([run], started) == [True]
            assert api.run(run_id).json()["state"] == "STARTED"
            assert api.revoke(run_id).status_code == 409  # too late once started

            run.state, run.finished_at = RunState.SUCCESS, started + 2.5
            run.counts.update(profiles=1, posts=3)
            await side.runs.save([run])
            await side.runs.record_status([run], {run.key: started + 900})

    asyncio.run(lifecycle())
    body = api.run(run_id).json()
    assert (body["state"], body["profiles"], body["posts"]) == ("SUCCESS", 1, 3)
    assert body["duration_ms"] == 2500

    item = api.status(platform="simulated", account_id="trig-2")["trig-2"]
    assert item["last_run"]["run_id"] == run_id and item["last_run"]["state"] == "SUCCESS"
    assert item["last_success_at"] == body["finished_at"]
    assert item["source"] == "live" and item["next_due_at"] is not None
    overview = api.call("GET", "/v1/accounts/simulated/trig-2", "ws-a", "analyst").json()
    assert overview["sync"] == {
        "state": "SUCCESS",
        "last_success_at": body["finished_at"],
        "last_error": None,
    }
    assert overview["freshness"]["state"] == "synced"
    assert overview["freshness"]["next_due_at"] == item["next_due_at"]


# --- run status ----------------------------------------------------------------------------


def test_run_status_falls_back_to_the_sync_runs_table(api: Api) -> None:
    ok = api.run("tbl-ok")
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["state"], body["source"], body["account_id"]) == ("SUCCESS", "table", "a-table")
    assert (body["profiles"], body["posts"]) == (1, 4)
    assert body["finished_at"] == format_ts(NOW - timedelta(minutes=120))
    bad = api.run("tbl-bad").json()
    assert (bad["state"], bad["error_class"], bad["error"]) == (
        "FAILURE",
        "transient",
        "apify: 503",
    )
    missing = api.run("no-such-run")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_sync_status_from_the_table_has_no_next_due(api: Api) -> None:
    item = api.status(account_id="a-table")["a-table"]
    assert item["source"] == "table"
    assert item["last_run"]["run_id"] == "tbl-bad" and item["last_run"]["state"] == "FAILURE"
    assert item["last_success_at"] == format_ts(NOW - timedelta(minutes=120))
    assert item["last_error"] == {
        "class": "transient",
        "message": "apify: 503",
        "at": format_ts(NOW - timedelta(minutes=60)),
    }
    assert item["next_due_at"] is None
    assert item["freshness"]["state"] == "synced"  # observed 10 minutes ago


# --- revoke --------------------------------------------------------------------------------


def test_revoke_a_pending_run(api: Api) -> None:
    [run_id] = run_ids(api.trigger("ws-a", ["trig-3"]))
    revoked = api.revoke(run_id)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "REVOKED" and revoked.json()["finished_at"] is not None
    assert api.run(run_id).json()["state"] == "REVOKED"
    again = api.revoke(run_id)
    assert again.status_code == 200 and again.json()["state"] == "REVOKED"

    key, value = requests_on_topic(api.ns, [run_id])[run_id]

    async def intake_sees_revoked() -> RunState:
        async with collectors(api.ns) as side:
            request = await side.intake.parse(key.encode(), json.dumps(value).encode())
            assert request is not None
            [run] = await side.intake.accept_many([request])
            return run.state

    assert asyncio.run(intake_sees_revoked()) is RunState.REVOKED

    audited = [
        r.entry for r in audit.recent(api.ch, "ws-a") if r.entry.detail.get("run_id") == run_id
    ]
    assert sorted(e.action for e in audited) == ["revoke", "revoke", "sync"]
    assert {e.target for e in audited} == {"simulated:trig-3"}


def test_revoking_what_cannot_be_revoked(api: Api) -> None:
    finished = api.revoke("tbl-ok")  # only the table knows it: finished long ago
    assert finished.status_code == 409
    assert finished.json()["error"] == {
        "code": "conflict",
        "message": "run tbl-ok is SUCCESS; only a PENDING run can be revoked",
    }
    assert api.revoke("no-such-run").status_code == 404
    bad_id = api.revoke("bad id!")
    assert bad_id.status_code == 422 and bad_id.json()["error"]["code"] == "invalid_input"


# --- per-account status and freshness -------------------------------------------------------


def test_sync_status_per_account(api: Api) -> None:
    items = api.status()
    assert set(items) == set(WS_A)  # the workspace's tracked accounts, nothing else
    fresh = items["a-fresh"]
    assert fresh["last_run"] == {
        "run_id": f"live-a-fresh-{int(ago(10))}",
        "state": "SUCCESS",
        "at": fresh["last_success_at"],
    }
    assert fresh["last_error"] is None and fresh["source"] == "live"
    assert abs(parse(fresh["next_due_at"]) - ago(-5)) < 0.001
    auth = items["a-auth"]
    assert auth["last_run"]["state"] == "FAILURE"
    assert auth["last_error"]["class"] == "auth" and auth["last_success_at"] is not None
    assert items["a-new"]["last_run"] is None and items["a-new"]["source"] is None


@pytest.mark.parametrize(
    ("account", "state"),
    [
        ("a-fresh", "synced"),
        ("a-auth", "auth_error"),
        ("a-private", "unavailable"),
        ("a-old", "stale"),  # last observed 3 hours ago
        ("a-overdue", "stale"),  # observed recently, but its next sync is 30 min late
        ("a-new", "pending"),  # tracked, never observed
        ("a-table", "synced"),
    ],
)
def test_freshness_state_on_every_account_answer(api: Api, account: str, state: str) -> None:
    status = api.status(account_id=account)[account]["freshness"]
    assert status["state"] == state
    listed = api.call("GET", "/v1/accounts", "ws-a", "analyst", limit=500).json()["items"]
    [item] = [i for i in listed if i["account_id"] == account]
    assert item["freshness"] == status
    if OBSERVED[account] is None:
        return
    overview = api.call("GET", f"/v1/accounts/simulated/{account}", "ws-a", "analyst").json()
    assert overview["freshness"] == status
    assert overview["freshness"]["observed_at"] == overview["observed_at"]
    for tail in ("timeseries", "follower-changes", "posts", "best-times"):
        body = api.call("GET", f"/v1/accounts/simulated/{account}/{tail}", "ws-a", "analyst")
        assert body.json()["freshness"] == status, tail


def test_overview_sync_block_shows_an_unresolved_error(api: Api) -> None:
    sync = api.call("GET", "/v1/accounts/simulated/a-auth", "ws-a", "analyst").json()["sync"]
    assert sync["state"] == "FAILURE"
    assert sync["last_error"] == "auth from upstream" and sync["last_success_at"] is not None


# --- tenancy and roles ---------------------------------------------------------------------


def test_no_workspace_syncs_reads_or_revokes_another_workspaces_runs(api: Api) -> None:
    [run_a] = run_ids(api.trigger("ws-a", ["a-fresh"]))

    denied = api.trigger("ws-b", ["a-fresh"])
    assert denied.status_code == 404 and "not tracked" in denied.json()["error"]["message"]
    mixed = api.trigger("ws-a", ["a-fresh", "b-only"])  # all or nothing
    assert mixed.status_code == 404 and "simulated:b-only" in mixed.json()["error"]["message"]
    assert not [
        r
        for r in audit.recent(api.ch, "ws-a")
        if (r.entry.subject, r.entry.target) == ("editor@ws-a", "simulated:b-only")
    ], "a refused trigger wrote nothing, not even its audit row"
    assert not [r for r in audit.recent(api.ch, "ws-b") if r.entry.action == "sync"]

    assert api.run(run_a, ws="ws-b").status_code == 404
    assert api.run("tbl-b", ws="ws-a").status_code == 404  # table runs are filtered too
    assert api.run("tbl-b", ws="ws-b").status_code == 200
    assert api.revoke(run_a, ws="ws-b").status_code == 404
    assert api.run(run_a).json()["state"] == "PENDING"

    assert set(api.status("ws-b")) == set(WS_B)
    assert api.status("ws-b", account_id="a-fresh") == {}
    assert "b-only" not in api.status("ws-a")


def test_a_shared_account_run_is_readable_but_only_its_workspace_revokes_it(api: Api) -> None:
    [run_id] = run_ids(api.trigger("ws-a", ["shared"]))
    assert api.run(run_id, ws="ws-b").json()["state"] == "PENDING"  # ws-b tracks it too
    assert api.revoke(run_id, ws="ws-b").status_code == 404
    assert api.run(run_id).json()["state"] == "PENDING"
    assert api.revoke(run_id, ws="ws-a").json()["state"] == "REVOKED"


def test_admin_syncs_and_revokes_across_workspaces(api: Api) -> None:
    [run_id] = run_ids(api.trigger("ws-a", ["b-only"], role="admin"))
    assert api.run(run_id, ws="ws-b").json()["state"] == "PENDING"
    assert api.revoke(run_id, ws="ws-z", role="admin").json()["state"] == "REVOKED"
    assert set(api.status("ws-z", role="admin")) >= set(WS_A) | set(WS_B)


def test_analysts_read_but_cannot_sync_or_revoke(api: Api) -> None:
    [run_id] = run_ids(api.trigger("ws-a", ["a-fresh"]))
    before = len(audit.recent(api.ch, "ws-a", limit=1000))
    for response in (api.trigger("ws-a", ["a-fresh"], role="analyst"),
                     api.revoke(run_id, role="analyst")):  # fmt: skip
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert api.run(run_id, role="analyst").json()["state"] == "PENDING"
    assert "a-fresh" in api.status(role="analyst")
    assert len(audit.recent(api.ch, "ws-a", limit=1000)) == before


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"accounts": []}, "accounts"),
        ({"accounts": [{"platform": "myspace", "account_id": "x"}]}, "platform"),
        ({"accounts": [{"platform": "simulated", "account_id": "a/b"}]}, "no '/'"),
        ({"accounts": [{"platform": "simulated", "account_id": "x"}] * 101}, "100"),
        ({"accounts": [{"platform": "simulated", "account_id": "x", "extra": 1}]}, "extra"),
        ({}, "accounts"),
    ],
)
def test_bad_sync_bodies_are_a_422(api: Api, body: Any, fragment: str) -> None:
    response = api.call("POST", "/v1/sync", "ws-a", "editor", json=body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["error"]["message"]
