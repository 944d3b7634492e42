"""The one place Kafka clients are made, and the topics are created."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from socialpulse.contract import Topics
from socialpulse.settings import CommonSettings

log = logging.getLogger(__name__)


class TopicCreationError(RuntimeError):
    """The broker refused to create topics (e.g. more replicas than brokers)."""


def make_producer(settings: CommonSettings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent producer: acks from all replicas, no duplicates on retry."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,
        # zstd, not lz4: aiokafka compresses lz4 at level 9 (HC, fixed), ~50 MB/s here,
        # and did so on the event loop: ~9% of the worker's CPU. zstd at its default
        # level 3 took a tenth of the time for a 4.5x smaller batch (docs/benchmarks.md).
        "compression_type": "zstd",
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(settings: CommonSettings) -> list[str]:
    """Create the contract's topics with the configured partitions and replication factor;
    returns the new ones."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in Topics(settings.topic_prefix).all() if t not in existing]
        if not wanted:
            return []
        topics = Topics(settings.topic_prefix)
        # Raw topics are the source of truth `socialpulse replay` rebuilds from: keep them.
        raw = {topics.profile_snapshots, topics.post_snapshots}
        await _create(
            admin,
            [
                NewTopic(
                    t,
                    settings.topic_partitions,
                    settings.topic_replication_factor,
                    topic_configs={"retention.ms": "-1"} if t in raw else {},
                )
                for t in wanted
            ],
        )
        return wanted
    finally:
        await admin.close()


async def kafka_ready(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # any failure means "not ready"; the caller reports it
        return False
    finally:
        await admin.close()


async def topic_partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` (a consumer only knows the topics it subscribed to)."""
    described = await admin.describe_topics(topics)
    tps = [
        TopicPartition(d["topic"], p["partition"])
        for d in described
        for p in d.get("partitions", [])
    ]
    if len({tp.topic for tp in tps}) < len(topics):
        raise KafkaError(f"no metadata yet for some of {topics}")
    return tps


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records of ``topics`` not yet committed by ``group``, over all partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        tps = await topic_partitions(admin, topics)
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group)
        return sum(
            end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
            for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()


def make_consumer(settings: CommonSettings, **overrides: object) -> AIOKafkaConsumer:
    """A consumer that commits only when told to (after the sink acknowledged)."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 << 20,
        "fetch_max_bytes": 32 << 20,
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)


async def ensure_compacted_topic(settings: CommonSettings, name: str, partitions: int) -> None:
    """A compacted topic (state changelogs): only each key's latest value is kept."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if name in await admin.list_topics():
            return
        topic = NewTopic(
            name,
            partitions,
            settings.topic_replication_factor,
            topic_configs={"cleanup.policy": "compact"},
        )
        await _create(admin, [topic])
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    """Create ``topics``; one that exists already is fine (another process raced us).

    aiokafka returns the broker's per-topic errors instead of raising them: unchecked, a
    refused topic (say, 3 replicas on one broker) went unnoticed until its first use.
    """
    try:
        response = await admin.create_topics(topics)
    except TopicAlreadyExistsError:
        log.info("topics already created by another process")
        return
    refused = []
    for name, code, *detail in response.topic_errors:
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        message = detail[0] if detail and detail[0] else ""
        refused.append(f"{name}: {for_code(code).__name__} {message}".rstrip())
    if refused:
        raise TopicCreationError("Kafka refused to create " + "; ".join(refused))
