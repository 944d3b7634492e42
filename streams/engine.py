"""The stream worker's loop: batches from Kafka through the processor to ClickHouse.

Why not faust agents: faust delivers every record on its own through the
conductor, a channel queue and the stream iterator, and acks it on its own;
measured here at ~1.5k records/s for an agent doing nothing
(``bench/bench_worker.py`` runs that baseline next to this engine), against
the 25k snapshots/s issue 4 asks of a worker. Its rebalance handling also
stalled restarted workers (see docs/NOTES.md). This engine keeps faust's model —
a consumer group, state partitioned like the source topics and backed by a
compacted changelog, restore on assignment — with batches end to end:

1. ``getmany`` up to ``sink_batch_size`` records or ``sink_batch_seconds``;
2. the pure processor applies them to the owned partitions' account states;
3. the sink inserts the rows, retrying until ClickHouse acknowledges, then
   derived records and dead letters are produced; this runs while the next
   batch is fetched and processed, with one batch in flight at most (an
   outage pauses consumption there: backpressure, nothing lost);
4. every ``commit_interval_seconds`` (and before giving partitions up): the
   states changed since the last checkpoint go to the changelog, every
   produce is acknowledged, and only then are the offsets committed.

A crash replays at most one checkpoint interval over the state as of the
last checkpoint; the processor's rows and versions are deterministic, so
the replay rewrites the same rows (effectively once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from socialpulse.contract import Topics
from socialpulse.settings import WorkerSettings
from streams import derived
from streams import metrics as m
from streams.processor import BatchResult, process_batch
from streams.publish import Publisher, Sent
from streams.records import DeadLetter, RawMessage
from streams.sink import ClickHouseSink, SinkStopped
from streams.state import StateStore, changelog_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableFeed:
    """A stateless topic copied into one table (sync events, upstream items)."""

    topic: str
    table: str
    columns: list[str]
    parse: Callable[[list[RawMessage]], tuple[list[Any], list[DeadLetter]]]
    rows: Callable[[list[Any]], list[list[object]]]


class Engine:
    def __init__(
        self,
        settings: WorkerSettings,
        *,
        consumer: AIOKafkaConsumer,
        restorer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        sink: ClickHouseSink,
        feeds: Sequence[TableFeed] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._topics = Topics(settings.topic_prefix)
        self._raw = (self._topics.profile_snapshots, self._topics.post_snapshots)
        self._feeds = {feed.topic: feed for feed in feeds}
        self._changelog = changelog_topic(settings.consumer_group)
        self._consumer = consumer
        self._restorer = restorer
        self._producer = producer
        self._publisher = Publisher(producer)
        self._sink = sink
        self._clock = clock
        self._lateness_ms = int(settings.allowed_lateness.total_seconds() * 1000)
        self.store = StateStore()
        self._lock = asyncio.Lock()
        self._offsets: dict[TopicPartition, int] = {}  # processed, not yet committed
        self._pending: list[asyncio.Future[Any]] = []  # produced, not yet acknowledged
        self._inflight: asyncio.Task[None] | None = None  # the last batch's writes
        self._halted = False  # a batch could not be written before a stop: commit nothing
        self._committing: asyncio.Task[None] | None = None  # the last checkpoint's commit
        self._last_checkpoint = clock()
        # Bumped by every rebalance: a batch fetched under an older assignment is
        # dropped unprocessed (its records are fetched again from the committed offsets).
        self._generation = 0
        self.ready = asyncio.Event()

    @property
    def topics(self) -> list[str]:
        return [*self._raw, *self._feeds]

    async def run(self, stop: asyncio.Event) -> None:
        self._consumer.subscribe(self.topics, listener=_Rebalance(self))
        gauges = asyncio.create_task(self._export_gauges(stop))
        try:
            await self._loop(stop)
        except SinkStopped:
            # Nothing is committed after this (_halted): the last checkpoint's offsets and
            # states stand, and whoever owns these partitions next processes the rest again.
            log.warning(
                "stopped while ClickHouse refused inserts: the input since the last"
                " checkpoint is not committed and will be processed again"
            )
        finally:
            gauges.cancel()

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            generation = self._generation
            records = await self._fetch(stop)
            async with self._lock:
                if generation != self._generation:
                    self._rewind(records)
                    continue
                if records:
                    await self._process(records)
                # An empty fetch means the input was idle for a whole batch period:
                # checkpoint then, so a caught-up worker's offsets, states and derived
                # records are committed at once instead of up to an interval later.
                due = self._clock() - self._last_checkpoint
                if not records or due >= self._settings.commit_interval_seconds:
                    await self._checkpoint()
        async with self._lock:
            await self._checkpoint()
            await self._settle()

    async def _fetch(self, stop: asyncio.Event) -> list[ConsumerRecord[bytes, bytes]]:
        size = self._settings.sink_batch_size
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.sink_batch_seconds
        out: list[ConsumerRecord[bytes, bytes]] = []
        generation = self._generation
        while len(out) < size and not stop.is_set() and generation == self._generation:
            remaining_ms = int((deadline - loop.time()) * 1000)
            if remaining_ms <= 0:
                break
            got = await self._consumer.getmany(timeout_ms=remaining_ms, max_records=size - len(out))
            for batch in got.values():
                out.extend(batch)
        return out

    def _rewind(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Hand back a batch fetched across a rebalance: getmany already moved past it."""
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        owned = self._consumer.assignment()
        for tp, offset in first.items():
            if tp in owned:  # partitions now elsewhere restart from their committed offsets
                self._consumer.seek(tp, offset)

    async def _process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        started = time.perf_counter()
        raw: list[RawMessage] = []
        fed: dict[str, list[RawMessage]] = {}
        for r in records:
            message = RawMessage(r.key, r.value, r.topic, r.partition, r.offset)
            if r.topic in self._feeds:
                fed.setdefault(r.topic, []).append(message)
            else:
                raw.append(message)
        result = None
        if raw:
            now_ms = int(self._clock() * 1000)
            result = process_batch(
                raw,
                self._topics.profile_snapshots,
                lambda key, partition: self.store.load(key, partition, now_ms=now_ms),
                self._lateness_ms,
            )
            _observe(records, result)
        # One batch's writes stay in flight while the next batch is fetched and
        # processed: ClickHouse's insert time overlaps Python's processing time.
        await self._drain()
        self._inflight = asyncio.create_task(self._write(result, fed))
        for r in records:
            self._offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
        m.BATCH_RECORDS.observe(len(records))
        m.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _write(self, result: BatchResult | None, fed: dict[str, list[RawMessage]]) -> None:
        if result is not None:
            await self._sink.write(result)
            await self._publish(result)
        for topic, messages in fed.items():
            await self._copy(self._feeds[topic], messages)

    async def _drain(self) -> None:
        """Wait for the batch in flight: acknowledged by ClickHouse, derived records queued."""
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            try:
                await inflight
            except SinkStopped:
                self._halted = True  # wherever it surfaces (a revocation too)
                raise

    async def _copy(self, feed: TableFeed, messages: list[RawMessage]) -> None:
        parsed, letters = feed.parse(messages)
        await self._sink.insert(feed.table, feed.columns, feed.rows(parsed))
        await self._dead_letters(letters)

    async def _publish(self, result: BatchResult) -> None:
        # Queued as record batches; their futures resolve on the broker's ack,
        # awaited at the checkpoint before offsets are committed.
        records = list(derived.records(result, self._topics))
        self._pending += await self._publisher.send_keyed(records)
        for topic, count in Counter(topic for topic, _, _ in records).items():
            m.RECORDS_OUT.labels(topic).inc(count)
        await self._dead_letters(result.dead_letters)

    async def _dead_letters(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        # A letter keeps its message's key (None for an unkeyed message), so
        # these go through send(), which spreads unkeyed records as Kafka does.
        for letter in letters:
            self._pending.append(
                await self._producer.send(
                    self._topics.dlq, letter.to_json_bytes(), key=letter.message.key
                )
            )
        m.DLQ_RECORDS.inc(len(letters))

    async def _checkpoint(self) -> None:
        """Changed states to the changelog; once they and every produce are acknowledged,
        commit the offsets processed so far.

        The waiting for acknowledgements and the commit run in the background while
        the next batches are processed (a checkpoint of ten thousand states took up
        to 1.5 s, every ``commit_interval_seconds``, with the loop stalled). What a
        checkpoint commits is fixed here: the offsets processed, the states and
        records produced, all before the next batch is applied. One runs at a time,
        so commits stay in order.
        """
        if self._halted:  # a batch was never written: committing would lose it
            return
        await self._drain()
        # The previous checkpoint first: a commit it could not make comes back
        # into the offsets this one commits.
        await self._settle()
        self._last_checkpoint = self._clock()
        if not (self._offsets or self._pending or self.store.has_dirty()):
            return
        started = time.perf_counter()
        states = list(self.store.take_dirty())
        changelog = await self._publisher.send_to(self._changelog, states)
        pending, self._pending = self._pending, []
        offsets, self._offsets = self._offsets, {}
        self._committing = asyncio.create_task(
            self._complete(changelog, pending, offsets, len(states), started)
        )

    async def _complete(
        self,
        changelog: list[Sent],
        pending: list[asyncio.Future[Any]],
        offsets: dict[TopicPartition, int],
        states: int,
        started: float,
    ) -> None:
        await asyncio.gather(*pending)
        ends = self.store.changelog_ends
        for partition, end in await asyncio.gather(*(sent.end_offset() for sent in changelog)):
            ends[partition] = max(ends.get(partition, 0), end)
        m.CHECKPOINT_STATES.inc(states)
        if offsets:
            try:
                await self._consumer.commit(offsets)
            except CommitFailedError:
                # The group is rebalancing; the revocation checkpoint commits them
                # (or newer offsets of the same partitions, which cover them).
                log.info("commit deferred: the group is rebalancing")
                for tp, offset in offsets.items():
                    self._offsets.setdefault(tp, offset)
                return
        m.CHECKPOINT_SECONDS.observe(time.perf_counter() - started)

    async def _settle(self) -> None:
        """Wait for the checkpoint in the background, raising what it raised."""
        if self._committing is not None:
            committing, self._committing = self._committing, None
            await committing

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._generation += 1
        async with self._lock:
            try:
                await self._checkpoint()
            except SinkStopped:
                log.warning("revoked while stopping with a batch ClickHouse refused: not committed")
            await self._settle()
            self._offsets.clear()
        self.ready.clear()

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._generation += 1
        owned = {tp.partition for tp in assigned if tp.topic in self._raw}
        # Under the lock: aiokafka hands out the new assignment's records while this
        # listener still reads the changelog back, and a batch applied before its
        # partition's states are restored crashed the worker (PartitionNotOwned; seen when
        # `scripts/dev run` restarted over an earlier run's state).
        async with self._lock:
            for partition in self.store.partitions - owned:
                self.store.drop(partition)
            await self._restore(owned)
        m.ASSIGNED_PARTITIONS.set(len(owned))
        log.info("worker ready: partitions %s, %d account states", sorted(owned), len(self.store))
        self.ready.set()

    async def _restore(self, partitions: set[int]) -> None:
        if not partitions:
            return
        tps = [TopicPartition(self._changelog, p) for p in sorted(partitions)]
        self._restorer.assign(tps)
        ends = await self._restorer.end_offsets(tps)
        # A partition this worker kept through the rebalance, whose changelog
        # nobody wrote since, is already current.
        todo = {
            tp: end
            for tp, end in ends.items()
            if not (
                tp.partition in self.store.partitions
                and self.store.changelog_ends.get(tp.partition, 0) == end
            )
        }
        if not todo:
            return
        started = time.perf_counter()
        records: dict[int, list[tuple[bytes, bytes | None]]] = {tp.partition: [] for tp in todo}
        await self._restorer.seek_to_beginning(*todo)
        left = {tp for tp, end in todo.items() if end > 0}
        while left:
            for tp in list(left):
                if await self._restorer.position(tp) >= todo[tp]:
                    left.discard(tp)
            if not left:
                break
            got = await self._restorer.getmany(*left, timeout_ms=1000)
            for tp, batch in got.items():
                records[tp.partition].extend(
                    (r.key, r.value) for r in batch if r.key is not None and r.offset < todo[tp]
                )
        restored = 0
        for tp, end in todo.items():
            restored += self.store.restore(tp.partition, records[tp.partition], end)
        m.RESTORED_STATES.inc(restored)
        log.info(
            "restored %d account states of partitions %s in %.2fs",
            restored,
            sorted(tp.partition for tp in todo),
            time.perf_counter() - started,
        )

    async def _export_gauges(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._update_gauges()
            except KafkaError as exc:  # e.g. mid-rebalance: the next round will do
                log.debug("consumer lag not exported this round: %s", exc)
            await asyncio.sleep(5.0)

    async def _update_gauges(self) -> None:
        m.STATE_ACCOUNTS.set(len(self.store))
        m.SINK_WAITING.set(1 if self._sink.waiting else 0)
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = self._offsets.get(tp)
            if position is None:
                position = await self._consumer.committed(tp) or 0
            m.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._engine.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._engine.on_assigned(assigned)


def _observe(records: list[ConsumerRecord[bytes, bytes]], result: BatchResult) -> None:
    now = time.time()
    for r in records[:: max(1, len(records) // 50)]:  # a sample is enough for a histogram
        m.EVENT_LAG.observe(max(0.0, now - r.timestamp / 1000))
    for outcome, count in result.outcomes.items():
        m.RECORDS_IN.labels("raw", outcome).inc(count)
