"""Produce many records at once: one record batch per topic partition, not one ``send`` each.

``AIOKafkaProducer.send`` costs a coroutine, a future, a pure-Python murmur2
hash of the key and a trip through the accumulator for every record; in live
traffic the worker produced a ``metrics.account`` record per account per batch
that way and spent about a quarter of its time there (profile in
docs/benchmarks.md). Here the records of one call are grouped by partition,
appended to ``create_batch()`` builders and handed over with ``send_batch``:
one future per batch. Partitions are chosen exactly as the default
partitioner chooses them (murmur2 of the key over the sorted partitions), so
consumers see the same placement, and the hash is cached per key: a worker
sees the same accounts over and over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

Record = tuple[str, bytes, bytes]  # topic, key, value
PartitionedRecord = tuple[int, bytes, bytes | None]  # partition, key, value (None: tombstone)

_CACHE_LIMIT = 1 << 20


@dataclass(slots=True)
class Sent:
    """One record batch handed to the producer: resolves to the metadata of its first record."""

    future: asyncio.Future[Any]
    count: int

    async def end_offset(self) -> tuple[int, int]:
        """(partition, offset after the batch's last record), once the broker acknowledged."""
        meta = await self.future
        return meta.partition, meta.offset + self.count


class Publisher:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._hashes: dict[bytes, int] = {}

    def _hash(self, key: bytes) -> int:
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= _CACHE_LIMIT:  # bounded: a cache, not a registry
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h

    async def send_keyed(self, records: Iterable[Record]) -> list[asyncio.Future[Any]]:
        """Records to the partition of their key; one future per record batch."""
        counts: dict[str, int] = {}
        groups: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
        for topic, key, value in records:
            n = counts.get(topic)
            if n is None:
                n = counts[topic] = len(await self._producer.partitions_for(topic))
            partition = self._hash(key) % n
            group = groups.get((topic, partition))
            if group is None:
                group = groups[(topic, partition)] = []
            group.append((key, value))
        return [sent.future for sent in await self._send_groups(groups)]

    async def send_to(self, topic: str, records: Iterable[PartitionedRecord]) -> list[Sent]:
        """Records to the partitions they name (e.g. a changelog partitioned like its source)."""
        groups: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
        for partition, key, value in records:
            groups.setdefault((topic, partition), []).append((key, value))
        return await self._send_groups(groups)

    async def _send_groups(
        self, groups: dict[tuple[str, int], list[tuple[bytes, bytes | None]]]
    ) -> list[Sent]:
        futures: list[Sent] = []
        producer = self._producer
        for (topic, partition), items in groups.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # Full: send it and start the next one with this record.
                    futures.append(await _send(producer, batch, topic, partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)  # a first record fits
            if batch.record_count():
                futures.append(await _send(producer, batch, topic, partition))
        return futures


async def _send(
    producer: AIOKafkaProducer, batch: BatchBuilder, topic: str, partition: int
) -> Sent:
    count = batch.record_count()
    return Sent(await producer.send_batch(batch, topic, partition=partition), count)
