"""Account lists for the API: tracked accounts with current KPIs, and leaderboards.

Tenancy is in the SQL: the set of accounts a query may return is filtered with
:meth:`Scope.clause`. ``label_workspace`` only decorates rows with the asking
workspace's own/competitor label; it never widens what is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse import scores
from clickhouse.queries import Scope
from socialpulse.contract import from_ms

_KPI_COLUMNS = (
    "platform, account_id, coalesce(l.handle, t.handle, account_id), t.label,"
    " l.followers, l.following, l.posts_count, toUnixTimestamp64Milli(l.observed_at),"
    " l.growth_1d_change, l.growth_1d_rate, l.growth_7d_change, l.growth_7d_rate,"
    " l.growth_30d_change, l.growth_30d_rate, l.engagement_rate_30d, l.posts_30d,"
    " l.projected_followers_30d, s.score"
)
_JOINS = (
    scores.JOIN + " LEFT JOIN (SELECT platform, account_id, handle, label FROM accounts FINAL"
    "  WHERE workspace = {label_workspace:String}) AS t USING (platform, account_id)"
)
# Leaderboard metrics: the column ranked on (a fixed whitelist, never user text).
LEADERBOARD_METRICS = {
    "growth_7d": "l.growth_7d_rate",
    "engagement_rate_30d": "l.engagement_rate_30d",
    "followers": "l.followers",
}


@dataclass(frozen=True)
class AccountRow:
    platform: str
    account_id: str
    handle: str
    label: str | None
    followers: int | None
    following: int | None
    posts_count: int | None
    observed_at: datetime | None
    growth: dict[str, tuple[int | None, float | None]]
    engagement_rate_30d: float | None
    posts_30d: int | None
    projected_followers_30d: float | None
    score: float | None


@dataclass(frozen=True)
class AccountFilter:
    platform: str | None = None
    label: str | None = None
    q: str | None = None


def _row(r: Sequence[Any]) -> AccountRow:
    growth = {"1d": (r[8], r[9]), "7d": (r[10], r[11]), "30d": (r[12], r[13])}
    observed = None if r[7] is None else from_ms(r[7])
    return AccountRow(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], observed, growth, r[14], r[15], r[16], r[17]
    )


def _rows(client: Client, result: Sequence[Sequence[Any]]) -> list[AccountRow]:
    rows = [_row(r) for r in result]
    # Observed since the scores' last refresh: scored live (clickhouse/scores.py).
    missing = [(r.platform, r.account_id) for r in rows if r.score is None and r.observed_at]
    if not missing:
        return rows
    found = scores.live(client, missing)
    return [
        replace(r, score=found.get((r.platform, r.account_id)))
        if r.score is None and r.observed_at
        else r
        for r in rows
    ]


def _filters(f: AccountFilter, params: dict[str, Any]) -> str:
    sql = ""
    if f.platform is not None:
        params["platform"] = f.platform
        sql += " AND platform = {platform:String}"
    if f.label is not None:
        params["label"] = f.label
        sql += " AND t.label = {label:String}"
    if f.q:
        params["q"] = f.q
        sql += (
            " AND (positionCaseInsensitiveUTF8(coalesce(l.handle, t.handle, ''), {q:String}) > 0"
            " OR positionCaseInsensitiveUTF8(account_id, {q:String}) > 0)"
        )
    return sql


def list_accounts(
    client: Client,
    scope: Scope,
    label_workspace: str,
    where: AccountFilter,
    *,
    after: tuple[str, str] | None,
    limit: int,
) -> list[AccountRow]:
    """Tracked (or, for admin, all known) accounts by (platform, account_id), after the cursor.

    An account tracked but not observed yet is listed with null KPIs.
    """
    params: dict[str, Any] = {"label_workspace": label_workspace, "limit": limit}
    ids = (
        "SELECT platform, account_id FROM accounts FINAL WHERE 1 = 1"
        + scope.clause(params)
        + " UNION DISTINCT SELECT platform, account_id FROM account_latest FINAL WHERE 1 = 1"
        + scope.clause(params)
    )
    keyset = ""
    if after is not None:
        params["after_platform"], params["after_account_id"] = after
        keyset = (
            " AND (platform, account_id) > ({after_platform:String}, {after_account_id:String})"
        )
    sql = (
        f"SELECT {_KPI_COLUMNS} FROM ({ids}) AS ids"
        " LEFT JOIN account_latest AS l FINAL USING (platform, account_id)"
        + _JOINS
        + " WHERE 1 = 1"
        + _filters(where, params)
        + keyset
        + " ORDER BY platform, account_id LIMIT {limit:UInt32} SETTINGS join_use_nulls = 1"
    )
    return _rows(client, client.query(sql, parameters=params).result_rows)


def leaderboard(
    client: Client,
    scope: Scope,
    label_workspace: str,
    where: AccountFilter,
    *,
    metric: str,
    limit: int,
) -> list[AccountRow]:
    """Observed accounts in scope, best first on ``metric`` (nulls last)."""
    column = LEADERBOARD_METRICS[metric]
    params: dict[str, Any] = {"label_workspace": label_workspace, "limit": limit}
    sql = (
        f"SELECT {_KPI_COLUMNS} FROM account_latest AS l FINAL"
        + _JOINS
        + " WHERE 1 = 1"
        + _filters(where, params)
        + scope.clause(params)
        + f" ORDER BY {column} DESC NULLS LAST, platform, account_id"
        " LIMIT {limit:UInt32} SETTINGS join_use_nulls = 1"
    )
    return _rows(client, client.query(sql, parameters=params).result_rows)
