"""Follower changes (CONTRACT §3) as a pure state machine: no I/O, no clock.

One :class:`AccountHistory` per account holds its applied snapshots in full
from the start of the UTC day that contains ``newest - lateness`` (so every
window an on-time record can touch is complete), plus one anchor just before
that; older snapshots survive only as the change points of F (enough to
answer F(x) for growth) and as each day's last snapshot (for projections),
for ``RETENTION_MS``.
Applying a snapshot returns the follower-change rows it creates, replaces or
retracts. A row is keyed by ``(account, observed_at)`` and carries
``version = revision`` of the history, a counter that only grows, so the
``ReplacingMergeTree(version, is_deleted)`` table converges to the same rows
whatever the arrival order.

Crash safety: the history may already contain a snapshot whose rows never
reached ClickHouse (state flushed, insert not acknowledged). So a snapshot that
changes nothing *re-asserts* the current rows at the keys it touches instead
of emitting nothing; replaying a batch therefore rewrites exactly its rows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"  # a greater snapshot_id already stands at that instant
    NO_FOLLOWERS = "no_followers"
    TOO_LATE = "too_late"


@dataclass(slots=True)
class ChangeRow:
    observed_ms: int
    previous_observed_ms: int
    previous_followers: int
    followers: int
    version: int
    is_deleted: bool = False

    @property
    def delta(self) -> int:
        return self.followers - self.previous_followers


@dataclass(slots=True)
class ApplyResult:
    outcome: Outcome
    rows: list[ChangeRow]


DAY_MS = 86_400_000
# Growth looks back 30 days and projections use 30 daily windows: keep 31.
RETENTION_MS = 31 * DAY_MS


@dataclass(slots=True)
class AccountHistory:
    """Applied snapshots of one account: in full near the present, summarised before."""

    newest_ms: int | None = None
    revision: int = 0
    ts: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    followers: list[int] = field(default_factory=list)
    # Before ts[0]: F's change points (ts, followers) and each day's last snapshot.
    old_ts: list[int] = field(default_factory=list)
    old_f: list[int] = field(default_factory=list)
    day_last_ts: list[int] = field(default_factory=list)
    day_last_f: list[int] = field(default_factory=list)
    # Not persisted: the projection's sums over the days before the newest one
    # (see streams.kpis), valid while no record lands before that day.
    # (day, n, Σx, Σy, Σx², Σxy, y0)
    fit_cache: tuple[int, int, float, float, float, float, int] | None = field(
        default=None, compare=False, repr=False
    )
    # Not persisted: the UTC days (epoch day numbers) whose snapshots or change points
    # changed since the last changelog write (see ``chunk``).
    dirty_days: set[int] = field(default_factory=set, compare=False, repr=False)

    def apply(
        self, observed_ms: int, snapshot_id: str, followers: int | None, lateness_ms: int
    ) -> ApplyResult:
        if self.newest_ms is not None and observed_ms < self.newest_ms - lateness_ms:
            return ApplyResult(Outcome.TOO_LATE, [])
        if self.newest_ms is None or observed_ms > self.newest_ms:
            self.newest_ms = observed_ms
        if followers is None:
            return ApplyResult(Outcome.NO_FOLLOWERS, [])
        if not self.ts or observed_ms > self.ts[-1]:
            return self._append(observed_ms, snapshot_id, followers, lateness_ms)

        i = bisect_left(self.ts, observed_ms)
        same_instant = i < len(self.ts) and self.ts[i] == observed_ms
        if same_instant and self.ids[i] >= snapshot_id:
            outcome = Outcome.DUPLICATE if self.ids[i] == snapshot_id else Outcome.SUPERSEDED
            return ApplyResult(outcome, self._reassert(i))

        before = [self._row_at(i) if same_instant else None, self._row_at(i + same_instant)]
        self.revision += 1
        if self.fit_cache is not None and observed_ms < self.fit_cache[0]:
            self.fit_cache = None  # a closed day's last snapshot may have changed
        if same_instant:
            self.ids[i] = snapshot_id
            self.followers[i] = followers
        else:
            self.ts.insert(i, observed_ms)
            self.ids.insert(i, snapshot_id)
            self.followers.insert(i, followers)
        self.dirty_days.add(observed_ms // DAY_MS)
        rows = self._diff(i, before)
        self._prune(lateness_ms)
        return ApplyResult(Outcome.APPLIED, rows)

    def _append(
        self, observed_ms: int, snapshot_id: str, followers: int, lateness_ms: int
    ) -> ApplyResult:
        """The general path's result for a snapshot newer than every applied one (nearly
        every live record): it replaces no row and makes at most the one ending at it. The
        projection's sums stay valid: they cover days before the newest, and this lands
        after it."""
        self.revision += 1
        rows: list[ChangeRow] = []
        if self.ts and self.followers[-1] != followers:
            rows.append(
                ChangeRow(observed_ms, self.ts[-1], self.followers[-1], followers, self.revision)
            )
        self.ts.append(observed_ms)
        self.ids.append(snapshot_id)
        self.followers.append(followers)
        self.dirty_days.add(observed_ms // DAY_MS)
        self._prune(lateness_ms)
        return ApplyResult(Outcome.APPLIED, rows)

    def _row_at(self, i: int, version: int = 0) -> ChangeRow | None:
        """The change row whose later snapshot is ``ts[i]``, if followers differ."""
        if i <= 0 or i >= len(self.ts) or self.followers[i - 1] == self.followers[i]:
            return None
        return ChangeRow(
            self.ts[i], self.ts[i - 1], self.followers[i - 1], self.followers[i], version
        )

    def _diff(self, i: int, before: list[ChangeRow | None]) -> list[ChangeRow]:
        after = [self._row_at(i), self._row_at(i + 1)]
        rows: list[ChangeRow] = []
        for old, new in zip(before, after, strict=True):
            if _same(old, new):
                continue
            if new is not None:
                rows.append(_with_version(new, self.revision))
            elif old is not None:
                rows.append(_tombstone(old.observed_ms, self.revision))
        return rows

    def _reassert(self, i: int) -> list[ChangeRow]:
        rows: list[ChangeRow] = []
        for j in (i, i + 1):
            if j >= len(self.ts):
                continue
            row = self._row_at(j)
            rows.append(
                _with_version(row, self.revision)
                if row is not None
                else _tombstone(self.ts[j], self.revision)
            )
        return rows

    def _prune(self, lateness_ms: int) -> None:
        # Keep in full every snapshot a future on-time record can land next to
        # or share a window with: from the start of the day holding the
        # horizon, plus the last one before it (the anchor).
        assert self.newest_ms is not None
        region_start = (self.newest_ms - lateness_ms) // DAY_MS * DAY_MS
        k = bisect_left(self.ts, region_start) - 1
        if k <= 0:
            return
        for t, f in zip(self.ts[:k], self.followers[:k], strict=True):
            self._summarise(t, f)
            self.dirty_days.add(t // DAY_MS)
        del self.ts[:k], self.ids[:k], self.followers[:k]
        self._expire(self.newest_ms - RETENTION_MS)

    def _summarise(self, t: int, f: int) -> None:
        if not self.old_f or self.old_f[-1] != f:
            self.old_ts.append(t)
            self.old_f.append(f)
        if self.day_last_ts and self.day_last_ts[-1] // DAY_MS == t // DAY_MS:
            self.day_last_ts[-1], self.day_last_f[-1] = t, f
        else:
            self.day_last_ts.append(t)
            self.day_last_f.append(f)

    def _expire(self, horizon_ms: int) -> None:
        # F(horizon) must stay answerable: keep the last change point before it.
        k = bisect_left(self.old_ts, horizon_ms) - 1
        if k > 0:
            self.dirty_days.update(t // DAY_MS for t in self.old_ts[:k])
            del self.old_ts[:k], self.old_f[:k]
        d = bisect_left(self.day_last_ts, horizon_ms - DAY_MS)
        if d > 0:
            del self.day_last_ts[:d], self.day_last_f[:d]

    def value_at(self, x_ms: int) -> int | None:
        """F(x): followers of the latest applied snapshot at or before x (None if none)."""
        if self.ts and x_ms >= self.ts[0]:
            return self.followers[bisect_right(self.ts, x_ms) - 1]
        j = bisect_right(self.old_ts, x_ms) - 1
        return self.old_f[j] if j >= 0 else None

    def day_lasts(self) -> list[tuple[int, int]]:
        """(observed_ms, followers) of each UTC day's last applied snapshot, oldest first."""
        out: dict[int, tuple[int, int]] = {
            t // DAY_MS: (t, f) for t, f in zip(self.day_last_ts, self.day_last_f, strict=True)
        }
        # One bisect per day of the full history, not a pass over every snapshot.
        ts, i = self.ts, len(self.ts) - 1
        while i >= 0:
            day = ts[i] // DAY_MS
            out[day] = (ts[i], self.followers[i])
            i = bisect_left(ts, day * DAY_MS, 0, i) - 1
        return [out[day] for day in sorted(out)]

    def to_state(self) -> dict[str, Any]:
        """A JSON-able copy; copies so a stored state never changes under the table."""
        return {
            **self.head_state(),
            "t": list(self.ts),
            "i": list(self.ids),
            "f": list(self.followers),
            "ot": list(self.old_ts),
            "of": list(self.old_f),
        }

    def head_state(self) -> dict[str, Any]:
        """What is not kept per day: newest, revision and the days' last snapshots (≤ 32)."""
        return {
            "n": self.newest_ms,
            "r": self.revision,
            "dt": list(self.day_last_ts),
            "df": list(self.day_last_f),
        }

    def chunk(self, day: int) -> dict[str, Any] | None:
        """One UTC day's full snapshots and change points (None: the day holds nothing).

        The changelog keeps a state as a head and one record per day, so a live update
        rewrites today's record, not a month of history (an account polled every 15
        minutes carries ~80 kB; docs/benchmarks.md).
        """
        start, end = day * DAY_MS, (day + 1) * DAY_MS
        i, j = bisect_left(self.ts, start), bisect_left(self.ts, end)
        a, b = bisect_left(self.old_ts, start), bisect_left(self.old_ts, end)
        if i == j and a == b:
            return None
        return {
            "t": self.ts[i:j],
            "i": self.ids[i:j],
            "f": self.followers[i:j],
            "ot": self.old_ts[a:b],
            "of": self.old_f[a:b],
        }

    def all_days(self) -> set[int]:
        return {t // DAY_MS for t in self.ts} | {t // DAY_MS for t in self.old_ts}

    @classmethod
    def from_chunks(cls, head: dict[str, Any], days: dict[int, dict[str, Any]]) -> AccountHistory:
        """The history a head and its day records describe (see ``chunk``)."""
        history = cls(
            head["n"], head["r"], day_last_ts=list(head["dt"]), day_last_f=list(head["df"])
        )
        for day in sorted(days):
            c = days[day]
            history.ts += c["t"]
            history.ids += c["i"]
            history.followers += c["f"]
            history.old_ts += c["ot"]
            history.old_f += c["of"]
        return history

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> AccountHistory:
        if not state:
            return cls()
        return cls(
            state["n"],
            state["r"],
            list(state["t"]),
            list(state["i"]),
            list(state["f"]),
            list(state.get("ot", ())),
            list(state.get("of", ())),
            list(state.get("dt", ())),
            list(state.get("df", ())),
        )


def _same(a: ChangeRow | None, b: ChangeRow | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.previous_observed_ms, a.previous_followers, a.followers) == (
        b.previous_observed_ms,
        b.previous_followers,
        b.followers,
    )


def _with_version(row: ChangeRow, version: int) -> ChangeRow:
    return ChangeRow(
        row.observed_ms, row.previous_observed_ms, row.previous_followers, row.followers, version
    )


def _tombstone(observed_ms: int, version: int) -> ChangeRow:
    return ChangeRow(observed_ms, 0, 0, 0, version, is_deleted=True)
