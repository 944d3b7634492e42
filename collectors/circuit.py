"""A circuit breaker per upstream, shared by every replica through Redis.

Closed: requests flow; each transient failure (timeout, 5xx) counts, any answer
resets the count. After ``threshold`` consecutive failures the circuit opens for
``open_s``: requests fail fast with :class:`CircuitOpenError` and the platform
gets a rest. Then it is half-open: exactly one replica's request goes through
as a probe (a Redis ``SET NX``); its success closes the circuit, its failure
opens it again. Rate limits (429) and per-account answers (404) are not
failures of the platform and never open it.
"""

from __future__ import annotations

from enum import StrEnum

from redis.asyncio import Redis

from collectors import metrics
from collectors.clock import Clock
from collectors.upstream import ErrorClass, UpstreamError


class CircuitOpenError(UpstreamError):
    error_class, retryable = ErrorClass.CIRCUIT_OPEN, False


class Admission(StrEnum):
    CLOSED = "closed"
    PROBE = "probe"  # half-open: this request is the one probe
    REJECTED = "rejected"


# KEYS: state hash, probe lock. ARGV: now, probe lease (ms).
_ADMIT = """
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then return 'closed' end
if tonumber(ARGV[1]) < open_until then return 'rejected' end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 'probe' end
return 'rejected'
"""

# KEYS: state hash, probe lock. ARGV: now, threshold, open_s, idle expiry (ms).
# Answers 1 when the circuit is (now) open.
_FAIL = """
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if open_until > 0 or n >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'open_until', tonumber(ARGV[1]) + tonumber(ARGV[3]))
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


class CircuitBreaker:
    def __init__(
        self, redis: Redis, prefix: str, clock: Clock, *, threshold: int = 5, open_s: float = 60.0
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self.threshold = threshold
        self.open_s = open_s
        self._admit = redis.register_script(_ADMIT)
        self._fail = redis.register_script(_FAIL)

    def _keys(self, upstream: str) -> list[str]:
        base = f"{self._prefix}:cb:{upstream}"
        return [base, base + ":probe"]

    async def admit(self, upstream: str) -> Admission:
        """Raises :class:`CircuitOpenError` while open; answers whether this is the probe."""
        # The probe lock outlives a hung probe by one open period, then another may try.
        answer = await self._admit(
            keys=self._keys(upstream), args=[self._clock.time(), int(self.open_s * 1000)]
        )
        admission = Admission(answer.decode() if isinstance(answer, bytes) else answer)
        if admission is Admission.REJECTED:
            metrics.CIRCUIT_REJECTIONS.labels(upstream).inc()
            raise CircuitOpenError(upstream, "circuit open after repeated failures; not calling")
        return admission

    async def record_success(self, upstream: str) -> None:
        if await self._redis.delete(*self._keys(upstream)):
            metrics.CIRCUIT_OPEN.labels(upstream).set(0)

    async def record_failure(self, upstream: str) -> bool:
        """Count a transient failure; True when the circuit is open afterwards."""
        idle_ms = int(max(3600.0, self.open_s * 10) * 1000)
        opened = bool(
            await self._fail(
                keys=self._keys(upstream),
                args=[self._clock.time(), self.threshold, self.open_s, idle_ms],
            )
        )
        if opened:
            metrics.CIRCUIT_OPEN.labels(upstream).set(1)
        return opened
