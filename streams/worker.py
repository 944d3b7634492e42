"""The worker process's composition root: make the clients, build the engine, run it."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError
from prometheus_client import start_http_server

from clickhouse.client import make_client
from socialpulse.contract import Topics
from socialpulse.kafka import ensure_compacted_topic, ensure_topics, make_consumer, make_producer
from socialpulse.settings import WorkerSettings
from streams import sync_runs, upstream_items
from streams.engine import Engine, TableFeed
from streams.sink import ClickHouseSink
from streams.state import changelog_topic

log = logging.getLogger(__name__)

# The worker allocates a few dozen short-lived objects per snapshot next to
# long-lived account states. With CPython's default thresholds (700, 10, 10)
# the collector ran every few hundred snapshots and its older generations
# walked every state: about a third of the processing time in live traffic
# (docs/benchmarks.md). The states hold no reference cycles that need prompt
# collection, so collect young objects every 100k allocations instead.
GC_THRESHOLDS = (100_000, 50, 100)


def feeds(topics: Topics) -> list[TableFeed]:
    return [
        TableFeed(
            topics.sync_events,
            "sync_runs",
            sync_runs.COLUMNS,
            sync_runs.parse_events,
            sync_runs.rows,
        ),
        TableFeed(
            topics.upstream_items,
            "upstream_items",
            upstream_items.COLUMNS,
            upstream_items.parse_items,
            upstream_items.rows,
        ),
    ]


async def serve(settings: WorkerSettings, stop: asyncio.Event) -> None:
    client = await _clickhouse(settings, stop)
    if client is None:
        return
    await ensure_topics(settings)
    await ensure_compacted_topic(
        settings, changelog_topic(settings.consumer_group), settings.topic_partitions
    )
    consumer = make_consumer(
        settings,
        group_id=settings.consumer_group,
        client_id=settings.worker_id,
        # Range hands out the same partition numbers of equally partitioned
        # topics together: an account's profile and post snapshots, and its
        # state, land on one worker.
        partition_assignment_strategy=(RangePartitionAssignor,),
        # A killed worker's partitions move to the others after 10 s.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
        max_poll_interval_ms=600_000,
        # The worker itself has just created its topics (ensure_topics): a group joined
        # before the broker lists their partitions assigns nothing, and only the next
        # metadata refresh brings a rebalance. aiokafka's default is 5 minutes of an idle
        # worker that says it is ready; seen on a freshly started broker.
        metadata_max_age_ms=5_000,
    )
    restorer = make_consumer(settings, client_id=f"{settings.worker_id}-restore")
    producer = make_producer(settings, linger_ms=5, max_batch_size=1 << 20)
    sink = ClickHouseSink(client, stop=stop)
    topics = Topics(settings.topic_prefix)
    await producer.start()
    await restorer.start()
    await consumer.start()
    try:
        engine = Engine(
            settings,
            consumer=consumer,
            restorer=restorer,
            producer=producer,
            sink=sink,
            feeds=feeds(topics),
        )
        await engine.run(stop)
    finally:
        await consumer.stop()
        await restorer.stop()
        await producer.stop()


async def _clickhouse(settings: WorkerSettings, stop: asyncio.Event) -> Client | None:
    """A ClickHouse client, waiting for ClickHouse as long as it is unreachable (None when
    asked to stop meanwhile): a worker started during an outage waits it out, as a running
    one does, instead of exiting for its supervisor to restart it."""
    backoff = 0.5
    while True:
        try:
            return await asyncio.to_thread(make_client, settings)
        except OperationalError as exc:  # refused, reset, timed out: not a wrong password
            log.warning("ClickHouse is not reachable (%s); retrying in %.1fs", exc, backoff)
        try:
            await asyncio.wait_for(stop.wait(), backoff)
            return None
        except TimeoutError:
            backoff = min(backoff * 2, 10.0)


def run_worker(settings: WorkerSettings) -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()  # what import and start-up made lives as long as the process
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
    log.info("worker stopped")
