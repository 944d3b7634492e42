"""The schedule as pure functions: cadences, phases, the post ladder, failures, catch-up."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from collectors.schedule import (
    DAY_S,
    AccountState,
    DueQueue,
    Kind,
    Policy,
    after_poll,
    due_kinds,
    ladder_interval,
    next_due,
    next_slot,
    phase,
    posts_interval,
    posts_to_emit,
)
from socialpulse.contract import Platform, PostSnapshot

P = Policy()
T0 = 1_795_000_000.0
ALL = frozenset(Kind)


def post(post_id: str, age_s: float, now: float = T0) -> PostSnapshot:
    return PostSnapshot(
        snapshot_id=post_id, platform=Platform.SIMULATED, account_id="a", post_id=post_id,
        published_at=datetime.fromtimestamp(now - age_s, UTC),
        observed_at=datetime.fromtimestamp(now, UTC), source="test",
    )  # fmt: skip


def test_first_sight_is_a_backfill_due_at_once() -> None:
    state = AccountState()
    assert due_kinds(state, 0.3, T0, P) == {Kind.BACKFILL, Kind.PROFILE, Kind.POSTS}
    assert next_due(state, 0.3, T0, P) == -math.inf


def test_profile_every_15_minutes_posts_every_30_top_content_daily() -> None:
    frac = phase("instagram:1")
    state = after_poll(AccountState(), ALL, T0, ok=True, newest_post_at=T0 - 3600)
    polls: Counter[Kind] = Counter()
    now = T0
    for _ in range(2 * 24 * 60):  # two days, minute by minute
        now += 60
        kinds = due_kinds(state, frac, now, P)
        if kinds:
            polls.update(kinds)
            state = after_poll(state, kinds, now, ok=True, newest_post_at=now - 3600)
    # Two days hold 192 profile slots, 96 posts slots and 2 daily ones; the first slot
    # is skipped when it falls within half an interval of the initial poll.
    assert 2 * 96 - 2 <= polls[Kind.PROFILE] <= 2 * 96
    assert 2 * 48 - 2 <= polls[Kind.POSTS] <= 2 * 48
    assert 1 <= polls[Kind.TOP_CONTENT] <= 2
    assert Kind.BACKFILL not in polls


@given(st.floats(0, 1e10), st.sampled_from([900.0, 1800.0, DAY_S]), st.floats(0, 0.999))
def test_next_slot_is_on_the_accounts_grid_and_strictly_later(
    after: float, interval: float, frac: float
) -> None:
    slot = next_slot(after, interval, frac)
    assert after + interval / 2 < slot <= after + 1.5 * interval + 1e-3
    k = (slot - frac * interval) / interval
    assert abs(k - round(k)) < 1e-6


def test_phases_spread_accounts_evenly_over_the_interval() -> None:
    minutes = Counter(int(phase(f"x:{i}") * 15) for i in range(15_000))
    assert len(minutes) == 15
    assert max(minutes.values()) < 1.1 * 1000 and min(minutes.values()) > 0.9 * 1000


def test_post_ladder_young_often_old_rarely_none_after_90_days() -> None:
    assert ladder_interval(3600, P) == 1800
    assert ladder_interval(3 * DAY_S, P) == 6 * 3600
    assert ladder_interval(20 * DAY_S, P) == DAY_S
    assert ladder_interval(60 * DAY_S, P) == 7 * DAY_S
    assert ladder_interval(91 * DAY_S, P) is None
    posts = [post("young", 3600), post("week", 3 * DAY_S), post("old", 60 * DAY_S),
             post("ancient", 200 * DAY_S)]  # fmt: skip
    seen = {"young": T0 - 1800, "week": T0 - 3600, "old": T0 - 8 * DAY_S}
    kept = posts_to_emit(posts, seen, frozenset({Kind.POSTS}), T0, P)
    assert [p.post_id for p in kept] == ["young", "old"]  # "week" was kept an hour ago
    daily = posts_to_emit(posts, seen, frozenset({Kind.TOP_CONTENT}), T0, P)
    assert [p.post_id for p in daily] == ["young", "week", "old"]
    assert len(posts_to_emit(posts, {}, frozenset({Kind.BACKFILL}), T0, P)) == 4
    assert posts_to_emit(posts, {}, frozenset({Kind.PROFILE}), T0, P) == []


def test_accounts_with_old_posts_are_asked_for_posts_less_often() -> None:
    fresh = AccountState(backfilled=True, newest_post_at=T0 - 3600)
    stale = AccountState(backfilled=True, newest_post_at=T0 - 10 * DAY_S)
    dead = AccountState(backfilled=True, newest_post_at=T0 - 120 * DAY_S)
    assert posts_interval(fresh, T0, P) == 1800
    assert posts_interval(stale, T0, P) == DAY_S
    assert posts_interval(dead, T0, P) == P.top_content_every_s


def test_failures_back_off_without_hammering_and_success_resets() -> None:
    frac = 0.5
    state = AccountState()
    waits = []
    now = T0
    for _ in range(8):
        state = after_poll(state, ALL, now, ok=False)
        due = next_due(state, frac, now, P)
        waits.append(due - now)
        now = due
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
    assert not state.backfilled  # the backfill is still owed
    state = after_poll(state, ALL, now, ok=True)
    assert state.failures == 0 and state.backfilled


def test_missing_accounts_are_looked_at_daily() -> None:
    state = after_poll(AccountState(), ALL, T0, ok=True, active=False)
    assert due_kinds(state, 0.0, T0 + 3600, P) == frozenset()
    assert next_due(state, 0.0, T0, P) - T0 <= DAY_S


def test_state_survives_redis_packing() -> None:
    state = AccountState(T0, T0 - 1.5, None, True, T0 - 86_400.25, False, 3, T0)
    assert AccountState.unpack(state.pack()) == state
    assert AccountState.unpack(AccountState().pack()) == AccountState()


def test_catch_up_after_downtime_takes_most_overdue_first_then_spreads_again() -> None:
    n = 6000
    keys = [f"x:{i}" for i in range(n)]
    states = {k: after_poll(AccountState(), ALL, T0 + phase(k) * 900, ok=True) for k in keys}
    down_until = T0 + 6 * 3600  # six hours of downtime
    queue = DueQueue()
    for k in keys:
        queue.put(k, next_due(states[k], phase(k), down_until, P))
    now, polled_at = down_until, dict[str, float]()
    while len(queue) and now < down_until + 3600:
        batch = queue.pop_due(now, 200)  # the upstream budget per 10-second tick
        assert [d for _, d in batch] == sorted(d for _, d in batch)
        for key, _ in batch:
            states[key] = after_poll(states[key], due_kinds(states[key], phase(key), now, P),
                                     now, ok=True)  # fmt: skip
            polled_at.setdefault(key, now)  # the first poll after the downtime
            queue.put(key, next_due(states[key], phase(key), now, P))
        now += 10
    assert len(polled_at) == n  # every account caught up once, within 5 minutes
    assert max(polled_at.values()) - down_until <= 300
    # Missed slots are not replayed, and the next polls spread over 15 minutes again.
    following = Counter(int((next_due(states[k], phase(k), now, P) - now) // 60) for k in keys)
    assert max(following.values()) < 2 * n / 15


def test_due_queue_skips_stale_entries() -> None:
    queue = DueQueue()
    queue.put("a", 10)
    queue.put("b", 5)
    queue.put("a", 50)  # rescheduled: the entry at 10 is stale
    assert queue.pop_due(20, 10) == [("b", 5)]
    assert queue.pop_due(60, 10) == [("a", 50)]
    queue.put("c", 1)
    queue.discard("c")
    assert queue.pop_due(100, 10) == [] and len(queue) == 0
