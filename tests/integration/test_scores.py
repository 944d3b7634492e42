"""The score snapshot (``account_scores_current``, m0006), its dictionary (m0008) and the live
fallback for new accounts."""

from __future__ import annotations

import time

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse import queries, scores
from clickhouse.queries import Scope

pytestmark = [pytest.mark.clickhouse_db, pytest.mark.kafka]


def add_latest(ch: Client, account_id: str, growth_7d_rate: float, posts_30d: int) -> None:
    ch.command(
        "INSERT INTO account_latest (platform, account_id, handle, followers, observed_at,"
        " growth_7d_rate, engagement_rate_30d, posts_30d, version) VALUES"
        " ('simulated', {a:String}, {a:String}, 1000, now64(3), {g:Float64}, 0.01,"
        " {p:UInt32}, 1)",
        parameters={"a": account_id, "g": growth_7d_rate, "p": posts_30d},
    )


def refresh(ch: Client) -> None:
    scores.refresh(ch)


def view(ch: Client) -> dict[tuple[str, str], float]:
    rows = ch.query("SELECT platform, account_id, score FROM account_scores").result_rows
    return {(p, a): s for p, a, s in rows}


def snapshot(ch: Client) -> dict[tuple[str, str], float]:
    rows = ch.query("SELECT platform, account_id, score FROM account_scores_current").result_rows
    return {(p, a): s for p, a, s in rows}


def test_the_snapshot_is_the_views_answer_and_new_accounts_are_scored_live(ch: Client) -> None:
    for i, (growth, posts) in enumerate([(0.01, 3), (0.02, 1), (0.03, 2)]):
        add_latest(ch, f"a{i}", growth, posts)
    refresh(ch)
    assert snapshot(ch) == view(ch) and len(view(ch)) == 3

    add_latest(ch, "a3", 0.05, 9)  # observed after the refresh: not in the snapshot yet
    assert ("simulated", "a3") not in snapshot(ch)
    now = view(ch)
    # live() filters the view's answer; the ranks are still the whole platform's
    assert scores.live(ch, [("simulated", "a3"), ("simulated", "a0")]) == {
        ("simulated", "a3"): now[("simulated", "a3")],
        ("simulated", "a0"): now[("simulated", "a0")],
    }
    overview = queries.overview(ch, Scope.everything(), "simulated", "a3")
    assert overview is not None and overview.score == now[("simulated", "a3")]
    # an account in the snapshot keeps the snapshot's score until the next refresh
    stale = queries.overview(ch, Scope.everything(), "simulated", "a2")
    assert stale is not None and stale.score == snapshot(ch)[("simulated", "a2")]
    assert stale.score != now[("simulated", "a2")]  # the live ranking has moved
    refresh(ch)
    assert snapshot(ch) == now


def test_the_lookup_copy_follows_the_snapshot_on_its_schedule(ch: Client) -> None:
    add_latest(ch, "b0", 0.09, 9)  # alone on its platform: scores 0
    refresh(ch)
    first = queries.overview(ch, Scope.everything(), "simulated", "b0")
    assert first is not None and first.score == snapshot(ch)[("simulated", "b0")] == 0
    add_latest(ch, "b1", 0.01, 1)  # b0 outranks it once the snapshot is refreshed
    # no refresh by hand: both views run every 10 s, the copy right after the snapshot
    deadline = time.monotonic() + 25
    while True:
        now = queries.overview(ch, Scope.everything(), "simulated", "b0")
        assert now is not None
        if now.score != first.score or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert now.score == snapshot(ch)[("simulated", "b0")] > 0
