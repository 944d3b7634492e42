"""Per-token rate limiting in Redis, shared by every API replica.

GCRA (a token bucket kept as one timestamp): each request moves the bucket's
"theoretical arrival time" one emission interval forward; a request is refused
when that would put it more than ``burst`` intervals ahead of now, and the
refusal says exactly when the next one fits (``Retry-After``). One atomic Lua
call per request, timed by Redis's own clock so replicas with drifting clocks
agree. The budget belongs to the token's identity (workspace + subject), so
minting a fresh token does not reset it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import RateLimited

log = logging.getLogger(__name__)

REFUSED = Counter("socialpulse_api_rate_limited_total", "Requests refused by the rate limit")
UNCHECKED = Counter(
    "socialpulse_api_rate_limit_unchecked_total",
    "Requests let through unchecked because Redis did not answer",
)

# KEYS[1] the bucket. ARGV: emission interval (µs), burst. Answers {allowed, remaining,
# wait µs}. Integers travel as strings: Lua would print a large number in exponent form.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local after = tat + interval
if after - now > capacity then
  return {0, 0, after - now - capacity}
end
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1)
return {1, math.floor((capacity - (after - now)) / interval), 0}
"""


@dataclass(frozen=True)
class Budget:
    limit_per_minute: int
    remaining: int


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str, per_minute: int, burst: int) -> None:
        self._prefix = prefix
        self.per_minute = per_minute
        self.burst = burst
        self._interval_us = 60_000_000 // per_minute if per_minute else 0
        self._script = redis.register_script(_GCRA)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def _key(self, workspace: str, subject: str) -> str:
        identity = hashlib.sha256(f"{workspace}\0{subject}".encode()).hexdigest()[:32]
        return f"{self._prefix}:api:rl:{identity}"

    async def charge(self, workspace: str, subject: str) -> Budget | None:
        """Take one request from the token's budget; ``RateLimited`` (429) when it is spent.

        None when not checked: limiting is off, or Redis is away (the API keeps answering
        rather than fail every request on a limiter outage).
        """
        if not self.enabled:
            return None
        try:
            allowed, remaining, wait_us = await self._script(
                keys=[self._key(workspace, subject)], args=[self._interval_us, self.burst]
            )
        except RedisError as exc:
            UNCHECKED.inc()
            log.warning("rate limit not checked: Redis did not answer (%r)", exc)
            return None
        if allowed:
            return Budget(self.per_minute, int(remaining))
        REFUSED.inc()
        retry_after = max(1, math.ceil(int(wait_us) / 1_000_000))
        raise RateLimited(
            f"too many requests for this token: {self.per_minute} per minute with bursts of"
            f" {self.burst}; retry in {retry_after} s",
            headers={
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": str(self.per_minute),
                "X-RateLimit-Remaining": "0",
            },
        )
