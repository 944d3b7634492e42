"""One account's whole stream state and what each record does to it.

Pure: records in, row effects out. The processor owns batching and I/O.
Every applied record bumps ``history.revision``; every row emitted carries
the revision at emission, so later knowledge always wins in ClickHouse, and
a record the state already holds re-asserts the rows it touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from socialpulse.contract import PostSnapshot, ProfileSnapshot, to_ms
from streams.alerts import Alert, anomaly, milestones_crossed
from streams.follower_changes import AccountHistory, ChangeRow, Outcome
from streams.kpis import GROWTH_PERIODS, Growth, growth, projected_followers_30d
from streams.posts import AccountPosts, Post
from streams.windows import WindowRow, windows_touched


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(slots=True)
class AccountState:
    history: AccountHistory = field(default_factory=AccountHistory)
    posts: AccountPosts = field(default_factory=AccountPosts)
    # handle, display_name, following, posts_count of the latest applied snapshot
    meta: list[Any] = field(default_factory=lambda: ["", None, None, None])

    def apply_profile(self, snap: ProfileSnapshot, lateness_ms: int) -> Effects:
        h = self.history
        x = to_ms(snap.observed_at)
        latest_before = h.followers[-1] if h.followers else None
        result = h.apply(x, snap.snapshot_id, snap.followers, lateness_ms)
        effects = Effects(result.outcome, result.rows)
        if result.outcome in (Outcome.TOO_LATE, Outcome.NO_FOLLOWERS):
            return effects
        if result.outcome is Outcome.APPLIED and h.ts[-1] == x and h.ids[-1] == snap.snapshot_id:
            self.meta = [snap.handle, snap.display_name, snap.following, snap.posts_count]
        effects.windows = windows_touched(h, x)
        effects.posts = self._posts_reading_f_from(x)
        key = snap.key
        effects.alerts = [a for r in result.rows if (a := anomaly(key, h, r)) is not None]
        if result.outcome is Outcome.APPLIED:
            effects.alerts += milestones_crossed(key, latest_before, h.followers[-1], h.ts[-1])
        return effects

    def apply_post(self, snap: PostSnapshot, lateness_ms: int) -> Effects:
        # Lateness of posts is measured against the newest *post* observation:
        # the two raw topics are consumed independently, so mixing them would
        # make "too late" depend on which topic the worker happened to read first.
        h, posts = self.history, self.posts
        x = to_ms(snap.observed_at)
        if posts.newest_ms is not None and x < posts.newest_ms - lateness_ms:
            return Effects(Outcome.TOO_LATE)
        posts.newest_ms = x if posts.newest_ms is None else max(posts.newest_ms, x)
        post = Post(
            None if snap.published_at is None else to_ms(snap.published_at), x,
            snap.snapshot_id, snap.likes, snap.comments, snap.shares, snap.saves, snap.views,
            snap.url, snap.media_type,
        )  # fmt: skip
        changed = self.posts.apply(snap.post_id, post)
        if changed:
            h.revision += 1
        self.posts.expire(posts.newest_ms)
        current = self.posts.posts.get(snap.post_id)
        effects = Effects(Outcome.APPLIED if changed else Outcome.DUPLICATE)
        if current is not None:
            effects.posts = [self._post_row(snap.post_id, current)]
        return effects

    def _posts_reading_f_from(self, x_ms: int) -> list[PostRow]:
        """Posts whose engagement rate reads F on [x, next applied snapshot)."""
        h = self.history
        nxt = next((t for t in h.ts if t > x_ms), None)
        return [self._post_row(pid, p) for pid, p in self.posts.observed_in(x_ms, nxt)]

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
            {name: growth(h, t, period) for name, period in GROWTH_PERIODS.items()},
            rate, posts_30d, projected_followers_30d(h, t), h.revision,
        )  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        return {"h": self.history.to_state(), "p": self.posts.to_state(), "m": list(self.meta)}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> AccountState:
        if not state:
            return cls()
        return cls(
            AccountHistory.from_state(state["h"]),
            AccountPosts.from_state(state.get("p")),
            list(state.get("m") or ["", None, None, None]),
        )
