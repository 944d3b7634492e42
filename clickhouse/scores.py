"""The score (docs/metrics.md): read from ``account_scores_current``, live for the newest accounts.

``account_scores_current`` (migration m0006) holds the ``account_scores`` view's answer as of
its last refresh (every 10 s). An account observed for the first time since then has no row
there; :func:`live` asks the view itself for those, so an observed account always has a score.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

Key = tuple[str, str]

# A scalar subquery for a query with {platform:String} and {account_id:String}: NULL when the
# account has no row (yet).
POINT = (
    "(SELECT score FROM account_scores_current"
    " WHERE platform = {platform:String} AND account_id = {account_id:String} LIMIT 1)"
)
# A join for queries over many accounts (with join_use_nulls = 1: NULL when missing).
JOIN = " LEFT JOIN account_scores_current AS s USING (platform, account_id)"


def live(client: Client, keys: Sequence[Key]) -> dict[Key, float]:
    """The accounts' scores computed now by the ``account_scores`` view (ranks the platform).

    The filter applies to the view's result: ClickHouse does not push a condition on
    ``account_id`` below the view's window functions, so the ranks stay the platform's.
    """
    if not keys:
        return {}
    rows = client.query(
        "SELECT platform, account_id, score FROM account_scores"
        " WHERE platform IN {platforms:Array(String)}"
        " AND (platform, account_id) IN {keys:Array(Tuple(String, String))}",
        parameters={"platforms": sorted({p for p, _ in keys}), "keys": list(keys)},
    ).result_rows
    return {(str(p), str(a)): float(s) for p, a, s in rows}
