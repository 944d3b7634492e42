"""Emit snapshots to the raw topics, keyed by account, never dropping one.

The producer is idempotent with acks=all. A failed send is retried with
back-off for as long as it takes: the caller awaits ``emit`` and so the
scheduler slows down (backpressure) instead of losing observations.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from socialpulse.contract import PostSnapshot, ProfileSnapshot, Topics

log = logging.getLogger(__name__)

SNAPSHOTS_EMITTED = Counter(
    "socialpulse_collector_snapshots_emitted_total", "Snapshots written to Kafka", ["kind"]
)
EMIT_RETRIES = Counter("socialpulse_collector_emit_retries_total", "Kafka send retries")


class SnapshotEmitter:
    def __init__(self, producer: AIOKafkaProducer, topics: Topics, max_backoff_s: float = 10.0):
        self._producer = producer
        self._topics = topics
        self._max_backoff_s = max_backoff_s

    async def emit(self, snapshots: list[ProfileSnapshot] | list[PostSnapshot]) -> None:
        """Send all, wait for every acknowledgement; retries until Kafka takes them."""
        pending: list[ProfileSnapshot | PostSnapshot] = list(snapshots)
        backoff = 0.5
        while pending:
            outcomes = await asyncio.gather(
                *[self._send(s) for s in pending], return_exceptions=True
            )
            failed = [s for s, o in zip(pending, outcomes, strict=True) if o is not None]
            for snapshot, outcome in zip(pending, outcomes, strict=True):
                if outcome is None:
                    SNAPSHOTS_EMITTED.labels(_kind(snapshot)).inc()
            if failed:
                EMIT_RETRIES.inc(len(failed))
                first_error = next(o for o in outcomes if o is not None)
                log.warning(
                    "kafka send failed for %d snapshots (%r); retrying", len(failed), first_error
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            pending = failed

    async def _send(self, snapshot: ProfileSnapshot | PostSnapshot) -> None:
        topic = (
            self._topics.profile_snapshots
            if isinstance(snapshot, ProfileSnapshot)
            else self._topics.post_snapshots
        )
        future = await self._producer.send(
            topic, value=snapshot.to_json_bytes(), key=snapshot.key.encode()
        )
        await future


def _kind(snapshot: ProfileSnapshot | PostSnapshot) -> str:
    return "profile" if isinstance(snapshot, ProfileSnapshot) else "post"
