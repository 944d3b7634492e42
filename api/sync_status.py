"""Per-account sync state for answers: the collectors' live summary, else ``sync_runs``.

The collectors keep one JSON summary per account in the Redis hash named by
``SyncRuns.status_key`` (written by ``SyncRuns.record_status`` after every run). An
account missing there (not synced since Redis started) or a Redis outage falls back to
the ``sync_runs`` table, which knows the runs but not the schedule: no next due time.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from clickhouse_connect.driver.client import Client
from redis.exceptions import RedisError

from api.freshness import FreshnessRule
from api.schemas import Freshness
from clickhouse import queries_sync
from clickhouse.queries_sync import Key, SyncSummary
from socialpulse.contract import account_key, from_ms, to_ms

log = logging.getLogger(__name__)


def instant(epoch_s: Any) -> datetime | None:
    """The collectors' epoch seconds as an answer's instant (milliseconds, UTC)."""
    if not isinstance(epoch_s, int | float) or not math.isfinite(epoch_s):
        return None
    return from_ms(to_ms(datetime.fromtimestamp(epoch_s, UTC)))


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


class SyncStatus:
    def __init__(
        self,
        redis_client: redis.Redis,
        status_key: str,
        clickhouse: Client,
        rule: FreshnessRule,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = redis_client
        self._status_key = status_key
        self._clickhouse = clickhouse
        self._rule = rule
        self._now = now

    def summaries(self, keys: Sequence[Key]) -> dict[Key, SyncSummary]:
        found = self._live(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            found.update(queries_sync.summaries(self._clickhouse, missing))
        return found

    def freshness(
        self, observed: Mapping[Key, datetime | None], summaries: Mapping[Key, SyncSummary]
    ) -> dict[Key, Freshness]:
        now = self._now()
        out = {}
        for key, observed_at in observed.items():
            sync = summaries.get(key)
            out[key] = Freshness(
                state=self._rule.state(observed_at, sync, now),
                observed_at=observed_at,
                next_due_at=sync.next_due_at if sync else None,
            )
        return out

    def for_accounts(self, observed: Mapping[Key, datetime | None]) -> dict[Key, Freshness]:
        """Freshness of each account, given when each was last observed."""
        return self.freshness(observed, self.summaries(list(observed)))

    def for_account(
        self, platform: str, account_id: str, observed_at: datetime | None
    ) -> tuple[SyncSummary | None, Freshness]:
        key = (platform, account_id)
        summaries = self.summaries([key])
        return summaries.get(key), self.freshness({key: observed_at}, summaries)[key]

    def _live(self, keys: Sequence[Key]) -> dict[Key, SyncSummary]:
        if not keys:
            return {}
        try:
            raws = self._redis.hmget(self._status_key, [account_key(p, a) for p, a in keys])
        except RedisError as exc:  # the table still answers, without next due times
            log.warning("live sync status unavailable (%r); reading sync_runs", exc)
            return {}
        return {key: parse_live(raw) for key, raw in zip(keys, raws, strict=True) if raw}
