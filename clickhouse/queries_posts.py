"""Posts of an account (``post_latest FINAL``: each post's latest observation) for the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse.queries import Scope
from socialpulse.contract import from_ms

# Sort keys: a fixed whitelist of columns, never user text.
POST_SORTS = {
    "engagement_rate": "engagement_rate",
    "interactions": "interactions",
    "published_at": "published_at",
}
_ACCOUNT = " WHERE platform = {platform:String} AND account_id = {account_id:String}"


@dataclass(frozen=True)
class Post:
    post_id: str
    published_at: datetime | None
    url: str | None
    media_type: str | None
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    views: int | None
    interactions: int | None
    engagement_rate: float | None
    observed_at: datetime


@dataclass(frozen=True)
class HourOfWeek:
    weekday: int  # ISO: 1 = Monday ... 7 = Sunday
    hour: int  # 0..23, UTC
    posts: int
    mean_engagement_rate: float
    mean_interactions: float


def posts(
    client: Client,
    scope: Scope,
    platform: str,
    account_id: str,
    *,
    sort: str,
    descending: bool,
    limit: int,
) -> list[Post]:
    """The account's posts sorted on ``sort`` (nulls last either way), then by post_id."""
    params: dict[str, Any] = {"platform": platform, "account_id": account_id, "limit": limit}
    direction = "DESC" if descending else "ASC"
    sql = (
        "SELECT post_id, toUnixTimestamp64Milli(published_at), url, media_type, likes, comments,"
        " shares, saves, views, interactions, engagement_rate, toUnixTimestamp64Milli(observed_at)"
        " FROM post_latest FINAL"
        + _ACCOUNT
        + scope.account_clause(params)
        + f" ORDER BY {POST_SORTS[sort]} {direction} NULLS LAST, post_id LIMIT {{limit:UInt32}}"
    )
    return [
        Post(
            post_id=r[0],
            published_at=None if r[1] is None else from_ms(r[1]),
            url=r[2],
            media_type=r[3],
            likes=r[4],
            comments=r[5],
            shares=r[6],
            saves=r[7],
            views=r[8],
            interactions=r[9],
            engagement_rate=r[10],
            observed_at=from_ms(r[11]),
        )
        for r in client.query(sql, parameters=params).result_rows
    ]


def best_times(client: Client, scope: Scope, platform: str, account_id: str) -> list[HourOfWeek]:
    """Mean engagement rate of the account's posts by UTC hour of week, best first.

    Only posts with a publication time and a defined engagement rate count.
    """
    params: dict[str, Any] = {"platform": platform, "account_id": account_id}
    sql = (
        "SELECT toDayOfWeek(assumeNotNull(published_at)) AS weekday,"
        " toHour(assumeNotNull(published_at)) AS hour, count() AS posts,"
        " avg(assumeNotNull(engagement_rate)) AS mean_rate, avg(ifNull(interactions, 0))"
        " FROM post_latest FINAL"
        + _ACCOUNT
        + " AND published_at IS NOT NULL AND engagement_rate IS NOT NULL"
        + scope.account_clause(params)
        + " GROUP BY weekday, hour ORDER BY mean_rate DESC, weekday, hour"
    )
    return [
        HourOfWeek(int(d), int(h), int(n), float(rate), float(inter))
        for d, h, n, rate, inter in client.query(sql, parameters=params).result_rows
    ]
