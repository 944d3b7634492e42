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
from collections.abc import Callable

from clickhouse_connect.driver.client import Client
from prometheus_client import Counter, Histogram

from socialpulse.contract import from_ms
from streams.processor import AccountChange, BatchResult

log = logging.getLogger(__name__)

SINK_ROWS = Counter("socialpulse_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SINK_ERRORS = Counter("socialpulse_sink_errors_total", "Failed ClickHouse inserts", ["table"])
SINK_LATENCY = Histogram("socialpulse_sink_insert_seconds", "ClickHouse insert latency", ["table"])

PROFILE_COLUMNS = [
    "platform", "account_id", "observed_at", "snapshot_id", "handle", "display_name",
    "followers", "following", "posts_count", "source", "sync_run_id", "schema_version",
]  # fmt: skip
CHANGE_COLUMNS = [
    "platform", "account_id", "observed_at", "previous_observed_at", "previous_followers",
    "followers", "delta", "version", "is_deleted",
]  # fmt: skip


class ClickHouseSink:
    def __init__(
        self,
        client: Client,
        *,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep

    async def write(self, batch: BatchResult) -> None:
        if batch.snapshots:
            await self._insert("profile_snapshots", PROFILE_COLUMNS, _profile_columns(batch))
        if batch.changes:
            await self._insert("follower_changes", CHANGE_COLUMNS, _change_columns(batch.changes))

    async def _insert(self, table: str, names: list[str], columns: list[list[object]]) -> None:
        backoff = 0.2
        while True:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(
                    self._client.insert,
                    table,
                    columns,
                    column_names=names,
                    column_oriented=True,
                )
            except Exception as exc:  # any failure: wait and retry, never drop the batch
                SINK_ERRORS.labels(table).inc()
                log.warning("insert into %s failed (%s); retrying in %.1fs", table, exc, backoff)
                await self._sleep(backoff)  # type: ignore[misc]
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            SINK_LATENCY.labels(table).observe(time.perf_counter() - started)
            SINK_ROWS.labels(table).inc(len(columns[0]))
            return


def _profile_columns(batch: BatchResult) -> list[list[object]]:
    s = batch.snapshots
    return [
        [x.platform.value for x in s],
        [x.account_id for x in s],
        [x.observed_at for x in s],
        [x.snapshot_id for x in s],
        [x.handle for x in s],
        [x.display_name for x in s],
        [x.followers for x in s],
        [x.following for x in s],
        [x.posts_count for x in s],
        [x.source for x in s],
        [x.sync_run_id for x in s],
        [x.schema_version for x in s],
    ]


def _change_columns(changes: list[AccountChange]) -> list[list[object]]:
    return [
        [c.platform for c in changes],
        [c.account_id for c in changes],
        [from_ms(c.row.observed_ms) for c in changes],
        [from_ms(c.row.previous_observed_ms) for c in changes],
        [c.row.previous_followers for c in changes],
        [c.row.followers for c in changes],
        [c.row.delta for c in changes],
        [c.row.version for c in changes],
        [int(c.row.is_deleted) for c in changes],
    ]
