"""One batch of profile snapshots in, rows for ClickHouse and dead letters out.

Agents hand this a batch and a state store (a faust table in production, a
dict in tests); it loads each account's history once, applies the batch in
order and stores each history once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from socialpulse.contract import ProfileSnapshot, to_ms
from streams.follower_changes import AccountHistory, ChangeRow
from streams.records import DeadLetter, RawMessage, parse_profile

StateGet = Callable[[bytes], dict[str, Any] | None]
StateSet = Callable[[bytes, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class AccountChange:
    platform: str
    account_id: str
    row: ChangeRow


@dataclass(slots=True)
class BatchResult:
    snapshots: list[ProfileSnapshot] = field(default_factory=list)
    changes: list[AccountChange] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


def process_profile_batch(
    messages: list[RawMessage], get: StateGet, put: StateSet, lateness_ms: int
) -> BatchResult:
    result = BatchResult()
    histories: dict[bytes, AccountHistory] = {}
    for message in messages:
        parsed = parse_profile(message)
        if isinstance(parsed, DeadLetter):
            result.dead_letters.append(parsed)
            result.outcomes["dead_letter"] += 1
            continue
        result.snapshots.append(parsed)  # every valid record is stored raw, even too late ones
        key = parsed.key.encode()
        history = histories.get(key)
        if history is None:
            history = histories[key] = AccountHistory.from_state(get(key))
        applied = history.apply(
            to_ms(parsed.observed_at), parsed.snapshot_id, parsed.followers, lateness_ms
        )
        result.outcomes[applied.outcome.value] += 1
        platform = parsed.platform.value
        result.changes.extend(AccountChange(platform, parsed.account_id, r) for r in applied.rows)
    for key, history in histories.items():
        put(key, history.to_state())
    return result
