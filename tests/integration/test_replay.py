"""`socialpulse replay --from`: derived tables rebuilt from the raw topics."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from clickhouse_connect.driver.client import Client

from socialpulse.contract import format_ts
from socialpulse.settings import REPO_ROOT
from tests.conftest import Namespace
from tests.integration.test_pipeline import NOW, snap, wait_for_quiescence
from tests.pipeline import changes_in_clickhouse, expected_from, produce_snapshots

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.slow]


def replay(ns: Namespace, since: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialpulse.cli", "replay", "--from", since],
        env={**os.environ, **ns.env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_replay_rebuilds_derived_rows_and_refuses_while_workers_run(
    ns: Namespace, ch: Client
) -> None:
    snaps = [snap("r", m, 100 + (m // 30) % 4) for m in range(0, 600, 10)]
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, snaps)
    worker = ns.start_worker()
    wait_for_quiescence(ns, ch)
    assert changes_in_clickhouse(ch) == expected_from(snaps)

    refused = replay(ns, format_ts(NOW))
    assert refused.returncode == 1 and "stop the workers" in refused.stderr

    worker.terminate()
    worker.wait(timeout=60)
    # A wrong row, as a buggy definition would have written it, with a huge version.
    bogus_at = NOW + timedelta(minutes=300)
    ch.insert(
        "follower_changes",
        [["simulated", "r", bogus_at, bogus_at, 1, 2, 1, 2**60, 0]],
        column_names=[
            "platform", "account_id", "observed_at", "previous_observed_at",
            "previous_followers", "followers", "delta", "version", "is_deleted",
        ],
    )  # fmt: skip
    assert changes_in_clickhouse(ch) != expected_from(snaps)

    done = replay(ns, format_ts(NOW + timedelta(minutes=120)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replayed" in done.stdout and "replay complete" in done.stdout
    assert changes_in_clickhouse(ch) == expected_from(snaps)
    latest = ch.query("SELECT followers FROM account_latest FINAL").result_rows
    assert latest == [(snaps[-1].followers,)]
