"""A token bucket per upstream, shared by every collector replica through Redis.

The bucket is a GCRA ("generic cell rate algorithm") kept in one Redis key: the
theoretical arrival time (TAT) of the next request. One atomic Lua call
*reserves* a slot and answers how long to wait before using it, so waiting
replicas queue up fairly in one round trip each instead of polling Redis.

``pause_until`` pushes the TAT forward; that is how a ``Retry-After`` or an
``X-RateLimit-Remaining: 0`` seen by one replica slows down all of them.

A bucket is an upstream (``x``) or one instance inside an upstream's family
(``mastodon:<server>``, ``instagram_graph:<ig-user-id>``), which takes the family's
rate. ``hold_family`` stops every bucket of a family at once: the Graph API's
limits are per user, except its app-wide one.

Time comes from the injected clock. Replicas' clocks must be NTP-synced; the
script never moves the TAT backwards, so a replica whose clock lags cannot mint
extra tokens, it only waits a little longer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from collectors import metrics
from collectors.clock import Clock

# Requests per second per upstream when nothing is configured, from each API's
# published limits, rounded down so several replicas stay within them.
DEFAULT_RATES: dict[str, float] = {
    "apify": 5.0,  # the seed system's rate; Apify allows far more per resource
    "bluesky": 10.0,  # public AppView: 3000 requests per 5 minutes per IP
    "mastodon": 1.0,  # 300 requests per 5 minutes per IP/account
    "x": 0.33,  # X API v2 users lookup: 300 requests per 15 minutes per app
    "youtube": 0.11,  # Data API v3: 10,000 quota units per day, 1 unit per channels.list
    "instagram_graph": 0.05,  # Graph API: 200 calls per user per hour
    "linkedin": 0.5,  # community management APIs: daily app limits, kept low
    "reddit": 0.16,  # 10 requests per minute without OAuth
    "simulated": 1000.0,
}
FALLBACK_RATE = 1.0

# KEYS[1] the TAT key, KEYS[2] the family's hold (epoch seconds nothing may start before).
# ARGV: now, interval (s per request), burst, max_wait.
# Answers the wait in microseconds, or -wait when it exceeds max_wait (nothing reserved).
_RESERVE = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local start = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
local new_tat = math.max(tat, start) + interval
local send_at = math.max(start, new_tat - burst * interval)
local wait = send_at - now
if wait > max_wait then
  return -math.ceil(wait * 1000000)
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX',
  math.ceil((new_tat - now) * 1000) + 1000)
return math.ceil(wait * 1000000)
"""

# KEYS[1] the TAT key. ARGV: now, until, interval, burst. Never moves the TAT back.
_PAUSE = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local target = tonumber(ARGV[2]) + (tonumber(ARGV[4]) - 1) * tonumber(ARGV[3])
if target > tat then
  redis.call('SET', KEYS[1], string.format('%.6f', target), 'PX',
    math.ceil((target - now) * 1000) + 1000)
end
return 1
"""

# KEYS[1] the family's hold. ARGV: now, until. Never moves the hold back.
_HOLD = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local until_s = tonumber(ARGV[2])
if until_s > held then
  redis.call('SET', KEYS[1], string.format('%.6f', until_s), 'PX',
    math.ceil((until_s - now) * 1000) + 1000)
end
return 1
"""


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @classmethod
    def of(cls, per_second: float) -> Rate:
        # A burst of about one second's worth lets a batch start without lining up.
        return cls(per_second, max(1, math.floor(per_second)))


class RateLimitExceeded(Exception):
    """The wait for a slot would exceed the caller's patience."""

    def __init__(self, upstream: str, wait_s: float) -> None:
        super().__init__(f"{upstream}: rate limited for another {wait_s:.1f}s")
        self.upstream = upstream
        self.wait_s = wait_s


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        clock: Clock,
        overrides: Mapping[str, float] | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        rates = {**DEFAULT_RATES, **(overrides or {})}
        self._rates = {name: Rate.of(value) for name, value in rates.items()}
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)
        self._hold = redis.register_script(_HOLD)

    def rate(self, upstream: str) -> Rate:
        """The bucket's rate; ``mastodon:<server>`` takes the ``mastodon`` rate, per server."""
        family = upstream.partition(":")[0]
        return self._rates.get(upstream) or self._rates.get(family) or Rate.of(FALLBACK_RATE)

    def _key(self, upstream: str) -> str:
        return f"{self._prefix}:rl:{upstream}"

    def _hold_key(self, bucket: str) -> str:
        return f"{self._prefix}:rl-hold:{bucket.partition(':')[0]}"

    async def acquire(
        self, upstream: str, *, max_wait_s: float = 300.0, label: str | None = None
    ) -> float:
        """Take one slot of bucket ``upstream``, sleeping until it comes (and until any
        hold on its family ends); returns the seconds waited. ``label``: the metrics'
        upstream label when the bucket is narrower (default: the bucket)."""
        rate = self.rate(upstream)
        micros = int(
            await self._reserve(
                keys=[self._key(upstream), self._hold_key(upstream)],
                args=[self._clock.time(), 1.0 / rate.per_second, rate.burst, max_wait_s],
            )
        )
        if micros < 0:
            raise RateLimitExceeded(upstream, -micros / 1e6)
        wait_s = micros / 1e6
        if wait_s > 0:
            metrics.RATE_LIMIT_WAITS.labels(label or upstream).inc()
            metrics.RATE_LIMIT_WAIT_SECONDS.labels(label or upstream).inc(wait_s)
            await self._clock.sleep(wait_s)
        return wait_s

    async def hold_family(self, bucket: str, until: float) -> None:
        """No replica sends through any bucket of ``bucket``'s family before ``until``."""
        await self._hold(keys=[self._hold_key(bucket)], args=[self._clock.time(), until])

    async def pause_until(self, upstream: str, until: float) -> None:
        """No replica sends to ``upstream`` before ``until`` (epoch seconds)."""
        rate = self.rate(upstream)
        await self._pause(
            keys=[self._key(upstream)],
            args=[self._clock.time(), until, 1.0 / rate.per_second, rate.burst],
        )
