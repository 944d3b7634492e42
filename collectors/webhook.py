"""An optional HMAC-signed webhook on run completion, retried with back-off.

``POST <webhook_url>`` with the run's final :class:`~socialpulse.contract.SyncEvent`
as JSON and these headers::

    X-SocialPulse-Event: sync.run.completed
    X-SocialPulse-Delivery: <event_id>           (the same on every retry: dedupe on it)
    X-SocialPulse-Timestamp: <epoch seconds>
    X-SocialPulse-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

A receiver recomputes the HMAC over the raw body and rejects stale timestamps
(replays). Timeouts, connection errors, 5xx and 429 are retried (1 s, 2 s, 4 s
by default); another 4xx means the receiver refuses it, so it is not retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence

import httpx

from collectors import metrics
from collectors.clock import Clock
from collectors.secrets import SecretToken
from collectors.sync_runs import Run
from socialpulse.contract import SyncEvent, Trigger

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (used by the tests' fake receiver)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class Webhook:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        secret: SecretToken,
        clock: Clock,
        *,
        max_attempts: int = 4,
        base_s: float = 1.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._client = client
        self.url = url
        self._secret = secret
        self._clock = clock
        self._max_attempts = max_attempts
        self._base_s = base_s
        self._timeout_s = timeout_s

    async def deliver(self, event: SyncEvent) -> bool:
        """True once the receiver answered 2xx; False after the last attempt failed."""
        body = event.model_dump_json().encode()
        for attempt in range(self._max_attempts):
            outcome = await self._attempt(event.event_id, body)
            if outcome == "ok":
                metrics.WEBHOOKS.labels("delivered").inc()
                return True
            if outcome == "refused" or attempt == self._max_attempts - 1:
                break
            metrics.WEBHOOKS.labels("retried").inc()
            await self._clock.sleep(self._base_s * 2**attempt)
        metrics.WEBHOOKS.labels("failed").inc()
        log.warning("webhook for %s not delivered to %s", event.event_id, self.url)
        return False

    async def _attempt(self, delivery: str, body: bytes) -> str:
        timestamp = str(int(self._clock.time()))
        headers = {
            "Content-Type": "application/json",
            "X-SocialPulse-Event": "sync.run.completed",
            "X-SocialPulse-Delivery": delivery,
            "X-SocialPulse-Timestamp": timestamp,
            "X-SocialPulse-Signature": signature(self._secret.reveal(), timestamp, body),
        }
        try:
            answer = await self._client.post(
                self.url, content=body, headers=headers, timeout=self._timeout_s
            )
        except httpx.TransportError as exc:
            log.info("webhook attempt failed: %r", exc)
            return "retry"
        if answer.is_success:
            return "ok"
        if answer.status_code >= 500 or answer.status_code in (408, 429):
            return "retry"
        return "refused"


class WebhookDispatcher:
    """Delivers in the background, so a slow receiver never holds up the scheduler."""

    def __init__(self, webhook: Webhook, *, only_requested: bool, concurrency: int = 4) -> None:
        self._webhook = webhook
        self._only_requested = only_requested
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[bool]] = set()

    def notify(self, runs: Sequence[Run]) -> None:
        for run in runs:
            if self._only_requested and run.trigger is not Trigger.REQUEST:
                continue
            task = asyncio.create_task(self._deliver(run.event()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: SyncEvent) -> bool:
        async with self._slots:
            return await self._webhook.deliver(event)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
