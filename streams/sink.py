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


class ClickHouseSink:
    def __init__(
        self,
        client: Client,
        *,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self.waiting = False  # True while ClickHouse refuses: exported as backpressure
        self._contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    async def write(self, batch: BatchResult) -> None:
        # Raw tables first: if a crash interrupts the batch, the replay
        # rewrites everything anyway.
        await self._insert_all([t for t in columns.for_batch(batch) if t[2] and t[2][0]])

    async def insert(self, table: str, names: list[str], rows: list[list[object]]) -> None:
        """Row-oriented rows into one table, with the same retry-until-acknowledged."""
        if rows:
            await self._insert_all(
                [(table, names, [list(column) for column in zip(*rows, strict=True)])]
            )

    async def _insert_all(self, tables: list[columns.Table]) -> None:
        """Insert the tables in order, resuming at the one that failed until all are in.

        One thread hop for the whole batch: with a hop per table, each next insert
        waited for the event loop, which was busy processing the next batch, so a
        batch's inserts did not overlap that processing (measured: the loop then
        waited up to 0.9 s per batch for them).
        """
        backoff, done = 0.2, 0
        while done < len(tables):
            done, error = await asyncio.to_thread(self._insert_from, tables, done)
            if error is None:
                break
            table = tables[done][0]
            SINK_ERRORS.labels(table).inc()
            self.waiting = True
            log.warning("insert into %s failed (%s); retrying in %.1fs", table, error, backoff)
            await self._sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)
        self.waiting = False

    def _insert_from(self, tables: list[columns.Table], start: int) -> tuple[int, Exception | None]:
        """(index of the first table not inserted, its error), in the worker's insert thread."""
        for i in range(start, len(tables)):
            table, names, data = tables[i]
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
                return i, exc
            SINK_LATENCY.labels(table).observe(time.perf_counter() - started)
            SINK_ROWS.labels(table).inc(len(data[0]))
            SINK_BATCH.labels(table).observe(len(data[0]))
        return len(tables), None


# A replay batch may span more than the default 100 monthly partitions: ClickHouse would
# refuse it on every retry (a stalled worker), and chdb's streaming insert drops it
# silently (tests/integration/test_sink.py). Such a batch makes many small parts instead,
# for the background merges to join.
_INSERT_SETTINGS = {"max_partitions_per_insert_block": 0}
