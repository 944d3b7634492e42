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

import functools
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


_REMEMBERED = 100_000  # identities whose last remaining budget is kept (forgotten at once)


@functools.lru_cache(maxsize=4096)  # a read asks twice (ahead, charge); tokens repeat
def _identity(workspace: str, subject: str) -> str:
    return hashlib.sha256(f"{workspace}\0{subject}".encode()).hexdigest()[:32]


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
        # Each identity's remaining budget after its last charge here, and how much of it
        # lets a read start its work before the charge is answered (see :meth:`ahead`).
        self._remaining: dict[str, int] = {}
        self._margin = max(2, burst // 10)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def _key(self, workspace: str, subject: str) -> str:
        return f"{self._prefix}:api:rl:{_identity(workspace, subject)}"

    def ahead(self, workspace: str, subject: str) -> bool:
        """Whether a read of this identity may run while its charge is answered.

        Redis still decides every request, and the answer still waits for it (a refused
        one gets its 429, ``api.app.ResponseHooks``); what changes is that the read's
        ClickHouse query starts a Redis round trip earlier. Only while the last charge
        here left a margin: near or over the limit every request waits for its charge, so
        refused requests never reach ClickHouse, except for those already in flight when
        another replica spent the rest of the budget.
        """
        if not self.enabled:
            return False
        return self._remaining.get(self._key(workspace, subject), 0) >= self._margin

    async def charge(self, workspace: str, subject: str) -> Budget | None:
        """Take one request from the token's budget; ``RateLimited`` (429) when it is spent.

        None when not checked: limiting is off, or Redis is away (the API keeps answering
        rather than fail every request on a limiter outage).
        """
        if not self.enabled:
            return None
        key = self._key(workspace, subject)
        try:
            allowed, remaining, wait_us = await self._script(
                keys=[key], args=[self._interval_us, self.burst]
            )
        except RedisError as exc:
            UNCHECKED.inc()
            self._remaining.pop(key, None)
            log.warning("rate limit not checked: Redis did not answer (%r)", exc)
            return None
        if len(self._remaining) >= _REMEMBERED:
            self._remaining.clear()
        self._remaining[key] = int(remaining) if allowed else 0
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
