"""Read queries for the API: parameterised SQL only, tenancy applied here.

Every account-scoped query takes a :class:`Scope`. A workspace scope adds a condition on
the ``accounts`` registry (or, for one account, its in-memory index ``account_scope``,
m0008) inside the SQL itself, so a handler that forgets to check cannot leak another
workspace's rows.

The per-account reads with ``FINAL`` (here and in ``queries_timeseries``) filter in
``PREWHERE``, and only on columns of the table's sorting key. Every version of a row shares
those columns, so dropping rows before ``FINAL`` merges them keeps exactly the rows ``FINAL``
would. With the same conditions in ``WHERE``, ``FINAL`` first reads and merges every column
of the selected granules (ClickHouse does not move conditions to ``PREWHERE`` under
``FINAL`` by default), about twice the work (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse import scores
from socialpulse.contract import from_ms, to_ms


@dataclass(frozen=True)
class Scope:
    """Whose accounts a query may see: one workspace, or every one (admin)."""

    workspace: str | None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    def clause(self, params: dict[str, Any]) -> str:
        """For reads over many accounts: the workspace's rows of ``accounts FINAL`` as a set,
        which narrows both tables' reads by their sorting keys."""
        if self.workspace is None:
            return ""
        params["scope_workspace"] = self.workspace
        return (
            " AND (platform, account_id) IN (SELECT platform, account_id FROM accounts FINAL"
            " WHERE workspace = {scope_workspace:String})"
        )

    def account_clause(self, params: dict[str, Any]) -> str:
        """For reads of the one account named by ``{platform:String}`` and
        ``{account_id:String}``: a lookup in ``account_scope`` (m0008) instead of a read of
        ``accounts`` (about 5 ms of chdb per request). Evaluated once, as its arguments are
        the query's parameters."""
        if self.workspace is None:
            return ""
        params["scope_workspace"] = self.workspace
        return " AND " + tracks(
            "{scope_workspace:String}", "{platform:String}", "{account_id:String}"
        )


def tracks(workspace: str, platform: str, account_id: str) -> str:
    """SQL true when the workspace tracks the account now (``accounts FINAL`` has the row).

    A lookup in the ``account_scope`` Join table (m0008), which the insert into ``accounts``
    itself updates: no table read, no lag behind a tracking change.
    """
    return (
        f"joinGetOrNull('account_scope', 'is_deleted', {workspace}, {platform}, {account_id}) = 0"
    )


@dataclass(frozen=True)
class Overview:
    handle: str
    followers: int
    following: int | None
    posts_count: int | None
    observed_at: datetime
    growth: dict[str, tuple[int | None, float | None]]
    engagement_rate_30d: float | None
    posts_30d: int
    projected_followers_30d: float | None
    score: float | None


@dataclass(frozen=True)
class FollowerChange:
    observed_at: datetime
    previous_observed_at: datetime
    previous_followers: int
    followers: int
    delta: int


def overview(client: Client, scope: Scope, platform: str, account_id: str) -> Overview | None:
    """The account's current KPIs (``account_latest``) and its score within the platform
    (``account_scores_current`` through its in-memory copy; see :mod:`clickhouse.scores`)."""
    params: dict[str, Any] = {"platform": platform, "account_id": account_id}
    sql = (
        "SELECT handle, followers, following, posts_count, toUnixTimestamp64Milli(observed_at),"
        " growth_1d_change, growth_1d_rate, growth_7d_change, growth_7d_rate,"
        " growth_30d_change, growth_30d_rate, engagement_rate_30d, posts_30d,"
        " projected_followers_30d, " + scores.POINT + " FROM account_latest FINAL"
        " PREWHERE platform = {platform:String} AND account_id = {account_id:String}"
        + scope.account_clause(params)
    )
    rows = client.query(sql, parameters=params).result_rows
    if not rows:
        return None
    r = rows[0]
    growth = {"1d": (r[5], r[6]), "7d": (r[7], r[8]), "30d": (r[9], r[10])}
    score = r[14]
    if score is None:  # observed since the scores' last refresh
        score = scores.live(client, [(platform, account_id)]).get((platform, account_id))
    return Overview(r[0], r[1], r[2], r[3], from_ms(r[4]), growth, r[11], r[12], r[13], score)


def is_visible(client: Client, scope: Scope, platform: str, account_id: str) -> bool:
    """Whether the scope may see the account at all (tracked, or admin)."""
    if scope.workspace is None:
        return True
    params = {"workspace": scope.workspace, "platform": platform, "account_id": account_id}
    sql = "SELECT " + tracks("{workspace:String}", "{platform:String}", "{account_id:String}")
    return bool(client.query(sql, parameters=params).result_rows[0][0])


def follower_changes(
    client: Client,
    scope: Scope,
    platform: str,
    account_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    before: datetime | None,
    limit: int,
) -> list[FollowerChange]:
    """Newest first; ``before`` is the keyset cursor (exclusive)."""
    params: dict[str, Any] = {"platform": platform, "account_id": account_id, "limit": limit}
    conditions = ["platform = {platform:String}", "account_id = {account_id:String}"]
    # Instants travel as epoch milliseconds: exact, whatever the client's datetime formatting.
    for name, op, value in (("start", ">=", start), ("end", "<", end), ("before", "<", before)):
        if value is not None:
            params[name] = to_ms(value)
            conditions.append(f"observed_at {op} fromUnixTimestamp64Milli({{{name}:Int64}}, 'UTC')")
    sql = (
        "SELECT toUnixTimestamp64Milli(observed_at), toUnixTimestamp64Milli(previous_observed_at),"
        " previous_followers, followers, delta"
        " FROM follower_changes FINAL PREWHERE "
        + " AND ".join(conditions)
        + scope.account_clause(params)
        + " ORDER BY observed_at DESC LIMIT {limit:UInt32}"
    )
    return [
        FollowerChange(from_ms(ts), from_ms(prev_ts), prev_f, f, delta)
        for ts, prev_ts, prev_f, f, delta in client.query(sql, parameters=params).result_rows
    ]
