"""The worker's account states, partitioned like the raw topics and backed by a changelog.

Each raw-topic partition owns the states of the accounts keyed into it, and
its changelog records go to the *same* partition number of a compacted
changelog topic, so whoever owns source partition p restores exactly
changelog partition p. States stay decoded in memory between batches; a
restored partition keeps records as bytes and decodes an account on first
use, so taking over a partition costs one read of its changelog.

Only accounts touched since the last checkpoint are written back, once each,
however many batches touched them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from streams.account import AccountState

STATE_TABLE = "account-state"


def changelog_topic(consumer_group: str) -> str:
    # The name faust gave the same table, so `socialpulse replay` and
    # operators find it where they always did.
    return f"{consumer_group}-{STATE_TABLE}-changelog"


def encode(state: AccountState) -> bytes:
    return orjson.dumps(state.to_state())


def decode(value: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(value)
    return loaded


class PartitionNotOwned(KeyError):
    """A record arrived for a partition this worker has not restored."""


class StateStore:
    def __init__(self) -> None:
        self._live: dict[int, dict[bytes, AccountState]] = {}
        self._stored: dict[int, dict[bytes, bytes]] = {}  # restored, not yet decoded
        self._dirty: dict[int, set[bytes]] = {}
        # Changelog end offset per partition as this worker last left it: a
        # partition handed back whose changelog still ends there needs no restore.
        self.changelog_ends: dict[int, int] = {}

    @property
    def partitions(self) -> set[int]:
        return set(self._live)

    def __len__(self) -> int:
        return sum(len(p) for p in self._live.values()) + sum(len(s) for s in self._stored.values())

    def load(self, key: bytes, partition: int, *, now_ms: int) -> AccountState:
        """The account's state, marked as changed; new accounts start at ``now_ms``."""
        try:
            live = self._live[partition]
        except KeyError:
            raise PartitionNotOwned(partition) from None
        state = live.get(key)
        if state is None:
            stored = self._stored[partition].pop(key, None)
            state = AccountState.from_state(
                decode(stored) if stored is not None else None, now_ms=now_ms
            )
            live[key] = state
        self._dirty[partition].add(key)
        return state

    def peek(self, key: bytes, partition: int) -> AccountState | None:
        """Read-only access for tests and tools; does not mark the account changed."""
        state = self._live.get(partition, {}).get(key)
        if state is None:
            stored = self._stored.get(partition, {}).get(key)
            return AccountState.from_state(decode(stored)) if stored is not None else None
        return state

    def restore(
        self, partition: int, records: Iterable[tuple[bytes, bytes | None]], end: int
    ) -> int:
        """Replace a partition's states by a changelog read to ``end``; returns accounts."""
        stored: dict[bytes, bytes] = {}
        for key, value in records:
            if value is None:  # a tombstone
                stored.pop(key, None)
            else:
                stored[key] = value
        self._live[partition] = {}
        self._stored[partition] = stored
        self._dirty[partition] = set()
        self.changelog_ends[partition] = end
        return len(stored)

    def drop(self, partition: int) -> None:
        self._live.pop(partition, None)
        self._stored.pop(partition, None)
        self._dirty.pop(partition, None)
        self.changelog_ends.pop(partition, None)

    def has_dirty(self) -> bool:
        return any(self._dirty.values())

    def take_dirty(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(partition, key, encoded state) of every account changed since the last call."""
        for partition, keys in self._dirty.items():
            live = self._live[partition]
            for key in keys:
                yield partition, key, encode(live[key])
            keys.clear()
