"""The walking skeleton end to end on real Kafka and ClickHouse:
simulator -> raw topic -> faust worker -> ClickHouse, exact under reordering,
duplicates, bad records and kill -9."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from collectors.emitter import SnapshotEmitter
from collectors.main import run_collector
from collectors.simulator import Simulator
from socialpulse.contract import Platform, ProfileSnapshot, snapshot_id
from socialpulse.kafka import make_producer
from socialpulse.settings import CollectorSettings
from streams.state import SEPARATOR, changelog_topic
from tests.conftest import Namespace, wait_until
from tests.pipeline import (
    changes_in_clickhouse,
    consumer_lag,
    expected_from,
    produce_partitioned,
    produce_raw,
    produce_snapshots,
    read_topic,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.slow]

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def wait_for_quiescence(
    ns: Namespace, ch: Client, timeout_s: float = 120, topics: list[str] | None = None
) -> None:
    group = ns.env["SOCIALPULSE_CONSUMER_GROUP"]
    names = topics or [ns.topics.profile_snapshots]

    def caught_up() -> bool:
        if all(child.poll() is not None for child in ns.children):
            raise AssertionError(f"every worker exited\n{ns.worker_logs()}")
        return all(consumer_lag(ns.urls.kafka_bootstrap, group, t) == 0 for t in names)

    wait_until(
        caught_up,
        timeout_s,
        lambda: f"the worker to commit everything on {names}\n{ns.worker_logs()}",
    )


def snap(
    account: str, minute: int, followers: int | None, sid: str | None = None
) -> ProfileSnapshot:
    observed = NOW + timedelta(minutes=minute)
    return ProfileSnapshot(
        snapshot_id=sid or snapshot_id("simulated", account, minute),
        platform=Platform.SIMULATED,
        account_id=account,
        handle=account,
        observed_at=observed,
        followers=followers,
        source="test",
    )


def test_simulator_through_worker_matches_the_contract(ns: Namespace, ch: Client) -> None:
    settings = ns.settings(
        CollectorSettings, simulator_accounts=6, profile_interval_s=900, simulator_backfill_hours=12
    )
    assert isinstance(settings, CollectorSettings)

    async def collect() -> int:
        producer = make_producer(settings)
        await producer.start()
        try:
            emitter = SnapshotEmitter(producer, ns.topics)
            return await run_collector(settings, emitter, once=True, clock=lambda: NOW)
        finally:
            await producer.stop()

    sent = asyncio.run(collect())
    sim = Simulator(6, settings.simulator_seed, 900_000)
    ticks = sim.ticks(NOW - timedelta(hours=12), NOW)
    emitted = [p for t in ticks for p in sim.profiles(t)]
    assert sent >= len(emitted) == 6 * len(ticks)

    ns.start_worker()
    wait_for_quiescence(ns, ch)
    expected = expected_from(emitted)
    assert expected, "the simulator should produce follower changes"
    assert changes_in_clickhouse(ch) == expected
    stored = ch.query("SELECT count() FROM profile_snapshots FINAL").result_rows[0][0]
    assert stored == len(emitted)


def test_out_of_order_and_duplicated_feed_gives_exact_rows(ns: Namespace, ch: Client) -> None:
    rnd = random.Random(7)
    snaps = []
    for a in range(5):
        followers = 1000
        for minute in range(0, 600, 15):
            followers += rnd.choice([-3, 0, 0, 2, 5])
            hidden = rnd.random() < 0.05
            snaps.append(snap(f"acc{a}", minute, None if hidden else followers))
    # Same-instant rivals: the greatest snapshot_id must stand.
    snaps.append(snap("acc0", 30, 5, sid="zzzz-wins"))
    snaps.append(snap("acc0", 30, 7, sid="0000-loses"))
    feed = snaps + rnd.sample(snaps, 60)
    rnd.shuffle(feed)
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, feed)

    ns.start_worker()
    wait_for_quiescence(ns, ch)
    assert changes_in_clickhouse(ch) == expected_from(snaps)
    rows_at_30 = ch.query(
        "SELECT followers FROM follower_changes FINAL WHERE account_id = 'acc0'"
        " AND observed_at = {t:DateTime64(3, 'UTC')}",
        parameters={"t": NOW + timedelta(minutes=30)},
    ).result_rows
    assert rows_at_30 == [(5,)]


def test_bad_records_go_to_the_dlq_and_never_stop_the_worker(ns: Namespace, ch: Client) -> None:
    good = [snap("ok", m, 100 + m) for m in range(0, 50, 10)]
    wrong_key = snap("other", 0, 1)
    bad: list[tuple[bytes | None, bytes]] = [
        (b"simulated:ok", b"{not json"),
        (b"simulated:ok", json.dumps({"platform": "myspace", "account_id": "1"}).encode()),
        (b"simulated:ok", wrong_key.to_json_bytes()),
    ]
    records = bad + [(s.key.encode(), s.to_json_bytes()) for s in good]
    asyncio.run(produce_raw(ns.settings(), ns.topics.profile_snapshots, records))

    ns.start_worker()
    wait_for_quiescence(ns, ch)
    assert changes_in_clickhouse(ch) == expected_from(good)
    letters = read_topic(ns.urls.kafka_bootstrap, ns.topics.dlq, expect=3)
    reasons = sorted(str(letter["reason"]) for letter in letters)
    assert len(letters) == 3
    assert any("invalid profile snapshot" in r and "platform" in r for r in reasons)
    assert any("does not match" in r for r in reasons)
    assert all(letter["topic"] == ns.topics.profile_snapshots for letter in letters)


def test_kill_9_mid_stream_then_restart_gives_exact_rows(ns: Namespace, ch: Client) -> None:
    rnd = random.Random(11)
    snaps = []
    for a in range(40):
        followers = rnd.randint(100, 100_000)
        for step in range(400):
            followers += rnd.choice([-2, 0, 1, 3])
            snaps.append(snap(f"k{a}", step * 5, followers))
    feed = snaps[:]
    rnd.shuffle(feed)  # out of order within the 7-day lateness (the feed spans ~33 hours)
    feed += rnd.sample(snaps, 500)
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, feed)

    # Small batches so the kill lands between commits, with work done and undone.
    worker = ns.start_worker(SOCIALPULSE_SINK_BATCH_SIZE="500")
    wait_until(
        lambda: ch.query("SELECT count() FROM profile_snapshots").result_rows[0][0] > 2000,
        90,
        lambda: f"the worker to write some rows\n{ns.worker_log()[-3000:]}",
        interval_s=0.05,
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    partial = ch.query("SELECT count() FROM profile_snapshots FINAL").result_rows[0][0]
    assert partial < len(snaps), "the kill should land mid-stream"
    # Restarted at once, as a supervisor would: the group still lists the dead
    # member until its session times out, and the new worker must wait that out.
    ns.start_worker(SOCIALPULSE_SINK_BATCH_SIZE="500")
    wait_for_quiescence(ns, ch, timeout_s=180)
    assert "restored" in ns.worker_log()
    assert changes_in_clickhouse(ch) == expected_from(snaps)
    stored = ch.query("SELECT count() FROM profile_snapshots FINAL").result_rows[0][0]
    assert stored == len(snaps)


def test_too_late_records_are_stored_raw_but_applied_to_nothing(ns: Namespace, ch: Client) -> None:
    on_time = [snap("late", 0, 100), snap("late", 60 * 24 * 10, 150)]
    too_late = snap("late", 60 * 24 * 2, 999)  # 8 days behind the newest: beyond 7 days
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, on_time)
    ns.start_worker()
    wait_for_quiescence(ns, ch)
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, [too_late])
    wait_for_quiescence(ns, ch)
    assert changes_in_clickhouse(ch) == expected_from(on_time)
    raw = ch.query("SELECT followers FROM profile_snapshots FINAL ORDER BY observed_at").result_rows
    assert raw == [(100,), (999,), (150,)]


def test_a_caught_up_worker_commits_without_waiting_for_the_interval(
    ns: Namespace, ch: Client
) -> None:
    snaps = [snap(f"idle{a}", m, 100 + a + m) for a in range(3) for m in range(0, 60, 15)]
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, snaps)
    # Ten minutes between timed checkpoints: only the idle one can commit in time.
    ns.start_worker(SOCIALPULSE_COMMIT_INTERVAL_SECONDS="600")
    wait_for_quiescence(ns, ch, timeout_s=60)
    assert changes_in_clickhouse(ch) == expected_from(snaps)


def test_a_restarted_worker_restores_before_it_applies_waiting_records(
    ns: Namespace, ch: Client
) -> None:
    """A restart over an uncompacted changelog while the account's next records wait.

    aiokafka hands out a new assignment's records while the assignment listener still
    reads the changelog back; a worker that applied them then crashed (PartitionNotOwned,
    seen once when `scripts/dev run` restarted over an earlier run's state). That race is
    timing-dependent and this test does not reproduce it reliably; it checks the restart
    itself: the restore reads past superseded records and every row comes out exact."""
    first = [snap(f"r{a}", m, 1000 + a + m) for a in range(50) for m in (0, 15)]
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, first)
    worker = ns.start_worker()
    wait_for_quiescence(ns, ch)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    # Superseded versions of a record, as an uncompacted changelog holds them: restoring
    # reads every one (about a second here), so the window is wide.
    group = ns.env["SOCIALPULSE_CONSUMER_GROUP"]
    padding = [(b"simulated:pad" + SEPARATOR + b"d20000", b"{}")] * 120_000
    asyncio.run(produce_partitioned(ns.settings(), changelog_topic(group), padding, 4))
    later = [snap(f"r{a}", 60, 2000 + a) for a in range(50)]
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, later)
    ns.start_worker("w2")
    wait_for_quiescence(ns, ch)
    assert "restored" in ns.worker_log("w2")
    assert changes_in_clickhouse(ch) == expected_from(first + later)
