"""The worker's partitioned state store: restore, change tracking, what goes to the changelog."""

from __future__ import annotations

import pytest

from streams.account import AccountState
from streams.records import ProfileRecord
from streams.state import PartitionNotOwned, StateStore, encode

DAY = 86_400_000


def profile(key: str, t_ms: int, followers: int) -> ProfileRecord:
    platform, _, account = key.partition(":")
    return ProfileRecord(
        f"s{t_ms}", platform, account, "h", None, t_ms, followers, None, None, "t", None
    )


def applied(followers: list[int]) -> AccountState:
    state = AccountState.from_state(None, now_ms=1)
    for i, f in enumerate(followers):
        state.apply_profile(profile("x:1", 1_000 + i * 60_000, f), 7 * DAY)
    return state


def test_restore_then_load_decodes_lazily_and_marks_changed() -> None:
    store = StateStore()
    saved = applied([10, 12, 15])
    # Whole states in one record each: how workers wrote them before the split by day.
    records = [(b"x:1", encode(applied([1]))), (b"x:2", encode(saved)), (b"x:1", encode(saved))]
    assert store.restore(0, records, end=3) == 2  # the later value of x:1 wins
    assert store.changelog_ends[0] == 3
    assert not store.has_dirty()
    state = store.load(b"x:1", 0, now_ms=5)
    assert state.history.followers == [10, 12, 15]
    assert store.has_dirty()
    written = list(store.take_dirty())
    # A whole state is rewritten as parts: head, posts, its one day; they supersede it.
    assert [(p, k) for p, k, _ in written] == [(0, b"x:1"), (0, b"x:1\x1fp"), (0, b"x:1\x1fd0")]
    assert not store.has_dirty()  # taken once, not twice
    again = StateStore()
    again.restore(0, [*records, *((k, v) for _, k, v in written)], end=6)
    restored = again.peek(b"x:1", 0)
    assert restored is not None and restored.to_state() == saved.to_state()


def _history(store: StateStore, days: int, per_day: int) -> AccountState:
    """A new account of partition 0, loaded through the store and given ``days`` of history."""
    store.restore(0, [], end=0)
    state = store.load(b"x:1", 0, now_ms=1)
    step = DAY // per_day
    for i in range(days * per_day):
        state.apply_profile(profile("x:1", 5 * DAY + i * step, 1000 + i * (i % 3)), 7 * DAY)
    return state


def test_a_live_snapshot_writes_the_head_and_its_day_only() -> None:
    store = StateStore()
    state = _history(store, days=12, per_day=24)
    first = [(k, v) for _, k, v in store.take_dirty()]
    assert len(first) == 1 + 12  # the head and twelve days (no post was applied)
    newest = state.history.ts[-1]
    live = store.load(b"x:1", 0, now_ms=1)
    live.apply_profile(profile("x:1", newest + 60_000, 5), 7 * DAY)
    second = [(k, v) for _, k, v in store.take_dirty()]
    assert [k for k, _ in second] == [b"x:1", b"x:1\x1fd%d" % (newest // DAY)]
    assert sum(len(v or b"") for _, v in second) < sum(len(v or b"") for _, v in first) / 5
    again = StateStore()
    again.restore(0, first + second, end=len(first) + len(second))
    restored = again.peek(b"x:1", 0)
    assert restored is not None and restored.to_state() == live.to_state()


def test_expired_days_become_tombstones_and_restore_without_them() -> None:
    store = StateStore()
    state = _history(store, days=50, per_day=4)  # past 7 days of lateness + 31 of retention
    written = [(k, v) for _, k, v in store.take_dirty()]
    assert any(v is None for _, v in written), "expected tombstones for expired days"
    again = StateStore()
    again.restore(0, written, end=len(written))
    restored = again.peek(b"x:1", 0)
    assert restored is not None and restored.to_state() == state.to_state()


def test_a_tombstone_removes_the_account_and_new_accounts_start_at_now() -> None:
    store = StateStore()
    store.restore(1, [(b"x:1", encode(applied([5]))), (b"x:1", None)], end=2)
    assert store.peek(b"x:1", 1) is None
    fresh = store.load(b"x:1", 1, now_ms=7)
    assert fresh.history.ts == []
    assert fresh.history.revision == 7 * 1024


def test_records_of_a_partition_not_restored_are_refused() -> None:
    store = StateStore()
    store.restore(0, [], end=0)
    with pytest.raises(PartitionNotOwned):
        store.load(b"x:1", 3, now_ms=1)


def test_dropping_a_partition_forgets_its_states_and_changes() -> None:
    store = StateStore()
    store.restore(0, [], end=0)
    store.restore(1, [], end=0)
    store.load(b"a:1", 0, now_ms=1)
    store.load(b"b:1", 1, now_ms=1)
    store.drop(0)
    assert store.partitions == {1}
    assert len(store) == 1
    assert [(p, k) for p, k, _ in store.take_dirty()] == [(1, b"b:1")]
    assert 0 not in store.changelog_ends
