"""Write records to Kafka, keyed by account, never dropping one.

The producer is idempotent with acks=all (``socialpulse.kafka.make_producer``).
At most ``max_buffered`` records are handed to it and not yet acknowledged, over
all callers together: that is the bounded buffer. A caller that finds it full
waits, and a failed send is retried with back-off for as long as Kafka takes to
come back; either way the caller's ``await`` does not return, so the scheduler
stops starting polls (backpressure) instead of piling up or losing observations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from collectors import metrics
from socialpulse.contract import PostSnapshot, ProfileSnapshot, Topics

log = logging.getLogger(__name__)

Message = tuple[bytes, bytes]  # (key, value)


class Producer(Protocol):
    """What the emitter needs of an ``AIOKafkaProducer``."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[object]: ...


class _Room:
    """A weighted semaphore: room for ``capacity`` unacknowledged records."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, n: int) -> AsyncIterator[None]:
        async with self._changed:
            # An oversized request goes alone rather than never.
            await self._changed.wait_for(lambda: self.used == 0 or self.used + n <= self.capacity)
            self.used += n
            metrics.EMIT_BUFFERED.set(self.used)
        try:
            yield
        finally:
            async with self._changed:
                self.used -= n
                metrics.EMIT_BUFFERED.set(self.used)
                self._changed.notify_all()


class SnapshotEmitter:
    def __init__(
        self,
        producer: Producer,
        topics: Topics,
        max_backoff_s: float = 10.0,
        *,
        max_buffered: int = 20_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._producer = producer
        self.topics = topics
        self._max_backoff_s = max_backoff_s
        self._room = _Room(max_buffered)
        self._sleep = sleep

    @property
    def buffered(self) -> int:
        return self._room.used

    async def emit(self, snapshots: Sequence[ProfileSnapshot] | Sequence[PostSnapshot]) -> None:
        """Send all, wait for every acknowledgement; retries until Kafka takes them."""
        profiles = [s for s in snapshots if isinstance(s, ProfileSnapshot)]
        posts = [s for s in snapshots if isinstance(s, PostSnapshot)]
        if profiles:
            messages = [(s.key.encode(), s.to_json_bytes()) for s in profiles]
            await self.send(self.topics.profile_snapshots, messages, "profile")
        if posts:
            messages = [(s.key.encode(), s.to_json_bytes()) for s in posts]
            await self.send(self.topics.post_snapshots, messages, "post")

    async def send(self, topic: str, messages: Sequence[Message], kind: str) -> None:
        """Deliver ``messages`` to ``topic`` in order per key, in bounded chunks."""
        step = self._room.capacity
        for start in range(0, len(messages), step):
            chunk = list(messages[start : start + step])
            async with self._room.hold(len(chunk)):
                await self._deliver(topic, chunk)
            metrics.SNAPSHOTS_EMITTED.labels(kind).inc(len(chunk))

    async def _deliver(self, topic: str, pending: list[Message]) -> None:
        backoff = 0.5
        while pending:
            pending, error = await self._attempt(topic, pending)
            if pending:
                metrics.EMIT_RETRIES.inc(len(pending))
                log.warning(
                    "kafka send to %s failed for %d records (%r); retrying in %.1fs",
                    topic,
                    len(pending),
                    error,
                    backoff,
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _attempt(
        self, topic: str, pending: list[Message]
    ) -> tuple[list[Message], BaseException | None]:
        """One try for every record; answers those that failed and the first error."""
        handed: list[asyncio.Future[object] | BaseException] = []
        for key, value in pending:
            try:
                handed.append(await self._producer.send(topic, value=value, key=key))
            except Exception as exc:  # metadata timeouts, a closed connection: retry them all
                handed.append(exc)
        failed: list[Message] = []
        first: BaseException | None = None
        for message, outcome in zip(pending, handed, strict=True):
            if not isinstance(outcome, BaseException):
                try:
                    await outcome
                    continue
                except Exception as exc:  # the broker refused or never acknowledged it
                    outcome = exc
            failed.append(message)
            first = first or outcome
        return failed, first
