"""The contract between sources and the upstream HTTP machinery.

Sources (``collectors/sources/``) turn upstream answers into snapshots; they
never sleep, retry, rate-limit or cache themselves. They call an
:class:`Upstream`, which does all of that (Redis token bucket shared by
replicas, Retry-After / X-RateLimit-* handling, retries with back-off and
jitter, circuit breaker, Redis response cache) and raises the typed errors
below for what cannot be helped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from collectors.normalize import RateLimit, parse_rate_limit


class ErrorClass(StrEnum):
    TRANSIENT = "transient"  # timeouts, 5xx, 429: retried, then reported
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"  # 401/403: the token is wrong or lacks scope
    NOT_FOUND = "not_found"
    PRIVATE = "private"
    SUSPENDED = "suspended"
    QUOTA = "quota"  # credits or daily quota exhausted: alert, do not retry
    MALFORMED = "malformed"  # the upstream answered something we cannot parse
    CIRCUIT_OPEN = "circuit_open"


class UpstreamError(Exception):
    """A failure a source or the scheduler must report; ``error_class`` says which kind."""

    error_class: ErrorClass = ErrorClass.TRANSIENT
    retryable: bool = True

    def __init__(self, upstream: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{upstream}: {message}")
        self.upstream = upstream
        self.status = status


class TransientError(UpstreamError):
    error_class, retryable = ErrorClass.TRANSIENT, True


class RateLimitedError(UpstreamError):
    error_class, retryable = ErrorClass.RATE_LIMITED, True

    def __init__(
        self,
        upstream: str,
        message: str,
        *,
        retry_after_s: float,
        status: int | None = 429,
        app_wide: bool = False,
    ):
        super().__init__(upstream, message, status=status)
        self.retry_after_s = retry_after_s
        # The limit hit is the whole app's (e.g. Graph API code 4), not the request's
        # rate_key's: every bucket of the family waits it out.
        self.app_wide = app_wide


class PermanentError(UpstreamError):
    retryable = False

    def __init__(
        self, upstream: str, message: str, *, error_class: ErrorClass, status: int | None = None
    ) -> None:
        super().__init__(upstream, message, status=status)
        self.error_class = error_class


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    from_cache: bool = False
    # When the answer arrived from the upstream (kept with a cached answer): a
    # snapshot's observed_at, so a cache hit repeats the same observation (same
    # snapshot_id) instead of passing an old value off as a new one.
    received_at: datetime | None = None

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def rate_limit(self, now: datetime) -> RateLimit | None:
        """The X-RateLimit-* / x-rate-limit-* / RateLimit-* window this answer reports."""
        return parse_rate_limit(self.headers, now=now)


@dataclass(frozen=True)
class UpstreamRequest:
    upstream: str  # circuit breaker, metrics and (unless rate_key) rate bucket: "apify"…
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    cache_ttl_s: float | None = None  # None: not cacheable (e.g. starting an Apify run)
    # None: the collectors' HTTP_TIMEOUT_S. Set only where the upstream is known to hold
    # a request longer (Apify's sync runs and long-polls), with the reason beside it.
    timeout_s: float | None = None
    # A narrower rate-limit bucket inside ``upstream``'s family, for an API whose limit is
    # per user: ``instagram_graph:<ig-user-id>``. None: ``upstream`` is the bucket. The
    # circuit breaker and the metrics stay on ``upstream`` (one label per platform, not
    # per account).
    rate_key: str | None = None
    # The source's reading of an answer, called on every answer before the
    # generic status mapping and before caching: it returns the typed error an
    # answer means (Bluesky's 400 "Profile not found" -> NOT_FOUND, Apify's 402
    # -> QUOTA, YouTube's 403 quotaExceeded -> QUOTA, a 200 with broken JSON ->
    # MALFORMED, retryable) or None to fall back to the generic mapping
    # (2xx: success). A returned error is retried when ``retryable`` and never cached.
    classify: Callable[[UpstreamResponse], UpstreamError | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def rate_bucket(self) -> str:
        """The rate-limit bucket this request takes a slot of and pauses when told to."""
        return self.rate_key or self.upstream


class Upstream(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send with rate limiting, caching, retries and the circuit breaker applied.

        Returns a 2xx response; raises :class:`UpstreamError` subclasses otherwise.
        """
        ...
