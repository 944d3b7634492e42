"""Write a processed batch to ClickHouse, retrying until it is acknowledged.

The caller acks the batch's offsets only after :meth:`ClickHouseSink.write`
returns, so a ClickHouse outage stalls the stream (backpressure) instead of
losing rows. Rows carry deterministic keys and versions, so writing a batch
twice changes nothing a ``FINAL`` read can see.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext
from prometheus_client import Counter, Histogram

from streams import columns
from streams.processor import BatchResult

log = logging.getLogger(__name__)

SINK_ROWS = Counter("socialpulse_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SINK_ERRORS = Counter("socialpulse_sink_errors_total", "Failed ClickHouse inserts", ["table"])
SINK_LATENCY = Histogram("socialpulse_sink_insert_seconds", "ClickHouse insert latency", ["table"])
SINK_BATCH = Histogram(
    "socialpulse_sink_batch_rows",
    "Rows per insert",
    ["table"],
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000),
)


class SinkStopped(Exception):
    """The worker was asked to stop while ClickHouse refused a batch: it is not written."""


class ClickHouseSink:
    def __init__(
        self,
        client: Client,
        *,
        stop: asyncio.Event | None = None,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if client.get_client_setting("session_id"):
            # clickhouse-connect refuses concurrent queries in one session, and the sink
            # inserts a batch's tables at once: every insert would fail and be retried.
            raise ValueError("the sink needs a client without a session (make_client's)")
        self._client = client
        # Set when the worker is asked to stop: retrying then ends with SinkStopped, and the
        # caller commits nothing after its last checkpoint (the input is processed again).
        self._stop = stop
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self.waiting = False  # True while ClickHouse refuses: exported as backpressure
        self._contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    async def write(self, batch: BatchResult) -> None:
        # In no particular order: if a crash interrupts the batch, the replay
        # rewrites every table anyway.
        await self._insert_all([t for t in columns.for_batch(batch) if t[2] and t[2][0]])

    async def insert(self, table: str, names: list[str], rows: list[list[object]]) -> None:
        """Row-oriented rows into one table, with the same retry-until-acknowledged."""
        if rows:
            await self._insert_all(
                [(table, names, [list(column) for column in zip(*rows, strict=True)])]
            )

    async def _insert_all(self, tables: list[columns.Table]) -> None:
        """Insert the tables at once, each in a thread of its own, retrying the ones that
        failed until all are in.

        At once: chdb (and ClickHouse) takes 10-30 ms per insert whatever its size, and
        the five tables of a batch one after another kept each batch's rows from being
        queryable for the sum of those. Threads, not one per table in turn from the event
        loop: each next insert then waited for the loop, busy processing the next batch
        (measured: up to 0.9 s per batch).
        """
        backoff, todo = 0.2, tables
        while True:
            errors = await asyncio.gather(*(asyncio.to_thread(self._insert, t) for t in todo))
            failed = [(t, e) for t, e in zip(todo, errors, strict=True) if e is not None]
            if not failed:
                break
            todo = [t for t, _ in failed]
            for (table, _, _), _ in failed:
                SINK_ERRORS.labels(table).inc()
            self.waiting = True
            log.warning(
                "insert into %s failed (%s); retrying in %.1fs",
                ", ".join(t[0] for t in todo),
                failed[0][1],
                backoff,
            )
            await self._pause(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)
        self.waiting = False

    async def _pause(self, seconds: float) -> None:
        """The backoff, cut short by a stop request (which raises SinkStopped)."""
        if self._stop is None:
            await self._sleep(seconds)
            return
        sleeping = asyncio.ensure_future(self._sleep(seconds))
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            stopping.cancel()
        if self._stop.is_set():
            raise SinkStopped("asked to stop while ClickHouse refused inserts")

    def _insert(self, target: columns.Table) -> Exception | None:
        """One table's rows, in a thread of the loop's executor; the error, if it failed."""
        table, names, data = target
        started = time.perf_counter()
        key = (table, tuple(names))
        try:
            # A kept insert context: without one, clickhouse-connect asks the server
            # for the table's column types before every insert (a query per table
            # per batch, about a sixth of the insert thread's time).
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = self._client.create_insert_context(
                    table, names, column_oriented=True, settings=_INSERT_SETTINGS
                )
            self._client.insert(data=data, context=context)
        except Exception as exc:  # any failure: the caller waits and retries, never drops
            # Built afresh next time: it may hold this data, or types the table no
            # longer has.
            self._contexts.pop(key, None)
            return exc
        SINK_LATENCY.labels(table).observe(time.perf_counter() - started)
        SINK_ROWS.labels(table).inc(len(data[0]))
        SINK_BATCH.labels(table).observe(len(data[0]))
        return None


# A replay batch may span more than the default 100 monthly partitions: ClickHouse would
# refuse it on every retry (a stalled worker), and chdb's streaming insert drops it
# silently (tests/integration/test_sink.py). Such a batch makes many small parts instead,
# for the background merges to join.
_INSERT_SETTINGS = {"max_partitions_per_insert_block": 0}
