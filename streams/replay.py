"""``socialpulse replay --from T``: rebuild the derived tables from the raw topics.

For when a metric definition or a parser changes. With the workers stopped:
derived rows from T on are deleted (the current-state tables entirely), the
worker state's changelog is deleted so state rebuilds from nothing, the
worker group's offsets go back to the start of the raw topics, and a worker
re-reads them, showing progress. Rebuilt accounts start their revisions from
the wall clock (see ``AccountState.from_state``), so their rows outrank every
row written before the replay; rows before T keep their old values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from clickhouse_connect.driver.client import Client

from socialpulse.contract import Topics, to_ms
from socialpulse.kafka import topic_partitions
from socialpulse.settings import WorkerSettings
from streams.state import changelog_topic

# (table, time column) of rows derived from events at that time.
TIMED_TABLES = (
    ("follower_changes", "observed_at"),
    ("account_metrics_hourly", "window_start"),
    ("account_metrics_daily", "window_start"),
)
CURRENT_TABLES = ("account_latest", "post_latest")


class ReplayError(RuntimeError):
    pass


async def prepare(settings: WorkerSettings, client: Client, since: datetime) -> int:
    """Reset everything for a replay; returns how many raw records will be re-read."""
    group = settings.consumer_group
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await _refuse_active_group(admin, group)
        topics = Topics(settings.topic_prefix)
        tps = await topic_partitions(admin, [topics.profile_snapshots, topics.post_snapshots])
        _delete_derived_rows(client, since)
        changelog = changelog_topic(group)
        if changelog in await admin.list_topics():
            await admin.delete_topics([changelog])
            # Deletion is asynchronous: a worker started now must not find it half-gone.
            while changelog in await admin.list_topics():  # noqa: ASYNC110 - polling the broker
                await asyncio.sleep(0.2)
    finally:
        await admin.close()
    return await _rewind(settings, tps)


async def _refuse_active_group(admin: AIOKafkaAdminClient, group: str) -> None:
    for response in await admin.describe_consumer_groups([group]):
        for entry in response.groups:
            members = entry[5] if len(entry) > 5 else []
            if members:
                raise ReplayError(
                    f"consumer group {group!r} has {len(members)} active member(s); "
                    "stop the workers (socialpulse worker) before replaying"
                )


def _delete_derived_rows(client: Client, since: datetime) -> None:
    since_ms = to_ms(since)
    day_start = since_ms // 86_400_000 * 86_400_000
    for table, column in TIMED_TABLES:
        bound = day_start if column == "window_start" else since_ms
        client.command(
            f"ALTER TABLE {table} DELETE WHERE {column} >= fromUnixTimestamp64Milli({{t:Int64}})",
            parameters={"t": bound},
            settings={"mutations_sync": 2},
        )
    for table in CURRENT_TABLES:
        client.command(f"TRUNCATE TABLE {table}")


async def _rewind(settings: WorkerSettings, tps: list[TopicPartition]) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit(dict(beginnings))
        return sum(ends[tp] - beginnings[tp] for tp in tps)
    finally:
        await consumer.stop()


def watch(
    total: int,
    remaining: Callable[[], int | None],
    report: Callable[[str], None],
    *,
    alive: Callable[[], bool],
    interval_s: float = 2.0,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Report progress until nothing remains; raises if the worker dies first."""
    import time

    pause = sleep or time.sleep
    started = time.monotonic()
    while True:
        left = remaining()
        done = total - left if left is not None else 0
        elapsed = max(time.monotonic() - started, 1e-9)
        share = done / max(total, 1)
        report(f"replayed {done:,}/{total:,} records ({share:.0%}), {done / elapsed:,.0f}/s")
        if left == 0:
            return
        if not alive():
            raise ReplayError("the replay worker exited before finishing; see its log")
        pause(interval_s)


def run_prepare(settings: WorkerSettings, client: Client, since: datetime) -> int:
    return asyncio.run(prepare(settings, client, since))
