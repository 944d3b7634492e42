"""The real :class:`~collectors.upstream.Upstream`: httpx plus everything around a call.

Per request, in this order: the Redis response cache (a hit makes no call);
the circuit breaker (fail fast while a platform is down); the shared token
bucket; the HTTP call; the answer's rate-limit headers (``Retry-After``,
``X-RateLimit-Remaining``/``-Reset``, read by ``collectors.normalize``), which
pause the bucket for every replica; then the source's own ``classify`` of the
answer, else the generic status mapping into ``collectors.upstream``'s errors.
Transient failures (timeouts, connection errors, 5xx, 429) are retried with
exponential back-off and jitter (1 s, 2 s, 4 s by default, at most 3 retries);
permanent ones (401/403 auth, 402 and quota answers, 404/410) are raised at once.

The ``httpx.AsyncClient`` is made once by the process (``collectors.process``)
and handed in; so are the clock and the random source, so tests never sleep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from collectors import metrics
from collectors.cache import ResponseCache
from collectors.circuit import CircuitBreaker
from collectors.clock import Clock
from collectors.normalize import parse_rate_limit, parse_retry_after
from collectors.ratelimit import RateLimiter, RateLimitExceeded
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    RateLimitedError,
    TransientError,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)

# Error bodies kept on the exception for sources to read (e.g. Apify's error type).
_BODY_KEPT = 64 * 1024
# Markers of "quota or credits exhausted" in 402/403/429 answers: YouTube, X, Apify.
_QUOTA_MARKERS = (
    b"quotaexceeded",
    b"dailylimitexceeded",
    b"usagecapexceeded",
    b"not-enough-usage",
    b"usage-hard-limit",
    b"insufficient credits",
)


class HttpTransientError(TransientError):
    """A transient HTTP answer (5xx, 408) with its body, for sources that must read it."""

    def __init__(self, upstream: str, message: str, *, status: int | None, body: bytes = b""):
        super().__init__(upstream, message, status=status)
        self.body = body


class HttpPermanentError(PermanentError):
    """A permanent HTTP answer with its body (e.g. Apify's ``{"error": {"type", ...}}``)."""

    def __init__(
        self, upstream: str, message: str, *, error_class: ErrorClass, status: int, body: bytes
    ) -> None:
        super().__init__(upstream, message, error_class=error_class, status=status)
        self.body = body


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_s: float = 1.0
    jitter: float = 0.2  # each delay is scaled by a random factor in [1-jitter, 1+jitter]
    # A Retry-After longer than this fails the call at once (RATE_LIMITED) instead of
    # holding a scheduler slot; the shared bucket stays paused until then anyway.
    max_retry_after_s: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        factor = 1 + self.jitter * (2 * rng.random() - 1)
        return float(self.base_s * 2**attempt * factor)


def classify(
    upstream: str, status: int, body: bytes, headers: dict[str, str], now: datetime
) -> UpstreamError | None:
    """The generic typed error for a non-2xx answer; None for success."""
    if 200 <= status < 300:
        return None
    excerpt = body[:300].decode(errors="replace")
    message = f"HTTP {status}: {excerpt}"
    kept = body[:_BODY_KEPT]
    lowered = kept.lower()
    if status == 402 or (status in (403, 429) and any(m in lowered for m in _QUOTA_MARKERS)):
        metrics.QUOTA_EXHAUSTED.labels(upstream).inc()
        return HttpPermanentError(
            upstream, message, error_class=ErrorClass.QUOTA, status=status, body=kept
        )
    if status == 429:
        wait = parse_retry_after(headers.get("retry-after"), now=now)
        return RateLimitedError(upstream, message, retry_after_s=wait or 0.0)
    if status in (401, 403):
        return HttpPermanentError(
            upstream, message, error_class=ErrorClass.AUTH, status=status, body=kept
        )
    if status in (404, 410):
        return HttpPermanentError(
            upstream, message, error_class=ErrorClass.NOT_FOUND, status=status, body=kept
        )
    if status >= 500 or status == 408:
        return HttpTransientError(upstream, message, status=status, body=kept)
    # Any other 4xx: the upstream refused what we sent; repeating it cannot help.
    return HttpPermanentError(
        upstream, message, error_class=ErrorClass.MALFORMED, status=status, body=kept
    )


class HttpUpstream:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        cache: ResponseCache,
        clock: Clock,
        timeout_s: float,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        observers: Sequence[Callable[[UpstreamRequest, UpstreamResponse], None]] = (),
    ) -> None:
        """``timeout_s``: each attempt's limit (``HTTP_TIMEOUT_S``) unless the request sets one."""
        self._client = client
        self.timeout_s = timeout_s
        self._limiter = limiter
        self._breaker = breaker
        self._cache = cache
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._observers = observers  # see every fresh answer (e.g. Apify run metrics)
        self.calls = 0  # HTTP attempts made (the benchmark reads it)

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if request.cache_ttl_s:
            cached = await self._cache.get(request)
            if cached is not None:
                metrics.CACHE_HITS.labels(request.upstream, "http").inc()
                return cached
            metrics.CACHE_MISSES.labels(request.upstream).inc()
        response = await self._send_with_retries(request)
        await self._cache.put(request, response)
        return response

    async def _send_with_retries(self, request: UpstreamRequest) -> UpstreamResponse:
        attempt = 0
        while True:
            try:
                return await self._attempt(request)
            except UpstreamError as error:
                metrics.UPSTREAM_ERRORS.labels(request.upstream, error.error_class.value).inc()
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise
                metrics.RETRIES.labels(request.upstream, error.error_class.value).inc()
                await self._clock.sleep(delay)
                attempt += 1

    def _retry_delay(self, error: UpstreamError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the error must be raised."""
        if not error.retryable or attempt >= self.policy.max_retries:
            return None
        if isinstance(error, HttpTransientError) and error.status == 408:
            return None  # a request timeout (e.g. Apify's run-sync) is the source's to handle
        backoff = self.policy.backoff(attempt, self._rng)
        if isinstance(error, RateLimitedError):
            if error.status is None or error.retry_after_s > self.policy.max_retry_after_s:
                return None  # our own bucket said "too long", or the upstream did
            return max(backoff, error.retry_after_s)
        return backoff

    async def _attempt(self, request: UpstreamRequest) -> UpstreamResponse:
        upstream = request.upstream
        await self._breaker.admit(upstream)
        try:
            await self._limiter.acquire(
                request.rate_bucket,
                max_wait_s=self.policy.max_retry_after_s,
                label=upstream,
            )
        except RateLimitExceeded as exc:
            raise RateLimitedError(
                upstream, str(exc), retry_after_s=exc.wait_s, status=None
            ) from exc
        self.calls += 1
        timeout_s = self.timeout_s if request.timeout_s is None else request.timeout_s
        started = time.perf_counter()
        try:
            answer = await self._client.request(
                request.method,
                request.url,
                params=request.params or None,
                headers=request.headers or None,
                json=request.json_body,
                timeout=timeout_s,
            )
        except httpx.TransportError as exc:  # timeouts, refused and reset connections
            metrics.UPSTREAM_REQUESTS.labels(upstream, "error").inc()
            await self._breaker.record_failure(upstream)
            # httpx's timeouts carry no message; a run's error should still say what happened.
            detail = (
                f"timed out after {timeout_s:g}s"
                if isinstance(exc, httpx.TimeoutException)
                else str(exc)
            )
            raise HttpTransientError(
                upstream, f"{type(exc).__name__}: {detail}", status=None
            ) from exc
        finally:
            metrics.UPSTREAM_LATENCY.labels(upstream).observe(time.perf_counter() - started)
        metrics.UPSTREAM_REQUESTS.labels(upstream, f"{answer.status_code // 100}xx").inc()
        return await self._settle(request, answer)

    async def _settle(self, request: UpstreamRequest, answer: httpx.Response) -> UpstreamResponse:
        upstream, now = request.upstream, datetime.fromtimestamp(self._clock.time(), UTC)
        headers = {k.lower(): v for k, v in answer.headers.items()}
        response = UpstreamResponse(
            status=answer.status_code, headers=headers, body=answer.content, received_at=now
        )
        for observe in self._observers:
            observe(request, response)
        error = request.classify(response) if request.classify else None
        if error is None:
            error = classify(upstream, answer.status_code, answer.content, headers, now)
        await self._pause_if_told(request.rate_bucket, response, error, now)
        if _is_platform_failure(error):
            await self._breaker.record_failure(upstream)
        else:
            await self._breaker.record_success(upstream)  # the platform answered
        if error is not None:
            raise error
        return response

    async def _pause_if_told(
        self, bucket: str, response: UpstreamResponse, error: UpstreamError | None, now: datetime
    ) -> None:
        """Pause the shared bucket per Retry-After or an exhausted rate-limit window; an
        app-wide limit holds every bucket of the family."""
        pause: float | None = None
        window = parse_rate_limit(response.headers, now=now)
        if window and window.remaining == 0 and window.reset_at and window.reset_at > now:
            pause = window.reset_at.timestamp()
        if isinstance(error, RateLimitedError) and error.retry_after_s > 0:
            pause = max(pause or 0.0, now.timestamp() + error.retry_after_s)
        if pause is None:
            return
        if isinstance(error, RateLimitedError) and error.app_wide:
            await self._limiter.hold_family(bucket, pause)
        else:
            await self._limiter.pause_until(bucket, pause)


def _is_platform_failure(error: UpstreamError | None) -> bool:
    """Failures that say the platform is unwell (and count towards opening the circuit)."""
    return (
        error is not None
        and error.retryable
        and error.error_class in (ErrorClass.TRANSIENT, ErrorClass.MALFORMED)
    )
