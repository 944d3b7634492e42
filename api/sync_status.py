"""Per-account sync state for answers: the collectors' live summary, else ``sync_runs``.

The collectors keep one JSON summary per account in the Redis hash named by
``SyncRuns.status_key`` (written by ``SyncRuns.record_status`` after every run). An
account missing there (not synced since Redis started) or a Redis outage falls back to
the ``sync_runs`` table, which knows the runs but not the schedule: no next due time.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from clickhouse_connect.driver.client import Client
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from api.freshness import FreshnessRule, FreshnessState
from api.offload import Offload
from api.schemas import Freshness
from clickhouse import queries_sync
from clickhouse.queries_sync import Key, SyncSummary
from socialpulse.contract import account_key, from_ms

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


def instant(epoch_s: Any) -> datetime | None:
    """The collectors' epoch seconds as an answer's instant (milliseconds, UTC); None for
    anything else, a malformed status must not fail the answer it is part of."""
    if not isinstance(epoch_s, int | float) or not math.isfinite(epoch_s):
        return None
    # What from_ms(to_ms(datetime.fromtimestamp(epoch_s, UTC))) gives (fromtimestamp rounds
    # to the microsecond, to_ms floors to the millisecond) at a third of the CPU. The
    # fraction is scaled on its own, as fromtimestamp does: epoch_s * 1e6 as a whole loses
    # the last microsecond (1125899907.5939994 s gave .594 instead of .593).
    frac, whole = math.modf(epoch_s)
    try:
        return from_ms(int(whole) * 1000 + round(frac * 1_000_000) // 1000)
    except OverflowError:
        return None


# A status entry changes when its account is synced (minutes to hours apart) and is read by
# every answer listing the account; parsing one (JSON and four instants) was about a third
# of the CPU of an accounts-list page. Parsed entries are immutable, so the parse of the
# same bytes is kept (about 2 kB each).
@functools.lru_cache(maxsize=16_384)
def parse_live(raw: bytes | str) -> SyncSummary:
    """One entry of the collectors' status hash (see ``SyncRuns.record_status``)."""
    status = json.loads(raw)
    error = status.get("last_error") or {}
    finished = instant(status.get("last_finished_at"))
    due = status.get("next_due_at")
    # -inf is the scheduler's "due at once": due since the run that set it.
    next_due = finished if due == -math.inf else instant(due)
    return SyncSummary(
        source="live",
        last_run_id=status.get("last_run_id"),
        last_state=status.get("last_state"),
        last_run_at=finished,
        last_success_at=instant(status.get("last_success_at")),
        last_error_class=error.get("class"),
        last_error=error.get("message"),
        last_error_at=instant(status.get("last_error_at")),
        next_due_at=next_due,
    )


# Accounts without a live status are read from sync_runs: never-synced ones (tracked, first
# sync pending) and, after Redis lost its data, those not synced since. That answer is kept
# for a while: with 10 never-synced accounts of 1,067 (bench_api's workspace), up to a third
# of 50-item list pages hold one, and each paid a sync_runs query. Staleness is bounded by
# the collectors: a run writes the live status as well as the table, and live is read first.
_TABLE_KEPT_S = 30.0
_TABLE_KEPT_MAX = 100_000


class SyncStatus:
    """Sync summaries and freshness for the async handlers: live from Redis, else the table
    (read in a thread)."""

    def __init__(
        self,
        redis_async: AsyncRedis,
        status_key: str,
        clickhouse: Client,
        rule: FreshnessRule,
        offload: Offload,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis_async = redis_async
        self._status_key = status_key
        self._clickhouse = clickhouse
        self._rule = rule
        self._offload = offload
        self._now = now
        # The table's answers for accounts without a live status (none: never synced),
        # with when each expires: see _TABLE_KEPT_S.
        self._table: dict[Key, tuple[float, SyncSummary | None]] = {}

    def _from_table(self, missing: Sequence[Key]) -> dict[Key, SyncSummary]:
        """Blocking: ``sync_runs``'s summaries of accounts Redis lacks, kept for a while."""
        fetched = queries_sync.summaries(self._clickhouse, missing)
        if len(self._table) >= _TABLE_KEPT_MAX:
            self._table.clear()
        expires = time.monotonic() + _TABLE_KEPT_S
        for key in missing:
            self._table[key] = (expires, fetched.get(key))
        return fetched

    def _kept(self, keys: Sequence[Key]) -> tuple[dict[Key, SyncSummary], list[Key]]:
        """The table's recent answers for ``keys``, and the keys it has none for."""
        now = time.monotonic()
        found, missing = {}, []
        for key in keys:
            kept = self._table.get(key)
            if kept is None or kept[0] <= now:
                missing.append(key)
            elif kept[1] is not None:
                found[key] = kept[1]
        return found, missing

    async def fetch_live(self, keys: Sequence[Key]) -> dict[Key, SyncSummary]:
        """The collectors' summaries of ``keys`` that Redis has; {} when Redis is away."""
        if not keys:
            return {}
        try:
            raws = await self._redis_async.hmget(
                self._status_key, [account_key(p, a) for p, a in keys]
            )
        except RedisError as exc:  # the table still answers, without next due times
            log.warning("live sync status unavailable (%r); reading sync_runs", exc)
            return {}
        return _parsed(keys, raws)

    async def read_with_live(
        self, keys: Sequence[Key], read: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> tuple[T, dict[Key, SyncSummary]]:
        """``read`` (a blocking ClickHouse read) in a thread, while the live summaries of
        ``keys`` come from Redis: one round trip off the answer's time."""
        live = asyncio.ensure_future(self.fetch_live(keys))
        try:
            result = await self._offload(read, *args, **kwargs)
        except BaseException:
            live.cancel()
            raise
        return result, await live

    async def summaries(
        self, keys: Sequence[Key], live: Mapping[Key, SyncSummary] | None = None
    ) -> dict[Key, SyncSummary]:
        """The live summaries (given, or fetched from Redis), then ``sync_runs``'s, read in a
        thread and only for accounts Redis lacks."""
        found = dict(live) if live is not None else await self.fetch_live(keys)
        kept, missing = self._kept([k for k in keys if k not in found])
        found.update(kept)
        if missing:
            found.update(await self._offload(self._from_table, missing))
        return found

    async def for_account(
        self,
        platform: str,
        account_id: str,
        observed_at: datetime | None,
        live: Mapping[Key, SyncSummary] | None = None,
    ) -> tuple[SyncSummary | None, Freshness]:
        key = (platform, account_id)
        summaries = await self.summaries([key], live)
        return summaries.get(key), self.freshness({key: observed_at}, summaries)[key]

    def freshness(
        self, observed: Mapping[Key, datetime | None], summaries: Mapping[Key, SyncSummary]
    ) -> dict[Key, Freshness]:
        return {
            key: Freshness(state=state, observed_at=observed_at, next_due_at=next_due_at)
            for key, (state, observed_at, next_due_at) in self.freshness_parts(
                observed, summaries
            ).items()
        }

    def freshness_parts(
        self, observed: Mapping[Key, datetime | None], summaries: Mapping[Key, SyncSummary]
    ) -> dict[Key, tuple[FreshnessState, datetime | None, datetime | None]]:
        """:meth:`freshness`'s fields (state, observed_at, next_due_at), without the models."""
        now = self._now()
        out = {}
        for key, observed_at in observed.items():
            sync = summaries.get(key)
            out[key] = (
                self._rule.state(observed_at, sync, now),
                observed_at,
                sync.next_due_at if sync else None,
            )
        return out


def _parsed(keys: Sequence[Key], raws: Sequence[bytes | str | None]) -> dict[Key, SyncSummary]:
    """The entries found, parsed; one that does not parse is left to the table's answer."""
    out = {}
    for key, raw in zip(keys, raws, strict=True):
        if not raw:
            continue
        try:
            out[key] = parse_live(raw)
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("live sync status of %s:%s is malformed (%r)", *key, exc)
    return out
