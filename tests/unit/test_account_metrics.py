"""Windows, growth, projection, engagement and alerts against CONTRACT §3 read literally."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.contract import Platform, PostSnapshot, ProfileSnapshot, from_ms
from streams.account import AccountState, Effects
from streams.follower_changes import Outcome
from streams.records import PostRecord, ProfileRecord
from streams.windows import WindowRow
from tests.reference import (
    DAY,
    HOUR,
    Snap,
    expected_growth,
    expected_projection,
    expected_windows,
)

LATENESS = 7 * DAY
BASE = 1_790_000_000_000 // DAY * DAY  # a UTC midnight in 2026


def profile(ts: int, sid: str, followers: int | None) -> ProfileRecord:
    return ProfileRecord.of(ProfileSnapshot(
        snapshot_id=sid, platform=Platform.SIMULATED, account_id="a", handle="a",
        observed_at=from_ms(ts), followers=followers, source="test",
    ))  # fmt: skip


def post(ts: int, sid: str, post_id: str, published: int, likes: int | None) -> PostRecord:
    return PostRecord.of(PostSnapshot(
        snapshot_id=sid, platform=Platform.SIMULATED, account_id="a", post_id=post_id,
        published_at=from_ms(published), observed_at=from_ms(ts), likes=likes, comments=2,
        source="test",
    ))  # fmt: skip


def final_windows(effects: list[Effects], interval: str) -> dict[int, tuple[int, ...]]:
    best: dict[int, WindowRow] = {}
    for e in effects:
        for w in e.windows:
            if w.interval == interval and (
                w.start_ms not in best or w.version >= best[w.start_ms].version
            ):
                best[w.start_ms] = w
    return {k: (w.first, w.last, w.min, w.max, w.samples, w.net_change) for k, w in best.items()}


def feed_profiles(snaps: list[Snap]) -> tuple[AccountState, list[Effects]]:
    """One record per batch: apply, then flush, as the processor does per batch."""
    state = AccountState()
    effects = []
    for ts, sid, f in snaps:
        effects.append(state.apply_profile(profile(ts, sid, f), LATENESS))
        effects.append(state.flush())
    return state, effects


@st.composite
def series(draw: st.DrawFn) -> list[Snap]:
    n = draw(st.integers(1, 40))
    raw = [
        (
            BASE + draw(st.integers(0, 60)) * 20 * 60_000,
            f"id{draw(st.integers(0, 3))}",
            draw(st.one_of(st.none(), st.integers(95, 105))),
        )
        for _ in range(n)
    ]
    first: dict[tuple[int, str], int | None] = {}
    for ts, sid, f in raw:
        first.setdefault((ts, sid), f)
    return [(ts, sid, first[(ts, sid)]) for ts, sid, _ in raw]


@settings(max_examples=150, deadline=None)
@given(series(), st.randoms(use_true_random=False), st.integers(1, 10))
def test_batching_does_not_change_the_windows(
    snaps: list[Snap], rnd: random.Random, batch: int
) -> None:
    feed = snaps[:]
    rnd.shuffle(feed)
    state, effects = AccountState(), []
    for i, (ts, sid, f) in enumerate(feed):
        effects.append(state.apply_profile(profile(ts, sid, f), LATENESS))
        if i % batch == batch - 1:
            effects.append(state.flush())
    effects.append(state.flush())
    assert final_windows(effects, "1h") == expected_windows(snaps, HOUR)
    assert final_windows(effects, "1d") == expected_windows(snaps, DAY)


@settings(max_examples=300, deadline=None)
@given(series(), st.randoms(use_true_random=False))
def test_windows_are_exact_whatever_the_arrival_order(
    snaps: list[Snap], rnd: random.Random
) -> None:
    feed = snaps + [rnd.choice(snaps) for _ in range(3)]
    rnd.shuffle(feed)
    _, effects = feed_profiles(feed)
    assert final_windows(effects, "1h") == expected_windows(snaps, HOUR)
    assert final_windows(effects, "1d") == expected_windows(snaps, DAY)


@settings(max_examples=200, deadline=None)
@given(series(), st.randoms(use_true_random=False))
def test_growth_and_projection_do_not_depend_on_order(
    snaps: list[Snap], rnd: random.Random
) -> None:
    spread = [(BASE + (ts - BASE) * 40, sid, f) for ts, sid, f in snaps]  # ~33 days wide
    feed = spread[:]
    rnd.shuffle(feed)
    ordered_state, _ = feed_profiles(sorted(spread))
    state, effects = feed_profiles(feed)
    if any(e.outcome is Outcome.TOO_LATE for e in effects):
        return  # a shuffle that throws records beyond the lateness is a different feed
    kpis = state.kpis()
    if kpis is None:
        assert all(f is None for _, _, f in spread)
        return
    for name, period in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        change, rate = expected_growth(spread, period)
        assert kpis.growth[name].change == change
        if rate is None:
            assert kpis.growth[name].rate is None
        else:
            assert kpis.growth[name].rate == pytest.approx(rate)
    expected = expected_projection(spread)
    if expected is None:
        assert kpis.projected_followers_30d is None
    else:
        assert kpis.projected_followers_30d == pytest.approx(expected, rel=1e-9)
    in_order = ordered_state.kpis()
    assert in_order is not None
    # Same numbers as the in-order feed; only the revision counter may differ.
    assert replace(in_order, version=0) == replace(kpis, version=0)


@settings(max_examples=200, deadline=None)
@given(series(), st.randoms(use_true_random=False))
def test_projection_kept_between_batches_matches_a_fresh_computation(
    snaps: list[Snap], rnd: random.Random
) -> None:
    # The worker computes KPIs after every batch and keeps the closed days' sums
    # between batches; late records into those days must not leave them stale.
    feed = [(BASE + (ts - BASE) * 40, sid, f) for ts, sid, f in snaps]  # ~33 days wide
    rnd.shuffle(feed)
    state = AccountState()
    for ts, sid, f in feed:
        state.apply_profile(profile(ts, sid, f), LATENESS)
        live = state.kpis()
        fresh = AccountState.from_state(state.to_state()).kpis()  # no cached sums
        if fresh is None:
            assert live is None
            continue
        assert live is not None
        if fresh.projected_followers_30d is None:
            assert live.projected_followers_30d is None
        else:
            assert live.projected_followers_30d == pytest.approx(
                fresh.projected_followers_30d, rel=1e-9
            )


def test_growth_rate_is_null_on_a_zero_base() -> None:
    state, _ = feed_profiles([(BASE, "a", 0), (BASE + DAY, "b", 10)])
    kpis = state.kpis()
    assert kpis is not None
    assert kpis.growth["1d"].change == 10 and kpis.growth["1d"].rate is None
    assert kpis.growth["7d"].change is None and kpis.growth["7d"].rate is None


def test_net_change_uses_f_before_the_window_and_a_late_record_updates_the_next_one() -> None:
    state, effects = feed_profiles([(BASE, "a", 100), (BASE + 2 * HOUR, "c", 130)])
    assert final_windows(effects, "1h")[BASE + 2 * HOUR] == (130, 130, 130, 130, 1, 30)
    late = [state.apply_profile(profile(BASE + HOUR + 5, "b", 120), LATENESS), state.flush()]
    table = final_windows(effects + late, "1h")
    assert table[BASE + HOUR] == (120, 120, 120, 120, 1, 20)
    assert table[BASE + 2 * HOUR] == (130, 130, 130, 130, 1, 10)


def test_engagement_rate_and_post_rates() -> None:
    state, _ = feed_profiles([(BASE, "a", 1000), (BASE + 5 * DAY, "b", 2000)])
    state.apply_post(post(BASE + 2 * DAY, "p1", "x", BASE + DAY, 98), LATENESS)
    state.apply_post(post(BASE + 5 * DAY, "p2", "y", BASE + 4 * DAY, None), LATENESS)
    newer = state.apply_post(post(BASE + 5 * DAY + 1, "p3", "x", BASE + DAY, 198), LATENESS)
    old = state.apply_post(post(BASE + 2 * DAY, "p0", "x", BASE + DAY, 5), LATENESS)
    assert old.outcome is Outcome.DUPLICATE  # an older observation never replaces a newer one
    kpis = state.kpis()
    assert kpis is not None
    # x: 198 likes + 2 comments = 200; y: 0 likes given + 2 comments = 2 -> (200 + 2) / (2 * 2000)
    assert kpis.posts_30d == 2
    assert kpis.engagement_rate_30d == pytest.approx(202 / 4000)
    assert newer.outcome is Outcome.APPLIED
    rows = {p.post_id: p for p in state.flush().posts}
    assert rows["x"].interactions == 200
    assert rows["x"].engagement_rate == pytest.approx(200 / 2000)


def test_a_late_profile_snapshot_refreshes_post_rates_that_read_it() -> None:
    state, _ = feed_profiles([(BASE, "a", 1000), (BASE + 10 * HOUR, "c", 1000)])
    state.apply_post(post(BASE + 6 * HOUR, "p", "x", BASE, 98), LATENESS)
    assert [p.engagement_rate for p in state.flush().posts] == [pytest.approx(100 / 1000)]
    state.apply_profile(profile(BASE + 5 * HOUR, "b", 500), LATENESS)
    assert [p.engagement_rate for p in state.flush().posts] == [pytest.approx(100 / 500)]


def test_interactions_are_null_only_when_all_four_are_null() -> None:
    state = AccountState()
    snap = PostSnapshot(
        snapshot_id="s", platform=Platform.SIMULATED, account_id="a", post_id="p",
        observed_at=datetime(2026, 1, 1, tzinfo=UTC), views=1000, source="t",
    )  # fmt: skip
    state.apply_post(PostRecord.of(snap), LATENESS)
    assert state.flush().posts[0].interactions is None


def test_milestone_and_anomaly_alerts() -> None:
    steady = [(BASE + i * HOUR, f"s{i:03d}", 9_900 + (i % 3)) for i in range(30)]
    state, _ = feed_profiles(steady)
    jump = state.apply_profile(profile(BASE + 31 * HOUR, "zz", 12_000), LATENESS)
    kinds = sorted(a.kind for a in jump.alerts)
    assert kinds == ["anomaly", "milestone"]
    milestone = next(a for a in jump.alerts if a.kind == "milestone")
    assert milestone.detail["milestone"] == 10_000
    again = state.apply_profile(profile(BASE + 31 * HOUR, "zz", 12_000), LATENESS)
    assert {a.alert_id for a in again.alerts} <= {a.alert_id for a in jump.alerts}


def test_state_round_trips_through_json() -> None:
    import json

    state, _ = feed_profiles([(BASE, "a", 1000), (BASE + DAY, "b", 1100)])
    state.apply_post(post(BASE + DAY, "p", "x", BASE, 5), LATENESS)
    clone = AccountState.from_state(json.loads(json.dumps(state.to_state())))
    assert clone.to_state() == state.to_state()
    assert clone.kpis() == state.kpis()


def test_one_batch_longer_than_the_lateness_keeps_every_window() -> None:
    """A backfill batch spans 20 days: windows that pruning would cut short are
    computed before the detail they need is summarised away."""
    rnd = random.Random(4)
    snaps: list[Snap] = [
        (BASE + i * HOUR, f"s{i:04d}", 1000 + rnd.randint(-20, 20)) for i in range(20 * 24)
    ]
    feed = snaps[:]
    rnd.shuffle(feed[: 24 * 3])  # some disorder inside the first days too
    state, effects = AccountState(), []
    for ts, sid, f in feed:
        effects.append(state.apply_profile(profile(ts, sid, f), LATENESS))
    effects.append(state.flush())
    assert final_windows(effects, "1h") == expected_windows(snaps, HOUR)
    assert final_windows(effects, "1d") == expected_windows(snaps, DAY)
