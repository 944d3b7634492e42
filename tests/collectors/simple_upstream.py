"""A minimal Upstream for the source tests: one httpx client, typed errors, nothing else.

NOTE: a stand-in. It maps statuses to the typed errors of
``collectors/upstream.py`` and applies a source's ``classify`` like the real
Upstream must, but has no retries, rate limits, cache or circuit breaker.
The real implementation (helper 3b's) replaces it once it lands; the source
tests should then run against that with retries turned off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from collectors.normalize import parse_retry_after
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    RateLimitedError,
    TransientError,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)

_PERMANENT = {
    401: ErrorClass.AUTH,
    403: ErrorClass.AUTH,
    404: ErrorClass.NOT_FOUND,
    410: ErrorClass.NOT_FOUND,
    402: ErrorClass.QUOTA,
}


class SimpleUpstream:
    def __init__(
        self,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        timeout_cap_s: float | None = None,
    ) -> None:
        self._client = httpx.AsyncClient()
        self._clock = clock
        self._timeout_cap_s = timeout_cap_s
        self.sent: list[UpstreamRequest] = []
        self.received: list[UpstreamResponse] = []

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.sent.append(request)
        timeout = request.timeout_s
        if self._timeout_cap_s is not None:
            timeout = min(timeout, self._timeout_cap_s)
        try:
            answer = await self._client.request(
                request.method,
                request.url,
                params=request.params,
                headers=request.headers,
                json=request.json_body,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise TransientError(request.upstream, f"timed out after {timeout}s") from exc
        except httpx.TransportError as exc:
            raise TransientError(request.upstream, f"transport: {exc!r}") from exc
        response = UpstreamResponse(
            status=answer.status_code,
            headers=dict(answer.headers),
            body=answer.content,
            received_at=self._clock(),
        )
        self.received.append(response)
        error = request.classify(response) if request.classify else None
        if error is None and not 200 <= response.status < 300:
            error = self._generic(request.upstream, response)
        if error is not None:
            raise error
        return response

    def _generic(self, upstream: str, response: UpstreamResponse) -> UpstreamError:
        status = response.status
        if status == 429:
            headers = {k.lower(): v for k, v in response.headers.items()}
            wait = parse_retry_after(headers.get("retry-after"), now=self._clock())
            return RateLimitedError(
                upstream, "429", retry_after_s=wait if wait is not None else 1.0
            )
        if status == 408 or status >= 500:
            return TransientError(upstream, f"HTTP {status}", status=status)
        error_class = _PERMANENT.get(status, ErrorClass.MALFORMED)
        return PermanentError(upstream, f"HTTP {status}", error_class=error_class, status=status)
