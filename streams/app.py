"""The faust app: topics, the changelog-backed state table and the agent.

The agent is a thin loop: take a batch, run the pure processor against the
table, write to ClickHouse (retrying until acknowledged), publish dead
letters, and only then let faust ack the batch's offsets.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust
from prometheus_client import Counter

from socialpulse.contract import Topics
from socialpulse.settings import WorkerSettings
from streams.processor import process_profile_batch
from streams.records import RawMessage
from streams.sink import ClickHouseSink

log = logging.getLogger(__name__)

RECORDS_IN = Counter(
    "socialpulse_worker_records_total", "Profile snapshots consumed, by outcome", ["outcome"]
)
DLQ_RECORDS = Counter("socialpulse_worker_dlq_total", "Records sent to the DLQ")

HISTORY_TABLE = "account-history"


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
    )
    profile_topic = app.topic(
        topics.profile_snapshots,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    dlq_topic = app.topic(topics.dlq, key_serializer="raw", value_serializer="raw")
    # use_partitioner: changelog records go to the partition the key hashes to,
    # which is the source partition (same key bytes, same murmur2 partitioner),
    # so batches need no per-event "current event" to write state.
    history = app.Table(
        HISTORY_TABLE,
        partitions=settings.topic_partitions,
        key_type=bytes,  # serialised raw, like the source topic's keys
        # No value_type: values are plain JSON objects (a faust Record would
        # cost a model round trip per update).
        use_partitioner=True,
    )
    lateness_ms = int(settings.allowed_lateness.total_seconds() * 1000)

    @app.agent(profile_topic)
    async def profile_snapshots(stream: Any) -> None:
        async for events in stream.take_events(
            settings.sink_batch_size, within=settings.sink_batch_seconds
        ):
            messages = [
                RawMessage(e.key, e.value, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            result = process_profile_batch(messages, history.get, history.__setitem__, lateness_ms)
            try:
                await sink.write(result)
                for letter in result.dead_letters:
                    await app.producer.send_and_wait(
                        dlq_topic.get_topic_name(),
                        letter.message.key,
                        letter.to_json_bytes(),
                        None,
                        None,
                        None,
                    )
            except BaseException:
                # Cancelled (shutdown) with a batch not yet in ClickHouse: faust
                # would ack it on the way out. Exit hard so the offsets stay
                # uncommitted and the batch is processed again on restart.
                log.critical("stopping with an unwritten batch of %d; exiting hard", len(events))
                os._exit(70)
            for outcome, count in result.outcomes.items():
                RECORDS_IN.labels(outcome).inc(count)
            DLQ_RECORDS.inc(len(result.dead_letters))

    return app
