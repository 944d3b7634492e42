"""Sync reads for the API: the ``sync_runs`` table, and which accounts a token may sync.

``sync_runs`` is the durable copy of the collectors' live Redis state (one row per run,
furthest state wins, read with ``FINAL``). The API reads Redis first and this table when
Redis has nothing, so these queries answer the same shapes the live state does.

Account keys travel as ``"platform:account_id"`` strings in one array parameter: platform
names never contain ``:``, so the key is unambiguous and the SQL stays parameterised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse.queries import Scope
from socialpulse.contract import account_key, from_ms

Key = tuple[str, str]  # (platform, account_id)
_HAS_KEY = "has({keys:Array(String)}, concat(platform, ':', account_id))"


@dataclass(frozen=True)
class RunRow:
    run_id: str
    platform: str
    account_id: str
    handle: str | None
    trigger: str
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    profiles: int
    posts: int
    cache_hit: bool
    error_class: str | None
    error: str | None


@dataclass(frozen=True)
class SyncSummary:
    """One account's sync history in brief, from Redis (``live``) or ``sync_runs`` (``table``)."""

    source: str
    last_run_id: str | None = None
    last_state: str | None = None
    last_run_at: datetime | None = None  # when the last run finished (or last moved)
    last_success_at: datetime | None = None
    last_error_class: str | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    next_due_at: datetime | None = None  # only the live state knows the schedule

    @property
    def failing(self) -> bool:
        """The newest outcome is a failure: no success since the last error."""
        if self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at >= self.last_success_at


@dataclass(frozen=True)
class StatusAccount:
    platform: str
    account_id: str
    handle: str | None
    observed_at: datetime | None


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def _keys(keys: Sequence[Key]) -> list[str]:
    return [account_key(p, a) for p, a in keys]


def run(client: Client, run_id: str) -> RunRow | None:
    rows = client.query(
        "SELECT run_id, platform, account_id, handle, trigger, state,"
        " toUnixTimestamp64Milli(created_at), toUnixTimestamp64Milli(started_at),"
        " toUnixTimestamp64Milli(finished_at), duration_ms, profiles, posts, cache_hit,"
        " error_class, error FROM sync_runs FINAL WHERE run_id = {run_id:String}",
        parameters={"run_id": run_id},
    ).result_rows
    if not rows:
        return None
    r = rows[0]
    return RunRow(
        r[0], r[1], r[2], r[3], r[4], r[5], from_ms(r[6]), _ts(r[7]), _ts(r[8]), r[9],
        r[10], r[11], bool(r[12]), r[13], r[14],
    )  # fmt: skip


def summaries(client: Client, keys: Sequence[Key]) -> dict[Key, SyncSummary]:
    """The accounts' latest run, latest success and latest failure, from ``sync_runs``."""
    if not keys:
        return {}
    sql = (
        "SELECT platform, account_id, argMax(run_id, created_at), argMax(state, created_at),"
        " toUnixTimestamp64Milli(argMax(coalesce(finished_at, started_at, created_at),"
        "  created_at)),"
        " toUnixTimestamp64Milli(maxIf(finished_at, state = 'SUCCESS')),"
        " argMaxIf(error_class, finished_at, state = 'FAILURE'),"
        " argMaxIf(error, finished_at, state = 'FAILURE'),"
        " toUnixTimestamp64Milli(maxIf(finished_at, state = 'FAILURE'))"
        f" FROM sync_runs FINAL WHERE {_HAS_KEY} GROUP BY platform, account_id"
    )
    rows = client.query(sql, parameters={"keys": _keys(keys)}).result_rows
    return {
        (r[0], r[1]): SyncSummary("table", r[2], r[3], _ts(r[4]), _ts(r[5]), r[6], r[7], _ts(r[8]))
        for r in rows
    }


def sync_targets(client: Client, scope: Scope, keys: Sequence[Key]) -> dict[Key, str | None]:
    """Which of ``keys`` the scope may sync, each with the handle to poll it by.

    A workspace may sync what it tracks; admin anything. The handle is the one last
    observed (handles get renamed), else the tracked one, else unknown.
    """
    if not keys:
        return {}
    params: dict[str, Any] = {"keys": _keys(keys)}
    tracked = client.query(
        f"SELECT platform, account_id, any(handle) FROM accounts FINAL WHERE {_HAS_KEY}"
        + scope.clause(params)
        + " GROUP BY platform, account_id",
        parameters=params,
    ).result_rows
    observed = client.query(
        f"SELECT platform, account_id, handle FROM account_latest FINAL WHERE {_HAS_KEY}",
        parameters={"keys": params["keys"]},
    ).result_rows
    handles: dict[Key, str | None] = {(p, a): h or None for p, a, h in tracked}
    if scope.workspace is None:
        handles = {key: handles.get(key) for key in keys}
    for p, a, h in observed:
        if (p, a) in handles and h:
            handles[(p, a)] = h
    return handles


def status_accounts(
    client: Client,
    scope: Scope,
    *,
    platform: str | None,
    account_id: str | None,
    after: Key | None,
    limit: int,
) -> list[StatusAccount]:
    """The accounts a sync status page covers, by (platform, account_id), after the cursor.

    A workspace's tracked accounts; admin: every account tracked anywhere or observed
    (as ``GET /v1/accounts``).
    """
    params: dict[str, Any] = {"limit": limit}
    ids = (
        "SELECT platform, account_id FROM accounts FINAL WHERE 1 = 1"
        + scope.clause(params)
        + " UNION DISTINCT SELECT platform, account_id FROM account_latest FINAL WHERE 1 = 1"
        + scope.clause(params)
    )
    where = ""
    if platform is not None:
        params["platform"] = platform
        where += " AND platform = {platform:String}"
    if account_id is not None:
        params["account_id"] = account_id
        where += " AND account_id = {account_id:String}"
    if after is not None:
        params["after_platform"], params["after_account_id"] = after
        where += (
            " AND (platform, account_id) > ({after_platform:String}, {after_account_id:String})"
        )
    sql = (
        "SELECT platform, account_id, l.handle, toUnixTimestamp64Milli(l.observed_at)"
        f" FROM ({ids}) AS ids LEFT JOIN account_latest AS l FINAL USING (platform, account_id)"
        " WHERE 1 = 1" + where + " ORDER BY platform, account_id LIMIT {limit:UInt32}"
        " SETTINGS join_use_nulls = 1"
    )
    return [
        StatusAccount(p, a, h, _ts(ms))
        for p, a, h, ms in client.query(sql, parameters=params).result_rows
    ]


def observed_at(client: Client, platform: str, account_id: str) -> datetime | None:
    """When the account was last observed (``account_latest``), for an answer's freshness."""
    rows = client.query(
        "SELECT toUnixTimestamp64Milli(observed_at) FROM account_latest FINAL"
        " WHERE platform = {platform:String} AND account_id = {account_id:String}",
        parameters={"platform": platform, "account_id": account_id},
    ).result_rows
    return from_ms(rows[0][0]) if rows else None
