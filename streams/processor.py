"""One batch of raw snapshots in, deduplicated rows and dead letters out.

The engine hands this a batch (profile and post snapshots mixed, in offset
order) and a loader of account states (the partitioned, changelog-backed
``StateStore`` in production). Each account's state is loaded once and the
batch applied in order; the store writes changed states back at checkpoints.
Rows for the same key within a batch collapse to the last one (the highest
version), so a busy account costs one row per key per batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from socialpulse.contract import PostSnapshot, ProfileSnapshot
from streams.account import AccountState, Effects, Kpis, PostRow
from streams.alerts import Alert
from streams.follower_changes import ChangeRow
from streams.records import DeadLetter, PostRecord, ProfileRecord, RawMessage, parse
from streams.windows import WindowRow

# (key, partition) -> the account's live state; the loader tracks what changed.
StateLoad = Callable[[bytes, int], AccountState]
Account = tuple[str, str]  # platform, account_id


@dataclass(slots=True)
class AccountChange:
    platform: str
    account_id: str
    row: ChangeRow


@dataclass(slots=True)
class BatchResult:
    snapshots: list[ProfileRecord] = field(default_factory=list)
    post_snapshots: list[PostRecord] = field(default_factory=list)
    change_rows: dict[tuple[Account, int], ChangeRow] = field(default_factory=dict)
    window_rows: dict[tuple[Account, str, int], WindowRow] = field(default_factory=dict)
    post_rows: dict[tuple[Account, str], PostRow] = field(default_factory=dict)
    latest: dict[Account, Kpis] = field(default_factory=dict)
    alerts: dict[str, tuple[Account, Alert]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def changes(self) -> list[AccountChange]:
        return [AccountChange(a[0], a[1], r) for (a, _), r in self.change_rows.items()]

    def collect(self, account: Account, effects: Effects) -> None:
        for row in effects.changes:
            self.change_rows[(account, row.observed_ms)] = row
        for w in effects.windows:
            self.window_rows[(account, w.interval, w.start_ms)] = w
        for p in effects.posts:
            self.post_rows[(account, p.post_id)] = p
        for alert in effects.alerts:
            self.alerts[alert.alert_id] = (account, alert)


def process_batch(
    messages: list[RawMessage],
    profile_topic: str,
    load: StateLoad,
    lateness_ms: int,
) -> BatchResult:
    result = BatchResult()
    states: dict[bytes, AccountState] = {}
    for message in messages:
        record: ProfileRecord | PostRecord | DeadLetter = (
            parse(message, ProfileSnapshot)
            if message.topic == profile_topic
            else parse(message, PostSnapshot)
        )
        if isinstance(record, DeadLetter):
            result.dead_letters.append(record)
            result.outcomes["dead_letter"] += 1
            continue
        key = record.key.encode()
        state = states.get(key)
        if state is None:
            state = states[key] = load(key, message.partition)
        if isinstance(record, ProfileRecord):
            result.snapshots.append(record)  # stored raw even when too late to apply
            effects = state.apply_profile(record, lateness_ms)
        else:
            result.post_snapshots.append(record)
            effects = state.apply_post(record, lateness_ms)
        result.outcomes[effects.outcome.value] += 1
        result.collect((record.platform, record.account_id), effects)
    for key, state in states.items():
        platform, _, account_id = key.decode().partition(":")
        result.collect((platform, account_id), state.flush())
        kpis = state.kpis()
        if kpis is not None:
            result.latest[(platform, account_id)] = kpis
    return result
