"""What is due, and when: pure functions of an account's schedule state and the time.

Cadences (defaults from the seed system): the profile every 15 minutes, posts
every 30 minutes, the top content daily, a backfill on first sight. Posts are
refreshed on an age ladder — young posts often, old ones rarely, none after 90
days — and an account whose newest post is old is asked for posts less often.

Jitter without randomness: every account has a stable phase (a hash of its key)
inside each interval, and it falls due on its own grid ``phase + k × interval``.
So 100k accounts spread evenly over the 15 minutes, the spread survives
restarts and is the same on every replica. After downtime each overdue
account is due once (missed slots are not replayed) and the scheduler takes the
most overdue first, at the rate the upstreams allow; the next slot snaps back
to the account's phase, so the catch-up never turns into a thundering herd.

Times are epoch seconds; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from socialpulse.contract import PostSnapshot

DAY_S = 86_400.0


class Kind(StrEnum):
    PROFILE = "profile"
    POSTS = "posts"
    TOP_CONTENT = "top_content"
    BACKFILL = "backfill"


@dataclass(frozen=True)
class Policy:
    profile_every_s: float = 900.0
    posts_every_s: float = 1800.0
    top_content_every_s: float = DAY_S
    # (posts younger than max_age_s) -> refreshed every refresh_s; older than the last: never.
    post_ladder: tuple[tuple[float, float], ...] = (
        (DAY_S, 1800.0),
        (7 * DAY_S, 6 * 3600.0),
        (30 * DAY_S, DAY_S),
        (90 * DAY_S, 7 * DAY_S),
    )
    # Private, missing or suspended accounts are looked at daily, in case they come back.
    inactive_every_s: float = DAY_S
    # After a failed poll: retry after 30 s, 60 s, ... at most one profile interval.
    failure_retry_s: float = 30.0

    @property
    def post_max_age_s(self) -> float:
        return self.post_ladder[-1][0]


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the scheduler remembers about one account (kept in Redis, see ``service``)."""

    last_profile_at: float | None = None
    last_posts_at: float | None = None
    last_top_at: float | None = None
    backfilled: bool = False
    newest_post_at: float | None = None
    active: bool = True
    failures: int = 0
    last_attempt_at: float | None = None

    def pack(self) -> str:
        values = (
            self.last_profile_at,
            self.last_posts_at,
            self.last_top_at,
            int(self.backfilled),
            self.newest_post_at,
            int(self.active),
            self.failures,
            self.last_attempt_at,
        )
        return ",".join("" if v is None else f"{v:.3f}".rstrip("0").rstrip(".") for v in values)

    @classmethod
    def unpack(cls, text: str) -> AccountState:
        f = [float(v) if v else None for v in text.split(",")]
        return cls(f[0], f[1], f[2], bool(f[3]), f[4], bool(f[5]), int(f[6] or 0), f[7])


def phase(key: str) -> float:
    """The account's stable position in [0, 1) inside every interval."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def next_slot(after: float | None, interval: float, frac: float) -> float:
    """The first slot ``frac × interval + k × interval`` at least half an interval after ``after``.

    The half-interval gap matters after a first sight, a catch-up or an on-demand
    sync: the account then joins its own grid without a second poll moments later.
    """
    if after is None:
        return -math.inf  # never done: due at once
    offset = frac * interval
    return offset + (math.floor((after + interval / 2 - offset) / interval) + 1) * interval


def ladder_interval(age_s: float, policy: Policy) -> float | None:
    """How often a post of this age is refreshed; None once it is too old."""
    for max_age, every in policy.post_ladder:
        if age_s < max_age:
            return every
    return None


def posts_interval(state: AccountState, now: float, policy: Policy) -> float:
    """Ask for posts less often when the newest post is old; daily once it is past the ladder."""
    if state.newest_post_at is None:
        return policy.posts_every_s
    step = ladder_interval(now - state.newest_post_at, policy)
    return policy.top_content_every_s if step is None else max(policy.posts_every_s, step)


def _slots(state: AccountState, frac: float, now: float, policy: Policy) -> dict[Kind, float]:
    if not state.backfilled:
        return {Kind.BACKFILL: -math.inf, Kind.PROFILE: -math.inf, Kind.POSTS: -math.inf}
    if not state.active:
        return {Kind.PROFILE: next_slot(state.last_profile_at, policy.inactive_every_s, frac)}
    return {
        Kind.PROFILE: next_slot(state.last_profile_at, policy.profile_every_s, frac),
        Kind.POSTS: next_slot(state.last_posts_at, posts_interval(state, now, policy), frac),
        Kind.TOP_CONTENT: next_slot(state.last_top_at, policy.top_content_every_s, frac),
    }


def retry_not_before(state: AccountState, policy: Policy) -> float:
    if not state.failures or state.last_attempt_at is None:
        return -math.inf
    wait = policy.failure_retry_s * 2.0 ** (state.failures - 1)
    return state.last_attempt_at + min(wait, policy.profile_every_s)


def next_due(state: AccountState, frac: float, now: float, policy: Policy) -> float:
    """When the account next needs a poll (``-inf``: right away)."""
    return max(min(_slots(state, frac, now, policy).values()), retry_not_before(state, policy))


def due_kinds(state: AccountState, frac: float, now: float, policy: Policy) -> frozenset[Kind]:
    if now < retry_not_before(state, policy):
        return frozenset()
    return frozenset(k for k, at in _slots(state, frac, now, policy).items() if at <= now)


def after_poll(
    state: AccountState,
    kinds: Iterable[Kind],
    now: float,
    *,
    ok: bool,
    active: bool = True,
    newest_post_at: float | None = None,
) -> AccountState:
    """The state once a poll of ``kinds`` at ``now`` succeeded (``ok``) or failed."""
    if not ok:
        return replace(state, failures=state.failures + 1, last_attempt_at=now)
    kinds = frozenset(kinds)
    posts_done = bool(kinds & {Kind.POSTS, Kind.BACKFILL, Kind.TOP_CONTENT})
    newest = max(filter(None, (state.newest_post_at, newest_post_at)), default=None)
    return replace(
        state,
        last_profile_at=now,
        last_posts_at=now if posts_done else state.last_posts_at,
        last_top_at=now if kinds & {Kind.TOP_CONTENT, Kind.BACKFILL} else state.last_top_at,
        backfilled=True,
        newest_post_at=newest,
        active=active,
        failures=0,
        last_attempt_at=now,
    )


def posts_to_emit(
    posts: Sequence[PostSnapshot],
    seen: Mapping[str, float],
    kinds: frozenset[Kind],
    now: float,
    policy: Policy,
) -> list[PostSnapshot]:
    """The post observations worth keeping from one poll, per the age ladder.

    A backfill keeps everything; the daily top-content pass keeps every post
    still on the ladder; an ordinary posts pass keeps the posts whose ladder
    step has elapsed since they were last kept (``seen``: post_id -> time).
    """
    if Kind.BACKFILL in kinds:
        return list(posts)
    if not kinds & {Kind.POSTS, Kind.TOP_CONTENT}:
        return []
    kept = []
    for post in posts:
        age = now - post.published_at.timestamp() if post.published_at else 0.0
        every = ladder_interval(age, policy)
        if every is None:
            continue
        last = seen.get(post.post_id)
        if Kind.TOP_CONTENT in kinds or last is None or now - last >= every:
            kept.append(post)
    return kept


class DueQueue:
    """A min-heap of (due time, account key) with lazy removal: O(log n) per change.

    The scheduler asks it for what is due instead of scanning every account each
    tick; a re-scheduled key simply gets a newer entry and the stale one is skipped.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: str) -> bool:
        return key in self._due

    def put(self, key: str, due_at: float) -> None:
        self._due[key] = due_at
        heapq.heappush(self._heap, (due_at, key))

    def discard(self, key: str) -> None:
        self._due.pop(key, None)

    def pop_due(self, now: float, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` keys due at ``now``, most overdue first, removed from the queue."""
        out: list[tuple[str, float]] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            due_at, key = heapq.heappop(self._heap)
            if self._due.get(key) == due_at:
                del self._due[key]
                out.append((key, due_at))
        if len(self._heap) > 2 * len(self._due) + 1024:  # drop stale entries now and then
            self._heap = [(d, k) for d, k in self._heap if self._due.get(k) == d]
            heapq.heapify(self._heap)
        return out

    def overdue(self, now: float) -> int:
        return sum(1 for due in self._due.values() if due <= now)
