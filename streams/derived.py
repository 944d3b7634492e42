"""Records for the derived topics downstream consumers read (CONTRACT §2).

``metrics.account``: the account's current KPIs after each batch that
touched it. ``events.follower-changes``: one record per change row,
``retracted: true`` when a late snapshot removed it. ``events.alerts``:
milestones and anomalies with a deterministic ``alert_id``. All are keyed by
account and carry ``version``: consumers keep the highest version per key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from socialpulse.contract import SCHEMA_VERSION, Topics, account_key, format_ms
from streams.account import Kpis
from streams.processor import BatchResult

Record = tuple[str, bytes, bytes]  # topic, key, value


class _Formatted(dict[int, str]):
    """format_ms with a memory: a batch's records repeat their timestamps (an account's
    KPIs and its newest change share one; a change's previous one was formatted before)."""

    def __missing__(self, ms: int) -> str:
        text = self[ms] = format_ms(ms)
        return text


class _Keys(dict[tuple[str, str], bytes]):
    def __missing__(self, account: tuple[str, str]) -> bytes:
        key = self[account] = account_key(*account).encode()
        return key


def kpis_json(platform: str, account_id: str, k: Kpis, times: dict[int, str]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "platform": platform,
        "account_id": account_id,
        "handle": k.handle,
        "display_name": k.display_name,
        "followers": k.followers,
        "following": k.following,
        "posts_count": k.posts_count,
        "observed_at": times[k.observed_ms],
        "growth": {p: {"change": g.change, "rate": g.rate} for p, g in k.growth.items()},
        "engagement_rate_30d": k.engagement_rate_30d,
        "posts_30d": k.posts_30d,
        "projected_followers_30d": k.projected_followers_30d,
        "version": k.version,
    }


def records(batch: BatchResult, topics: Topics) -> Iterator[Record]:
    times, keys = _Formatted(), _Keys()
    for account, k in batch.latest.items():
        body = kpis_json(*account, k, times)
        yield topics.metrics_account, keys[account], orjson.dumps(body)
    for (account, _), row in batch.change_rows.items():
        platform, account_id = account
        deleted = row.is_deleted
        body = {
            "schema_version": SCHEMA_VERSION,
            "platform": platform,
            "account_id": account_id,
            "observed_at": times[row.observed_ms],
            "previous_observed_at": None if deleted else times[row.previous_observed_ms],
            "previous_followers": None if deleted else row.previous_followers,
            "followers": None if deleted else row.followers,
            "delta": None if deleted else row.delta,
            "retracted": deleted,
            "version": row.version,
        }
        yield topics.follower_changes, keys[account], orjson.dumps(body)
    for account, alert in batch.alerts.values():
        platform, account_id = account
        body = {
            "schema_version": SCHEMA_VERSION,
            "alert_id": alert.alert_id,
            "kind": alert.kind,
            "platform": platform,
            "account_id": account_id,
            "observed_at": times[alert.observed_ms],
            "followers": alert.followers,
            "detail": alert.detail,
        }
        yield topics.alerts, keys[account], orjson.dumps(body)
