"""The score (docs/metrics.md): read from ``account_scores_current``, live for the newest accounts.

``account_scores_current`` (migration m0006) holds the ``account_scores`` view's answer as of
its last refresh (every 10 s); one account's score is read from its in-memory copy
``account_scores_lookup`` (m0008), many accounts' by a join with the table. An account observed
for the first time since then has no row there; :func:`live` asks the view itself for those,
so an observed account always has a score.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

Key = tuple[str, str]

# For a query with {platform:String} and {account_id:String}: NULL when the account has no row
# (yet). ``account_scores_lookup`` (m0008) is the snapshot as an in-memory hash table; a scalar
# subquery on ``account_scores_current`` cost chdb a table read (about 5 ms) per overview.
POINT = "joinGetOrNull('account_scores_lookup', 'score', {platform:String}, {account_id:String})"
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


def refresh(client: Client) -> None:
    """Refresh the snapshot and its lookup copy now and wait for both (they refresh every 10 s
    on their own; the copy follows the snapshot only on that schedule)."""
    for view in ("account_scores_current", "account_scores_lookup_refresh"):
        client.command(f"SYSTEM REFRESH VIEW {view}")
        client.command(f"SYSTEM WAIT VIEW {view}")
