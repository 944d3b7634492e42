"""Helpers for end-to-end tests: feed Kafka, wait for the worker, read the results."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.client import Client

from socialpulse.contract import ProfileSnapshot, to_ms
from socialpulse.kafka import group_lag, make_producer
from socialpulse.settings import CommonSettings
from tests.reference import Change, Snap, expected_changes

Account = tuple[str, str]


async def produce_raw(
    settings: CommonSettings, topic: str, records: list[tuple[bytes | None, bytes]]
) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_partitioned(
    settings: CommonSettings, topic: str, records: list[tuple[bytes, bytes]], partitions: int
) -> None:
    """``records`` spread over partitions 0..partitions-1 in turn (e.g. into a changelog,
    partitioned like its source rather than by key)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=v, key=k, partition=i % partitions)
            for i, (k, v) in enumerate(records)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce_snapshots(settings: CommonSettings, topic: str, snaps: list[ProfileSnapshot]) -> None:
    asyncio.run(produce_raw(settings, topic, [(s.key.encode(), s.to_json_bytes()) for s in snaps]))


def consumer_lag(bootstrap: str, group: str, topic: str) -> int | None:
    """Records of ``topic`` not yet committed by ``group``; None while Kafka cannot tell."""
    try:
        return asyncio.run(group_lag(bootstrap, group, [topic]))
    except KafkaError:  # e.g. the group coordinator is still being elected
        return None


def read_topic(
    bootstrap: str, topic: str, expect: int, timeout_s: float = 30
) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        out: list[dict[str, object]] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while len(out) < expect and loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                out.extend(json.loads(m.value) for msgs in batch.values() for m in msgs)
        finally:
            await consumer.stop()
        return out

    return asyncio.run(read())


def changes_in_clickhouse(client: Client) -> dict[Account, dict[int, Change]]:
    rows = client.query(
        "SELECT platform, account_id, toUnixTimestamp64Milli(observed_at),"
        " toUnixTimestamp64Milli(previous_observed_at), previous_followers, followers, delta"
        " FROM follower_changes FINAL"
    ).result_rows
    out: dict[Account, dict[int, Change]] = defaultdict(dict)
    for platform, account, ts, prev_ts, prev_f, f, delta in rows:
        assert delta == f - prev_f
        out[(platform, account)][int(ts)] = (int(prev_ts), int(prev_f), int(f))
    return dict(out)


def expected_from(snaps: list[ProfileSnapshot]) -> dict[Account, dict[int, Change]]:
    per_account: dict[Account, list[Snap]] = defaultdict(list)
    for s in snaps:
        per_account[(s.platform.value, s.account_id)].append(
            (to_ms(s.observed_at), s.snapshot_id, s.followers)
        )
    out = {acc: expected_changes(feed) for acc, feed in per_account.items()}
    return {acc: rows for acc, rows in out.items() if rows}
