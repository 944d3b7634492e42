"""The worker's account states, partitioned like the raw topics and backed by a changelog.

Each raw-topic partition owns the states of the accounts keyed into it, and
its changelog records go to the *same* partition number of a compacted
changelog topic, so whoever owns source partition p restores exactly
changelog partition p. States stay decoded in memory between batches; a
restored partition keeps records as bytes and decodes an account on first
use, so taking over a partition costs one read of its changelog.

Only accounts touched since the last checkpoint are written back, once each,
however many batches touched them, and only the parts that changed: an
account is a head record (key ``<account>``: revision, newest, meta, stats,
days' last snapshots), its posts (``<account>\x1fp``) and one record per UTC
day of snapshots (``<account>\x1fd<day>``, a tombstone once the day has
expired). A live snapshot rewrites the head and today's record instead of
the whole history. A changelog holding whole states in one record per account
(workers before the split) still restores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from streams.account import DAY_SUFFIX, POSTS_SUFFIX, AccountState

STATE_TABLE = "account-state"
# Between an account key and the suffix of one of its records (account.py).
SEPARATOR = b"\x1f"


def changelog_topic(consumer_group: str) -> str:
    # The name faust gave the same table, so `socialpulse replay` and
    # operators find it where they always did.
    return f"{consumer_group}-{STATE_TABLE}-changelog"


def encode(state: AccountState) -> bytes:
    """A whole state in one record: the format before states were chunked by day.

    Still read (``AccountState.from_chunks``), so a changelog written by an older
    worker restores; the worker itself writes chunks (``StateStore.take_dirty``).
    """
    return orjson.dumps(state.to_state())


def decode(value: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(value)
    return loaded


# An account's changelog records as restored, not yet decoded: key suffix -> value.
Parts = dict[bytes, bytes]


def _split(key: bytes) -> tuple[bytes, bytes]:
    account, sep, rest = key.partition(SEPARATOR)
    return account, sep + rest


def _decode_parts(parts: Parts) -> AccountState | None:
    head = parts.get(b"")
    if head is None:  # no head (e.g. tombstoned): the account is gone
        return None
    posts = parts.get(POSTS_SUFFIX)
    days = {
        int(suffix[len(DAY_SUFFIX) :]): decode(value)
        for suffix, value in parts.items()
        if suffix.startswith(DAY_SUFFIX)
    }
    return AccountState.from_chunks(decode(head), None if posts is None else decode(posts), days)


class PartitionNotOwned(KeyError):
    """A record arrived for a partition this worker has not restored."""


class StateStore:
    def __init__(self) -> None:
        self._live: dict[int, dict[bytes, AccountState]] = {}
        self._stored: dict[int, dict[bytes, Parts]] = {}  # restored, not yet decoded
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
            parts = self._stored[partition].pop(key, None)
            restored = None if parts is None else _decode_parts(parts)
            state = restored or AccountState.from_state(None, now_ms=now_ms)
            live[key] = state
        self._dirty[partition].add(key)
        return state

    def peek(self, key: bytes, partition: int) -> AccountState | None:
        """Read-only access for tests and tools; does not mark the account changed."""
        state = self._live.get(partition, {}).get(key)
        if state is None:
            parts = self._stored.get(partition, {}).get(key)
            return None if parts is None else _decode_parts(dict(parts))
        return state

    def restore(
        self, partition: int, records: Iterable[tuple[bytes, bytes | None]], end: int
    ) -> int:
        """Replace a partition's states by a changelog read to ``end``; returns accounts."""
        stored: dict[bytes, Parts] = {}
        for key, value in records:
            account, suffix = _split(key)
            if value is None:  # a tombstone
                parts = stored.get(account)
                if parts is not None:
                    parts.pop(suffix, None)
                    if not parts:
                        del stored[account]
            else:
                stored.setdefault(account, {})[suffix] = value
        self._live[partition] = {}
        self._stored[partition] = stored
        self._dirty[partition] = set()
        self.changelog_ends[partition] = end
        return sum(1 for parts in stored.values() if b"" in parts)

    def drop(self, partition: int) -> None:
        self._live.pop(partition, None)
        self._stored.pop(partition, None)
        self._dirty.pop(partition, None)
        self.changelog_ends.pop(partition, None)

    def has_dirty(self) -> bool:
        return any(self._dirty.values())

    def take_dirty(self) -> Iterator[tuple[int, bytes, bytes | None]]:
        """(partition, changelog key, value or None) of what changed since the last call:
        per account its head, its posts if they changed and each changed day."""
        for partition, keys in self._dirty.items():
            live = self._live[partition]
            for key in keys:
                for suffix, value in live[key].take_chunks():
                    yield partition, key + suffix, None if value is None else orjson.dumps(value)
            keys.clear()
