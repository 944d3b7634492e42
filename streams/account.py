"""One account's whole stream state and what each record does to it.

Pure: records in, row effects out. The processor owns batching and I/O.
Every applied record bumps ``history.revision``; every row emitted carries
the revision at emission, so later knowledge always wins in ClickHouse, and
a record the state already holds re-asserts the rows it touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.alerts import Alert, ChangeStats, milestones_crossed
from streams.follower_changes import DAY_MS, AccountHistory, ChangeRow, Outcome
from streams.kpis import Growth, growths, projected_followers_30d
from streams.posts import AccountPosts, Post
from streams.records import PostRecord, ProfileRecord
from streams.windows import HOUR_MS, WindowRow, windows_around


@dataclass(slots=True)
class PostRow:
    post_id: str
    post: Post
    interactions: int | None
    engagement_rate: float | None
    version: int


@dataclass(slots=True)
class Effects:
    outcome: Outcome
    changes: list[ChangeRow] = field(default_factory=list)
    windows: list[WindowRow] = field(default_factory=list)
    posts: list[PostRow] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


@dataclass(slots=True)
class Kpis:
    handle: str
    display_name: str | None
    followers: int
    following: int | None
    posts_count: int | None
    observed_ms: int
    growth: dict[str, Growth]
    engagement_rate_30d: float | None
    posts_30d: int
    projected_followers_30d: float | None
    version: int


REVISIONS_PER_MS = 1024
# Changelog key suffixes after the account key: its posts, and one of its UTC days.
POSTS_SUFFIX = b"\x1fp"
DAY_SUFFIX = b"\x1fd"


@dataclass(slots=True)
class AccountState:
    history: AccountHistory = field(default_factory=AccountHistory)
    posts: AccountPosts = field(default_factory=AccountPosts)
    # handle, display_name, following, posts_count of the latest applied snapshot
    meta: list[Any] = field(default_factory=lambda: ["", None, None, None])
    stats: ChangeStats = field(default_factory=ChangeStats)
    # What the records since the last flush touched (not persisted): windows
    # and post rows are computed once per batch, not once per record.
    dirty_windows: set[tuple[str, int]] = field(default_factory=set)
    dirty_f_from: int | None = None
    dirty_posts: set[str] = field(default_factory=set)
    settled: list[WindowRow] = field(default_factory=list)
    # The earliest start in dirty_windows (a day start), so most records skip
    # the scan for windows to settle.
    dirty_min: int = 1 << 62
    # Whether the posts changed since the last changelog write (see ``take_chunks``).
    posts_dirty: bool = False

    def apply_profile(self, snap: ProfileRecord, lateness_ms: int) -> Effects:
        h = self.history
        x = snap.observed_ms
        if h.newest_ms is None or x > h.newest_ms:
            self._settle_windows_before(x - lateness_ms)
        latest_before = h.followers[-1] if h.followers else None
        result = h.apply(x, snap.snapshot_id, snap.followers, lateness_ms)
        effects = Effects(result.outcome, result.rows)
        if result.outcome in (Outcome.TOO_LATE, Outcome.NO_FOLLOWERS):
            return effects
        if result.outcome is Outcome.APPLIED and h.ts[-1] == x and h.ids[-1] == snap.snapshot_id:
            self.meta = [snap.handle, snap.display_name, snap.following, snap.posts_count]
        dirty = self.dirty_windows
        dirty.add(("1h", x // HOUR_MS * HOUR_MS))
        day = x // DAY_MS * DAY_MS
        dirty.add(("1d", day))
        self.dirty_min = min(self.dirty_min, day)
        self.dirty_f_from = x if self.dirty_f_from is None else min(self.dirty_f_from, x)
        key = snap.key
        # Anomalies are judged at the newest end only, where they are news; a
        # replayed newest snapshot is judged again, so its alert id comes back.
        last = h.ts[-1]
        for row in result.rows:
            if row.observed_ms != last or row.is_deleted:
                continue
            alert = self.stats.check(key, row)
            if alert is not None:
                effects.alerts.append(alert)
            if result.outcome is Outcome.APPLIED:
                self.stats.update(row.delta)
        if (
            result.outcome is Outcome.APPLIED
            and latest_before is not None
            and h.followers[-1] > latest_before  # only an upward move crosses a milestone
        ):
            effects.alerts += milestones_crossed(key, latest_before, h.followers[-1], h.ts[-1])
        return effects

    def apply_post(self, snap: PostRecord, lateness_ms: int) -> Effects:
        # Lateness of posts is measured against the newest *post* observation:
        # the two raw topics are consumed independently, so mixing them would
        # make "too late" depend on which topic the worker happened to read first.
        h, posts = self.history, self.posts
        x = snap.observed_ms
        if posts.newest_ms is not None and x < posts.newest_ms - lateness_ms:
            return Effects(Outcome.TOO_LATE)
        posts.newest_ms = x if posts.newest_ms is None else max(posts.newest_ms, x)
        self.posts_dirty = True
        post = Post(
            snap.published_ms, x,
            snap.snapshot_id, snap.likes, snap.comments, snap.shares, snap.saves, snap.views,
            snap.url, snap.media_type,
        )  # fmt: skip
        changed = self.posts.apply(snap.post_id, post)
        if changed:
            h.revision += 1
        self.posts.expire(posts.newest_ms)
        self.dirty_posts.add(snap.post_id)
        return Effects(Outcome.APPLIED if changed else Outcome.DUPLICATE)

    def _settle_windows_before(self, horizon_ms: int) -> None:
        """Compute dirty windows that the next prune would cut short: no on-time
        record can reach them afterwards, so their rows are final now."""
        region_start = horizon_ms // DAY_MS * DAY_MS
        if self.dirty_min >= region_start:
            return
        early = {(i, s) for i, s in self.dirty_windows if s < region_start}
        if early:
            self.settled.extend(self._windows(early))
            self.dirty_windows -= early
        self.dirty_min = min((s for _, s in self.dirty_windows), default=1 << 62)

    def _windows(self, keys: set[tuple[str, int]]) -> list[WindowRow]:
        rows: dict[tuple[str, int], WindowRow] = {}
        for interval, start in keys:
            for row in windows_around(self.history, interval, start):
                rows[(row.interval, row.start_ms)] = row
        return list(rows.values())

    def flush(self) -> Effects:
        """Window and post rows for everything touched since the last flush."""
        effects = Effects(Outcome.APPLIED)
        effects.windows = self.settled + self._windows(self.dirty_windows)
        self.settled = []
        # A post's rate reads F at its observation: any post observed at or
        # after the earliest snapshot applied since the flush may have moved.
        ids = set(self.dirty_posts)
        if self.dirty_f_from is not None and self.posts.posts:
            ids.update(pid for pid, _ in self.posts.observed_in(self.dirty_f_from, None))
        effects.posts = [
            self._post_row(pid, self.posts.posts[pid]) for pid in ids if pid in self.posts.posts
        ]
        self.dirty_windows.clear()
        self.dirty_min = 1 << 62
        self.dirty_posts.clear()
        self.dirty_f_from = None
        return effects

    def _post_row(self, post_id: str, post: Post) -> PostRow:
        interactions = post.interactions
        f = self.history.value_at(post.observed_ms)
        rate = interactions / f if interactions is not None and f else None
        return PostRow(post_id, post, interactions, rate, self.history.revision)

    def kpis(self) -> Kpis | None:
        h = self.history
        if not h.ts:
            return None
        t = h.ts[-1]
        rate, posts_30d = self.posts.engagement_30d(t, h.followers[-1])
        handle, display_name, following, posts_count = self.meta
        return Kpis(
            handle, display_name, h.followers[-1], following, posts_count, t,
            growths(h, t),
            rate, posts_30d, projected_followers_30d(h, t), h.revision,
        )  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        return {
            "h": self.history.to_state(),
            "p": self.posts.to_state(),
            "m": list(self.meta),
            "s": [self.stats.mean_abs, self.stats.count],
        }

    def take_chunks(self) -> list[tuple[bytes, dict[str, Any] | None]]:
        """The changelog records of what changed since the last call: (key suffix, value).

        The head (suffix ``b""``) always; the posts (``b"\x1fp"``) when they changed; one
        record per changed UTC day (``b"\x1fd<day>"``), None for a day now empty.
        """
        h = self.history
        out: list[tuple[bytes, dict[str, Any] | None]] = [
            (
                b"",
                {
                    "h": h.head_state(),
                    "m": list(self.meta),
                    "s": [self.stats.mean_abs, self.stats.count],
                },
            )
        ]
        if self.posts_dirty:
            out.append((POSTS_SUFFIX, self.posts.to_state()))
            self.posts_dirty = False
        for day in sorted(h.dirty_days):
            out.append((DAY_SUFFIX + str(day).encode(), h.chunk(day)))
        h.dirty_days.clear()
        return out

    @classmethod
    def from_chunks(
        cls,
        head: dict[str, Any],
        posts: dict[str, Any] | None,
        days: dict[int, dict[str, Any]],
    ) -> AccountState:
        """A state from its changelog records (``take_chunks``), or from one whole
        state as workers before chunking wrote it (then every part is marked changed,
        so the next write replaces it by chunks)."""
        if "t" in head.get("h", {}):  # a whole state, as written before chunking
            state = cls.from_state(head)
            state.history.dirty_days = state.history.all_days()
            state.posts_dirty = True
            return state
        return cls(
            AccountHistory.from_chunks(head["h"], days),
            AccountPosts.from_state(posts),
            list(head.get("m") or ["", None, None, None]),
            ChangeStats(*head.get("s", (0.0, 0))),
        )

    @classmethod
    def from_state(cls, state: dict[str, Any] | None, *, now_ms: int = 0) -> AccountState:
        """Restore a stored state, or start one whose revisions begin at ``now_ms`` × 1024.

        Starting from the wall clock keeps versions above those of any earlier
        state of the same account (e.g. before ``socialpulse replay``), so a
        rebuilt state's rows win over the old ones in ClickHouse.
        """
        if not state:
            return cls(AccountHistory(revision=now_ms * REVISIONS_PER_MS))
        return cls(
            AccountHistory.from_state(state["h"]),
            AccountPosts.from_state(state.get("p")),
            list(state.get("m") or ["", None, None, None]),
            ChangeStats(*state.get("s", (0.0, 0))),
        )
