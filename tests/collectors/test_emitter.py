"""The emitter never drops a record: bounded buffer, retries while Kafka is away,
backpressure on the caller; and on the real broker, everything arrives keyed by account."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiokafka.errors import KafkaConnectionError

from collectors.emitter import SnapshotEmitter
from socialpulse.contract import Topics
from socialpulse.kafka import ensure_topics, make_producer
from tests.collectors.helpers import read_all
from tests.conftest import Namespace


class FlakyProducer:
    """Refuses every send while ``down``; records what it accepted and the peak in flight."""

    def __init__(self) -> None:
        self.down = True
        self.accepted: list[tuple[bytes, bytes]] = []
        self.in_flight = 0
        self.peak = 0

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.down:
            future.set_exception(KafkaConnectionError("broker down"))
            return future
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

        def ack() -> None:
            self.in_flight -= 1
            self.accepted.append((key or b"", value or b""))
            future.set_result(None)

        asyncio.get_running_loop().call_later(0.001, ack)
        return future


async def test_kafka_down_holds_the_caller_and_loses_nothing() -> None:
    producer = FlakyProducer()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 4:
            producer.down = False  # the broker comes back after four back-offs
        await asyncio.sleep(0)

    emitter = SnapshotEmitter(producer, Topics("t"), max_buffered=50, sleep=sleep)
    messages = [(f"k{i % 7}".encode(), f"v{i}".encode()) for i in range(500)]
    task = asyncio.create_task(emitter.send("t.x", messages, "test"))
    await asyncio.sleep(0.01)
    assert not task.done()  # backpressure: the scheduler's await does not return
    await task
    assert sorted(v for _, v in producer.accepted) == sorted(v for _, v in messages)
    assert sleeps[:4] == [0.5, 1.0, 2.0, 4.0]
    assert producer.peak <= 50  # never more than the bounded buffer in flight


async def test_concurrent_callers_share_the_bound() -> None:
    producer = FlakyProducer()
    producer.down = False
    emitter = SnapshotEmitter(producer, Topics("t"), max_buffered=100)
    batches = [[(b"k", f"{c}-{i}".encode()) for i in range(120)] for c in range(5)]
    await asyncio.gather(*[emitter.send("t.x", b, "test") for b in batches])
    assert len(producer.accepted) == 600 and producer.peak <= 100
    assert emitter.buffered == 0


@pytest.mark.kafka
async def test_real_broker_gets_every_record_under_its_account_key(ns: Namespace) -> None:
    settings = ns.settings()
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        emitter = SnapshotEmitter(producer, ns.topics, max_buffered=300)
        messages = [(f"simulated:a{i % 13}".encode(), b'{"n": %d}' % i) for i in range(2000)]
        await emitter.send(ns.topics.dlq, messages, "test")
    finally:
        await producer.stop()
    got = await read_all(ns.urls.kafka_bootstrap, ns.topics.dlq)
    assert sorted(r["n"] for r in got) == list(range(2000))
    assert Counter(r["_key"] for r in got) == Counter(k.decode() for k, _ in messages)
