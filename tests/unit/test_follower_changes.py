"""Follower-change state machine against a brute-force reading of CONTRACT §3."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.follower_changes import AccountHistory, ChangeRow, Outcome
from tests.reference import Snap, expected_changes

DAY = 86_400_000
LATENESS = 7 * DAY


def final_table(rows: list[ChangeRow]) -> dict[int, tuple[int, int, int]]:
    """What ``SELECT ... FINAL`` shows: per key the greatest version, deleted rows hidden."""
    best: dict[int, ChangeRow] = {}
    for row in rows:  # insertion order breaks version ties, as ReplacingMergeTree does
        if row.observed_ms not in best or row.version >= best[row.observed_ms].version:
            best[row.observed_ms] = row
    return {
        k: (r.previous_observed_ms, r.previous_followers, r.followers)
        for k, r in best.items()
        if not r.is_deleted
    }


def run(snaps: list[Snap]) -> tuple[AccountHistory, list[ChangeRow]]:
    history = AccountHistory()
    rows: list[ChangeRow] = []
    for ts, sid, followers in snaps:
        rows.extend(history.apply(ts, sid, followers, LATENESS).rows)
    return history, rows


def test_in_order_series_gives_one_row_per_change() -> None:
    snaps: list[Snap] = [(0, "a", 100), (1000, "b", 100), (2000, "c", 105), (3000, "d", 90)]
    _, rows = run(snaps)
    assert final_table(rows) == {2000: (1000, 100, 105), 3000: (2000, 105, 90)}
    assert [r.delta for r in rows] == [5, -15]


def test_late_snapshot_splits_the_pair_it_lands_in() -> None:
    history, rows = run([(0, "a", 100), (3000, "c", 110)])
    assert final_table(rows) == {3000: (0, 100, 110)}
    late = history.apply(1000, "b", 104, LATENESS)
    assert late.outcome is Outcome.APPLIED
    assert final_table(rows + late.rows) == {1000: (0, 100, 104), 3000: (1000, 104, 110)}


def test_late_snapshot_equal_to_successor_retracts_its_row() -> None:
    history, rows = run([(0, "a", 100), (3000, "c", 110)])
    late = history.apply(1000, "b", 110, LATENESS)
    assert [r.is_deleted for r in late.rows] == [False, True]
    assert final_table(rows + late.rows) == {1000: (0, 100, 110)}


def test_duplicate_changes_nothing_but_reasserts_rows() -> None:
    history, rows = run([(0, "a", 100), (1000, "b", 120)])
    again = history.apply(1000, "b", 120, LATENESS)
    assert again.outcome is Outcome.DUPLICATE
    assert again.rows and final_table(rows + again.rows) == final_table(rows)
    assert history.revision == 2  # one per applied snapshot; the duplicate adds none


def test_same_instant_greatest_snapshot_id_stands() -> None:
    history, rows = run([(0, "a", 100), (1000, "m", 120)])
    lower = history.apply(1000, "c", 130, LATENESS)
    assert lower.outcome is Outcome.SUPERSEDED
    higher = history.apply(1000, "z", 100, LATENESS)
    assert higher.outcome is Outcome.APPLIED
    assert final_table(rows + lower.rows + higher.rows) == {}


def test_null_followers_are_not_applied() -> None:
    history, rows = run([(0, "a", 100), (1000, "b", None), (2000, "c", 101)])
    assert final_table(rows) == {2000: (0, 100, 101)}
    assert history.ts == [0, 2000]


def test_too_late_record_is_applied_to_nothing() -> None:
    history, rows = run([(0, "a", 100), (10 * DAY, "b", 120)])
    late = history.apply(2 * DAY, "c", 999, LATENESS)
    assert late.outcome is Outcome.TOO_LATE and late.rows == []
    assert final_table(rows) == {10 * DAY: (0, 100, 120)}


def test_state_is_bounded_by_the_lateness_horizon() -> None:
    history = AccountHistory()
    for i in range(60 * 24):  # 60 days of hourly snapshots
        history.apply(i * 3_600_000, f"s{i:05d}", 1000 + i % 7, LATENESS)
    newest_h = 60 * 24 - 1
    region_start_h = (newest_h - 7 * 24) // 24 * 24  # the day holding the horizon, in full
    assert len(history.ts) == newest_h - region_start_h + 1 + 1  # plus one anchor
    assert len(history.old_ts) <= 32 * 24 and len(history.day_last_ts) <= 33


def test_state_round_trips() -> None:
    history, _ = run([(0, "a", 100), (1000, "b", 120)])
    clone = AccountHistory.from_state(history.to_state())
    assert clone == history


@st.composite
def feeds(draw: st.DrawFn) -> list[Snap]:
    n = draw(st.integers(min_value=1, max_value=25))
    times = st.integers(min_value=0, max_value=40).map(lambda h: h * 3_600_000)
    counts = st.one_of(st.none(), st.integers(98, 101))
    raw = [(draw(times), f"id{draw(st.integers(0, 5))}", draw(counts)) for _ in range(n)]
    # One snapshot_id at one instant is one observation (CONTRACT §2): same values.
    first: dict[tuple[int, str], int | None] = {}
    for ts, sid, f in raw:
        first.setdefault((ts, sid), f)
    return [(ts, sid, first[(ts, sid)]) for ts, sid, _ in raw]


@settings(max_examples=400, deadline=None)
@given(feeds(), st.randoms(use_true_random=False), st.integers(0, 3))
def test_arrival_order_and_duplicates_do_not_change_the_result(
    snaps: list[Snap], rnd: random.Random, dups: int
) -> None:
    feed = snaps + [rnd.choice(snaps) for _ in range(dups)]
    rnd.shuffle(feed)
    _, rows = run(feed)
    assert final_table(rows) == expected_changes(snaps)


@settings(max_examples=300, deadline=None)
@given(feeds(), st.data())
def test_crash_and_replay_from_the_committed_offset_converges(
    snaps: list[Snap], data: st.DataObject
) -> None:
    """Offsets committed after record k; state flushed after record m >= k; ClickHouse
    acknowledged the rows of the first j records. The restarted worker resumes from the
    state at m and replays from k: the table must end exactly as without the crash."""
    n = len(snaps)
    k = data.draw(st.integers(0, n), label="committed")
    m = data.draw(st.integers(k, n), label="state flushed")
    j = data.draw(st.integers(k, n), label="rows acknowledged")
    history = AccountHistory()
    acknowledged: list[ChangeRow] = []
    saved = history.to_state()
    for index, (ts, sid, f) in enumerate(snaps):
        rows = history.apply(ts, sid, f, LATENESS).rows
        if index < j:
            acknowledged.extend(rows)
        if index + 1 == m:
            saved = history.to_state()
    restarted = AccountHistory.from_state(saved)
    replayed = [r for ts, sid, f in snaps[k:] for r in restarted.apply(ts, sid, f, LATENESS).rows]
    assert final_table(acknowledged + replayed) == expected_changes(snaps)


def brute_value_at(snaps: list[Snap], x: int) -> int | None:
    applied: dict[int, tuple[str, int]] = {}
    for ts, sid, f in snaps:
        if f is not None and ts <= x and (ts not in applied or sid > applied[ts][0]):
            applied[ts] = (sid, f)
    return applied[max(applied)][1] if applied else None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(200, 900))
def test_value_at_and_day_lasts_survive_summarising(seed: int, n: int) -> None:
    """In order, 40 days of irregular snapshots: F and each day's last stay exact for 31 days."""
    rnd = random.Random(seed)
    snaps: list[Snap] = []
    t, f = 0, 1000
    for i in range(n):
        t += rnd.choice([15, 60, 240, 1440]) * 60_000
        f += rnd.choice([0, 0, 1, -1, 7])
        snaps.append((t, f"s{i:05d}", None if rnd.random() < 0.05 else f))
    history, _ = run(snaps)
    newest = max(ts for ts, _, _ in snaps)
    for _ in range(50):
        x = newest - rnd.randrange(0, 31 * DAY)
        assert history.value_at(x) == brute_value_at(snaps, x), x
    last_of_day: dict[int, tuple[int, int]] = {}
    for ts, _, f in sorted(snaps):
        if f is not None:
            last_of_day[ts // DAY] = (ts, f)
    recent = {d: v for d, v in last_of_day.items() if d * DAY > newest - 30 * DAY}
    got = {ts // DAY: (ts, f) for ts, f in history.day_lasts() if ts // DAY in recent}
    assert got == recent
