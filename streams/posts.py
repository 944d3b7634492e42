"""Per-account post state: each post's current values are its latest observation.

Bounded: posts not observed for ``POST_RETENTION_MS`` are forgotten (the
collectors stop refreshing posts after 90 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.follower_changes import DAY_MS

POST_RETENTION_MS = 92 * DAY_MS


@dataclass(slots=True)
class Post:
    published_ms: int | None
    observed_ms: int
    snapshot_id: str
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    views: int | None
    url: str | None
    media_type: str | None

    @property
    def interactions(self) -> int | None:
        """Sum of the non-null likes, comments, shares, saves (views excluded)."""
        given = [v for v in (self.likes, self.comments, self.shares, self.saves) if v is not None]
        return sum(given) if given else None

    def to_list(self) -> list[Any]:
        return [
            self.published_ms, self.observed_ms, self.snapshot_id, self.likes, self.comments,
            self.shares, self.saves, self.views, self.url, self.media_type,
        ]  # fmt: skip


class AccountPosts:
    def __init__(self, posts: dict[str, Post] | None = None, newest_ms: int | None = None) -> None:
        self.posts = posts or {}
        self.newest_ms = newest_ms

    def apply(self, post_id: str, post: Post) -> bool:
        """Keep ``post`` if it is the latest observation (ties: greatest snapshot_id)."""
        current = self.posts.get(post_id)
        if current is not None and (current.observed_ms, current.snapshot_id) >= (
            post.observed_ms,
            post.snapshot_id,
        ):
            return False
        self.posts[post_id] = post
        return True

    def expire(self, newest_ms: int) -> None:
        horizon = newest_ms - POST_RETENTION_MS
        for post_id in [p for p, v in self.posts.items() if v.observed_ms < horizon]:
            del self.posts[post_id]

    def observed_in(self, start_ms: int, end_ms: int | None) -> list[tuple[str, Post]]:
        """Posts whose current observation lies in ``[start, end)`` (end None: open)."""
        return [
            (pid, p)
            for pid, p in self.posts.items()
            if p.observed_ms >= start_ms and (end_ms is None or p.observed_ms < end_ms)
        ]

    def engagement_30d(self, t_ms: int, followers_at_t: int | None) -> tuple[float | None, int]:
        """(engagement_rate_30d, posts_30d) as of t (CONTRACT §3)."""
        recent = [
            p for p in self.posts.values()
            if p.published_ms is not None and t_ms - 30 * DAY_MS < p.published_ms <= t_ms
        ]  # fmt: skip
        counted = [p.interactions for p in recent if p.interactions is not None]
        if not counted or not followers_at_t:
            return None, len(recent)
        return sum(counted) / (len(counted) * followers_at_t), len(recent)

    def to_state(self) -> dict[str, Any]:
        return {"n": self.newest_ms, "p": {pid: p.to_list() for pid, p in self.posts.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> AccountPosts:
        if not state:
            return cls()
        return cls({pid: Post(*v) for pid, v in state["p"].items()}, state["n"])
