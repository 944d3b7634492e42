"""Sink ``sync.events`` into the ``sync_runs`` table: one row per run, furthest state wins.

Lifecycle events are few (one per run state), so this is a plain batched
faust agent. Events carry the run's fields so far, so the row of the
furthest state is the complete one, whatever order events arrive in.
"""

from __future__ import annotations

from typing import Any

from socialpulse.contract import RunState, SyncEvent, to_ms
from streams.records import DeadLetter, RawMessage, parse_all

STATE_RANK = {
    RunState.PENDING: 0,
    RunState.STARTED: 1,
    RunState.SUCCESS: 2,
    RunState.FAILURE: 2,
    RunState.REVOKED: 2,
}
COLUMNS = [
    "run_id", "platform", "account_id", "handle", "trigger", "state", "created_at",
    "started_at", "finished_at", "duration_ms", "profiles", "posts", "upstream_calls",
    "batch_accounts", "cache_hit", "error_class", "error", "version", "updated_at",
]  # fmt: skip


def parse_events(messages: list[RawMessage]) -> tuple[list[SyncEvent], list[DeadLetter]]:
    return parse_all(messages, SyncEvent, "sync event")


def _ms(value: Any) -> int | None:
    return None if value is None else to_ms(value)


def rows(events: list[SyncEvent]) -> list[list[object]]:
    return [
        [
            e.run_id,
            e.platform.value,
            e.account_id,
            e.handle,
            e.trigger.value,
            e.state.value,
            to_ms(e.created_at),
            _ms(e.started_at),
            _ms(e.finished_at),
            e.duration_ms,
            e.profiles,
            e.posts,
            e.upstream_calls,
            e.batch_accounts,
            int(e.cache_hit),
            e.error_class,
            e.error,
            STATE_RANK[e.state],
            to_ms(e.at),
        ]  # fmt: skip
        for e in events
    ]
