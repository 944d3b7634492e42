"""Exactness under failure: two workers with one killed, and ClickHouse down for a while."""

from __future__ import annotations

import random
import re
import signal
import time

import pytest
from clickhouse_connect.driver.client import Client

from socialpulse.contract import ProfileSnapshot
from socialpulse.services import manager
from socialpulse.settings import ServicesSettings
from tests.conftest import Namespace, wait_until
from tests.integration.test_pipeline import snap, wait_for_quiescence
from tests.pipeline import changes_in_clickhouse, expected_from, produce_snapshots
from tests.services import local_test_settings

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.slow]


def feed(
    accounts: int, steps: int, seed: int
) -> tuple[list[ProfileSnapshot], list[ProfileSnapshot]]:
    rnd = random.Random(seed)
    snaps = []
    for a in range(accounts):
        followers = rnd.randint(100, 50_000)
        for step in range(steps):
            followers += rnd.choice([-3, 0, 1, 4])
            snaps.append(snap(f"f{seed}-{a}", step * 10, followers))
    shuffled = snaps + rnd.sample(snaps, len(snaps) // 20)
    rnd.shuffle(shuffled)
    return snaps, shuffled


def owned_partitions(log: str) -> set[int] | None:
    """The partitions of the worker's last "worker ready" line; None before the first."""
    found = re.findall(r"worker ready: partitions \[([0-9, ]*)\]", log)
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else None


def test_two_workers_split_partitions_and_survive_one_kill(ns: Namespace, ch: Client) -> None:
    snaps, shuffled = feed(40, 150, seed=5)
    half = len(shuffled) // 2
    first = ns.start_worker("a", SOCIALPULSE_SINK_BATCH_SIZE="300")
    ns.start_worker("b", SOCIALPULSE_SINK_BATCH_SIZE="300")
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, shuffled[:half])
    everything = set(range(ns.settings().topic_partitions))

    def split() -> bool:
        a, b = owned_partitions(ns.worker_log("a")), owned_partitions(ns.worker_log("b"))
        return bool(a) and bool(b) and a.isdisjoint(b) and (a or set()) | (b or set()) == everything

    wait_until(
        lambda: split() and ch.query("SELECT count() FROM profile_snapshots").result_rows[0][0] > 0,
        90,
        lambda: ns.worker_log("a")[-2000:] + ns.worker_log("b")[-2000:],
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, shuffled[half:])
    wait_for_quiescence(ns, ch, timeout_s=180)
    assert owned_partitions(ns.worker_log("b")) == everything
    assert "restored" in ns.worker_log("b")
    assert changes_in_clickhouse(ch) == expected_from(snaps)
    windows = ch.query("SELECT count() FROM account_metrics_hourly FINAL").result_rows[0][0]
    assert windows > 0
    assert "Cannot" not in ns.worker_log("b")


def test_clickhouse_outage_pauses_and_loses_nothing(ns: Namespace, ch: Client) -> None:
    if "clickhouse_url" not in ns.urls.local:
        pytest.skip("ClickHouse is external here (a URL was set); this test stops a local one")
    settings: ServicesSettings = local_test_settings()
    snaps, shuffled = feed(10, 100, seed=9)
    ns.start_worker()
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, shuffled[:300])
    wait_until(
        lambda: ch.query("SELECT count() FROM profile_snapshots").result_rows[0][0] > 0,
        90,
        lambda: ns.worker_log()[-2000:],
    )
    manager.down(settings, ["clickhouse"])
    try:
        produce_snapshots(ns.settings(), ns.topics.profile_snapshots, shuffled[300:])
        time.sleep(8)  # the worker keeps trying while ClickHouse is gone
        # Asked to stop while its batch is refused, the worker must stop (not retry
        # forever) and commit nothing it has not written: another one takes over.
        first = ns.children[0]
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        # Its replacement, started while ClickHouse is still down, waits for it.
        second = ns.start_worker("w2")
        wait_until(lambda: "ClickHouse is not reachable" in ns.worker_log("w2"), 30, ns.worker_logs)
        time.sleep(2)
        assert second.poll() is None, ns.worker_log("w2")[-2000:]
    finally:
        manager.up(settings, ["clickhouse"])
    wait_for_quiescence(ns, ch, timeout_s=180)
    assert "retrying" in ns.worker_log()
    assert "stopped while ClickHouse refused inserts" in ns.worker_log(), ns.worker_log()[-3000:]
    assert changes_in_clickhouse(ch) == expected_from(snaps)
    stored = ch.query("SELECT count() FROM profile_snapshots FINAL").result_rows[0][0]
    assert stored == len(snaps)
