"""A built-in source of realistic, deterministic follower and post dynamics.

Every value is a pure function of ``(seed, account, time slot)``, never of
call order, so the same seed yields the same snapshots (and the same
``snapshot_id``s) whether the history is emitted in one go, live, or again
after a restart. That makes re-emission harmless and tests reproducible.

Dynamics per account: a log-normal audience size, a steady daily growth rate
(some accounts shrink), hour-of-day noise, rare viral jumps that persist and
occasional hidden counts (``followers = null``). Posts appear a few times a
week and their likes and comments rise with a saturating curve.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from socialpulse.contract import (
    Platform,
    PostSnapshot,
    ProfileSnapshot,
    from_ms,
    snapshot_id,
    to_ms,
)

SOURCE = "simulator"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
POST_EVERY_MS = 2 * DAY_MS  # one post slot every two days; about half are used
POST_TRACK_MS = 14 * DAY_MS  # refresh posts for two weeks after publication
REFERENCE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: where every simulated trend starts


def _uniform(*parts: object) -> float:
    """A deterministic uniform number in [0, 1) for ``parts``."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    value: int = struct.unpack(">Q", digest)[0]
    return value / 2**64


def _normal(*parts: object) -> float:
    u1 = max(_uniform(*parts, "a"), 1e-12)
    u2 = _uniform(*parts, "b")
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


@dataclass(frozen=True)
class SimAccount:
    seed: int
    index: int

    @property
    def account_id(self) -> str:
        return f"sim-{self.seed}-{self.index:05d}"

    @property
    def handle(self) -> str:
        return f"creator_{self.index:05d}"

    @property
    def base(self) -> float:
        return math.exp(8.0 + 1.8 * _normal(self.seed, self.index, "size"))

    @property
    def daily_growth(self) -> float:
        return max(-0.002, min(0.003, 0.0015 * _normal(self.seed, self.index, "growth") + 0.0005))

    def followers_at(self, t_ms: int) -> int | None:
        slot = t_ms // HOUR_MS
        if _uniform(self.seed, self.index, slot, "hidden") < 0.02:
            return None
        days = (t_ms - REFERENCE_MS) / DAY_MS
        trend = self.base * math.exp(self.daily_growth * days)
        # Viral spikes: sudden gains that fade over a few weeks.
        jumps = sum(
            self.base * 0.08 * math.exp(-(days - week * 7) / 20)
            for week in range(int(days // 7) - 8, int(days // 7) + 1)
            if _uniform(self.seed, self.index, week, "viral") < 0.08 and week * 7 <= days
        )
        minute = t_ms // 60_000
        noise = math.sqrt(self.base) * 0.3 * _normal(self.seed, self.index, minute, "noise")
        return max(0, round(trend + jumps + noise))

    def profile(self, t_ms: int) -> ProfileSnapshot:
        followers = self.followers_at(t_ms)
        return ProfileSnapshot(
            snapshot_id=snapshot_id(Platform.SIMULATED.value, self.account_id, t_ms, SOURCE),
            platform=Platform.SIMULATED,
            account_id=self.account_id,
            handle=self.handle,
            display_name=f"Creator {self.index}",
            observed_at=from_ms(t_ms),
            followers=followers,
            following=100 + int(400 * _uniform(self.seed, self.index, "following")),
            posts_count=50 + max(0, t_ms - REFERENCE_MS) // (2 * POST_EVERY_MS),
            source=SOURCE,
        )

    def _post_slots(self, start_ms: int, end_ms: int) -> Iterator[int]:
        first = max(0, start_ms // POST_EVERY_MS)
        for slot in range(first, end_ms // POST_EVERY_MS + 1):
            published = slot * POST_EVERY_MS + int(
                POST_EVERY_MS * _uniform(self.seed, self.index, slot, "post-time")
            )
            if (
                _uniform(self.seed, self.index, slot, "post") < 0.5
                and start_ms <= published <= end_ms
            ):
                yield published

    def posts(self, t_ms: int) -> list[PostSnapshot]:
        """Observations at ``t_ms`` of the posts still being tracked."""
        out = []
        audience = self.followers_at(t_ms) or int(self.base)
        for published in self._post_slots(t_ms - POST_TRACK_MS, t_ms):
            post_id = f"{self.account_id}-p{published // 1000}"
            age_h = (t_ms - published) / HOUR_MS
            quality = math.exp(0.6 * _normal(self.seed, post_id, "quality"))
            reach = audience * 0.04 * quality * (1 - math.exp(-age_h / 18))
            out.append(
                PostSnapshot(
                    snapshot_id=snapshot_id(Platform.SIMULATED.value, post_id, t_ms, SOURCE),
                    platform=Platform.SIMULATED,
                    account_id=self.account_id,
                    post_id=post_id,
                    published_at=from_ms(published),
                    observed_at=from_ms(t_ms),
                    url=f"https://sim.socialpulse.invalid/{self.handle}/{post_id}",
                    media_type="video" if _uniform(post_id, "media") < 0.4 else "image",
                    likes=round(reach),
                    comments=round(reach * 0.03),
                    shares=round(reach * 0.01),
                    saves=None,
                    views=round(reach * 12),
                    source=SOURCE,
                )
            )
        return out


class Simulator:
    def __init__(self, accounts: int, seed: int, interval_ms: int) -> None:
        self.accounts = [SimAccount(seed, i) for i in range(accounts)]
        self.interval_ms = interval_ms

    def ticks(self, start: datetime, end: datetime) -> list[int]:
        """Observation instants on the fixed grid inside ``[start, end]``."""
        first = -(-to_ms(start) // self.interval_ms) * self.interval_ms
        return list(range(first, to_ms(end) + 1, self.interval_ms))

    def profiles(self, t_ms: int) -> list[ProfileSnapshot]:
        return [account.profile(t_ms) for account in self.accounts]

    def posts(self, t_ms: int) -> list[PostSnapshot]:
        return [post for account in self.accounts for post in account.posts(t_ms)]
