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


def kpis_json(platform: str, account_id: str, k: Kpis) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "platform": platform,
        "account_id": account_id,
        "handle": k.handle,
        "display_name": k.display_name,
        "followers": k.followers,
        "following": k.following,
        "posts_count": k.posts_count,
        "observed_at": format_ms(k.observed_ms),
        "growth": {p: {"change": g.change, "rate": g.rate} for p, g in k.growth.items()},
        "engagement_rate_30d": k.engagement_rate_30d,
        "posts_30d": k.posts_30d,
        "projected_followers_30d": k.projected_followers_30d,
        "version": k.version,
    }


def records(batch: BatchResult, topics: Topics) -> Iterator[Record]:
    for (platform, account_id), k in batch.latest.items():
        yield _record(
            topics.metrics_account, platform, account_id, kpis_json(platform, account_id, k)
        )
    for ((platform, account_id), _), row in batch.change_rows.items():
        yield _record(
            topics.follower_changes,
            platform,
            account_id,
            {
                "schema_version": SCHEMA_VERSION,
                "platform": platform,
                "account_id": account_id,
                "observed_at": format_ms(row.observed_ms),
                "previous_observed_at": None
                if row.is_deleted
                else format_ms(row.previous_observed_ms),
                "previous_followers": None if row.is_deleted else row.previous_followers,
                "followers": None if row.is_deleted else row.followers,
                "delta": None if row.is_deleted else row.delta,
                "retracted": row.is_deleted,
                "version": row.version,
            },
        )
    for (platform, account_id), alert in batch.alerts.values():
        yield _record(
            topics.alerts,
            platform,
            account_id,
            {
                "schema_version": SCHEMA_VERSION,
                "alert_id": alert.alert_id,
                "kind": alert.kind,
                "platform": platform,
                "account_id": account_id,
                "observed_at": format_ms(alert.observed_ms),
                "followers": alert.followers,
                "detail": alert.detail,
            },
        )


def _record(topic: str, platform: str, account_id: str, body: dict[str, Any]) -> Record:
    return topic, account_key(platform, account_id).encode(), orjson.dumps(body)
