"""The worker's batch publisher on the real broker: same placement as send(), nothing lost."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from socialpulse.kafka import make_producer
from streams.publish import Publisher
from tests.conftest import Namespace

pytestmark = pytest.mark.kafka


async def _make_topics(bootstrap: str, *topics: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    finally:
        await admin.close()


async def _read_all(bootstrap: str, topic: str, expect: int) -> list[tuple[int, int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[tuple[int, int, bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(out) < expect and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                out.extend((m.partition, m.offset, m.key, m.value) for m in batch)
    finally:
        await consumer.stop()
    return out


def test_keyed_records_land_where_send_puts_them_in_order(ns: Namespace) -> None:
    bootstrap = ns.urls.kafka_bootstrap
    via_send, via_batch = f"{ns.name}.via-send", f"{ns.name}.via-batch"
    keys = [f"instagram:acct-{i}".encode() for i in range(200)]
    # Several records per key, and values large enough that one call fills many
    # record batches: order within a key must survive the splits.
    records = [(via_batch, k, b"%d:" % n + k + b"x" * 3000) for n in range(3) for k in keys]

    async def run() -> list[tuple[int, int, bytes, bytes]]:
        await _make_topics(bootstrap, via_send, via_batch, partitions=5)
        producer = make_producer(ns.settings(), max_batch_size=64 * 1024)
        await producer.start()
        try:
            futures = [await producer.send(via_send, b"", key=k) for k in keys]
            futures += await Publisher(producer).send_keyed(records)
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        expected_partition = {
            key: partition for partition, _, key, _ in await _read_all(bootstrap, via_send, 200)
        }
        got = await _read_all(bootstrap, via_batch, len(records))
        for partition, _, key, _ in got:
            assert partition == expected_partition[key], key
        return got

    got = asyncio.run(run())
    assert len(got) == len(records)
    assert {p for p, _, _, _ in got} == set(range(5))
    by_key: dict[bytes, list[bytes]] = {}
    for _, _, key, value in sorted(got, key=lambda r: (r[0], r[1])):
        by_key.setdefault(key, []).append(value.split(b":", 1)[0])
    assert all(seq == [b"0", b"1", b"2"] for seq in by_key.values())


def test_partitioned_records_report_their_end_offsets(ns: Namespace) -> None:
    bootstrap = ns.urls.kafka_bootstrap
    topic = f"{ns.name}.changelog"
    states = [(i % 3, f"k{i}".encode(), None if i == 7 else b"v" * 2000) for i in range(300)]

    async def run() -> dict[int, int]:
        await _make_topics(bootstrap, topic, partitions=3)
        producer = make_producer(ns.settings(), max_batch_size=32 * 1024)
        await producer.start()
        try:
            sent = await Publisher(producer).send_to(topic, states)
            assert len(sent) > 3, "expected the records to span several batches"
            ends: dict[int, int] = {}
            for partition, end in await asyncio.gather(*(s.end_offset() for s in sent)):
                ends[partition] = max(ends.get(partition, 0), end)
            return ends
        finally:
            await producer.stop()

    ends = asyncio.run(run())
    assert ends == {0: 100, 1: 100, 2: 100}
    got = asyncio.run(_read_all(bootstrap, topic, 300))
    assert sorted((p, k) for p, _, k, _ in got) == sorted((p, k) for p, k, _ in states)
    assert [v for _, _, k, v in got if k == b"k7"] == [None]
