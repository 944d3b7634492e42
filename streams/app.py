"""The faust app: topics, the changelog-backed state table and the agent.

The agent is a thin loop: take a batch, run the pure processor against the
table, write to ClickHouse (retrying until acknowledged), publish derived
records and dead letters, and only then let faust ack the batch's offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import faust
from prometheus_client import Counter, Gauge, Histogram

from socialpulse.contract import Topics
from socialpulse.settings import WorkerSettings
from streams import derived
from streams import sync_runs as sync_sink
from streams.processor import BatchResult, process_batch
from streams.records import RawMessage
from streams.sink import ClickHouseSink

log = logging.getLogger(__name__)

RECORDS_IN = Counter(
    "socialpulse_worker_records_total",
    "Snapshots consumed, by topic and outcome",
    ["topic", "outcome"],
)
DLQ_RECORDS = Counter("socialpulse_worker_dlq_total", "Records sent to the DLQ")
RECORDS_OUT = Counter("socialpulse_worker_records_out_total", "Derived records produced", ["topic"])
BATCH_SECONDS = Histogram(
    "socialpulse_worker_batch_seconds", "Time to process one batch end to end"
)
LATENESS = Histogram(
    "socialpulse_worker_event_lag_seconds",
    "Processing time minus the record's Kafka timestamp",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)

CONSUMER_LAG = Gauge(
    "socialpulse_worker_consumer_lag",
    "Records behind the end of each assigned partition",
    ["topic", "partition"],
)
STATE_ACCOUNTS = Gauge("socialpulse_worker_state_accounts", "Accounts held in this worker's state")
SINK_WAITING = Gauge(
    "socialpulse_worker_sink_waiting", "1 while ClickHouse refuses inserts (consumption paused)"
)

STATE_TABLE = "account-state"


def create_app(settings: WorkerSettings, sink: ClickHouseSink) -> faust.App:
    topics = Topics(settings.topic_prefix)
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(","))
    app = faust.App(
        settings.consumer_group,
        broker=brokers,
        store="memory://",
        datadir=str(settings.var_dir / "worker" / settings.worker_id),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        stream_buffer_maxsize=max(4096, settings.sink_batch_size * 2),
        broker_commit_interval=1.0,
        # A killed worker's partitions move to the others after 10 s, not 60.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        # State changelog records are whole account states (kilobytes); with
        # aiokafka's 16 KiB default every one became its own produce request.
        producer_max_batch_size=1 << 20,
        producer_linger=0.005,
        producer_compression_type="lz4",
        consumer_max_fetch_size=8 << 20,
        broker_max_poll_records=max(2000, settings.sink_batch_size),
    )
    # Profile and post snapshots share keys and partition counts, so one
    # agent sees both for an account, in one state.
    raw = app.topic(
        topics.profile_snapshots,
        topics.post_snapshots,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    # use_partitioner: changelog records go to the partition the key hashes to,
    # which is the source partition (same key bytes, same murmur2 partitioner),
    # so batches need no per-event "current event" to write state.
    state = app.Table(
        STATE_TABLE,
        partitions=settings.topic_partitions,
        key_type=bytes,  # serialised raw, like the source topic's keys
        # No value_type: values are plain JSON objects (a faust Record would
        # cost a model round trip per update).
        use_partitioner=True,
    )
    lateness_ms = int(settings.allowed_lateness.total_seconds() * 1000)

    async def publish(result: BatchResult) -> None:
        futures = []
        for topic, key, value in derived.records(result, topics):
            futures.append(await app.producer.send(topic, key, value, None, None, None))
            RECORDS_OUT.labels(topic).inc()
        for letter in result.dead_letters:
            futures.append(
                await app.producer.send(
                    topics.dlq, letter.message.key, letter.to_json_bytes(), None, None, None
                )
            )
        await asyncio.gather(*futures)

    @app.agent(raw)
    async def snapshots(stream: Any) -> None:
        async for events in stream.take_events(
            settings.sink_batch_size, within=settings.sink_batch_seconds
        ):
            with BATCH_SECONDS.time():
                messages = [
                    RawMessage(
                        e.key, e.value, e.message.topic, e.message.partition, e.message.offset
                    )
                    for e in events
                ]
                result = process_batch(
                    messages,
                    topics.profile_snapshots,
                    state.get,
                    state.__setitem__,
                    lateness_ms,
                    now_ms=int(time.time() * 1000),
                )
                try:
                    await sink.write(result)
                    await publish(result)
                except BaseException:
                    # Cancelled (shutdown) with a batch not yet written: faust
                    # would ack it on the way out. Exit hard so the offsets stay
                    # uncommitted and the batch is processed again on restart.
                    log.critical(
                        "stopping with an unwritten batch of %d; exiting hard", len(events)
                    )
                    os._exit(70)
            _observe(events, result)

    sync_events = app.topic(
        topics.sync_events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(sync_events)
    async def sync_runs(stream: Any) -> None:
        async for events in stream.take_events(1000, within=1.0):
            messages = [
                RawMessage(e.key, e.value, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            parsed, letters = sync_sink.parse_events(messages)
            try:
                await sink.insert("sync_runs", sync_sink.COLUMNS, sync_sink.rows(parsed))
                for letter in letters:
                    await app.producer.send_and_wait(
                        topics.dlq, letter.message.key, letter.to_json_bytes(), None, None, None
                    )
            except BaseException:
                log.critical("stopping with %d unwritten sync events; exiting hard", len(events))
                os._exit(70)

    @app.task  # type: ignore[untyped-decorator]
    async def widen_producer_buffer() -> None:
        # faust drains table writes 100 at a time (ProducerBuffer.max_messages)
        # before letting the stream go on; a batch writes one state per account.
        app.producer.buffer.max_messages = max(1000, settings.sink_batch_size)

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def export_gauges() -> None:
        STATE_ACCOUNTS.set(len(state))
        SINK_WAITING.set(1 if sink.waiting else 0)
        for tp in app.consumer.assignment():
            if tp.topic not in (topics.profile_snapshots, topics.post_snapshots):
                continue
            highwater = app.consumer.highwater(tp)
            position = await app.consumer.position(tp)
            if highwater is not None and position is not None:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))

    return app


def _observe(events: list[Any], result: BatchResult) -> None:
    now = time.time()
    for e in events[:: max(1, len(events) // 50)]:  # a sample is enough for a histogram
        LATENESS.observe(max(0.0, now - e.message.timestamp))
    for outcome, count in result.outcomes.items():
        RECORDS_IN.labels("raw", outcome).inc(count)
    DLQ_RECORDS.inc(len(result.dead_letters))
