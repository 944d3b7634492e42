"""Hourly and daily tumbling windows of followers (CONTRACT §3), from an account history.

A window row is ``first, last, min, max, samples`` of the applied snapshots in
``[start, start + size)`` and ``net_change = last - F(start - 1 ms)``, or
``last - first`` when F is undefined before the window. Rows are recomputed
from the history (which holds every window an on-time record can touch in
full), never patched incrementally, so order of arrival cannot matter.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from streams.follower_changes import DAY_MS, AccountHistory

HOUR_MS = 3_600_000
SIZES = {"1h": HOUR_MS, "1d": DAY_MS}


@dataclass(slots=True)
class WindowRow:
    interval: str  # "1h" or "1d"
    start_ms: int
    first: int
    last: int
    min: int
    max: int
    samples: int
    net_change: int
    first_observed_ms: int
    last_observed_ms: int
    version: int


def window_at(history: AccountHistory, interval: str, start_ms: int) -> WindowRow | None:
    size = SIZES[interval]
    i = bisect_left(history.ts, start_ms)
    j = bisect_left(history.ts, start_ms + size)
    if i == j:
        return None
    values = history.followers[i:j]
    before = history.value_at(start_ms - 1)
    base = values[0] if before is None else before
    return WindowRow(
        interval,
        start_ms,
        values[0],
        values[-1],
        min(values),
        max(values),
        j - i,
        values[-1] - base,
        history.ts[i],
        history.ts[j - 1],
        history.revision,
    )


def windows_around(history: AccountHistory, interval: str, start_ms: int) -> list[WindowRow]:
    """A window a snapshot landed in, and the next non-empty window of that size
    (its net_change reads F just before its start, which that snapshot may be)."""
    size = SIZES[interval]
    rows = []
    own = window_at(history, interval, start_ms)
    if own is not None:
        rows.append(own)
    j = bisect_left(history.ts, start_ms + size)
    if j < len(history.ts):
        following = window_at(history, interval, history.ts[j] // size * size)
        if following is not None:
            rows.append(following)
    return rows
