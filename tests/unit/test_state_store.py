"""The worker's partitioned state store: restore, change tracking, what goes to the changelog."""

from __future__ import annotations

import pytest

from streams.account import AccountState
from streams.records import ProfileRecord
from streams.state import PartitionNotOwned, StateStore, decode, encode

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
    records = [(b"x:1", encode(applied([1]))), (b"x:2", encode(saved)), (b"x:1", encode(saved))]
    assert store.restore(0, records, end=3) == 2  # the later value of x:1 wins
    assert store.changelog_ends[0] == 3
    assert not store.has_dirty()
    state = store.load(b"x:1", 0, now_ms=5)
    assert state.history.followers == [10, 12, 15]
    assert store.has_dirty()
    written = list(store.take_dirty())
    assert [(p, k) for p, k, _ in written] == [(0, b"x:1")]
    assert decode(written[0][2]) == saved.to_state()
    assert not store.has_dirty()  # taken once, not twice


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
