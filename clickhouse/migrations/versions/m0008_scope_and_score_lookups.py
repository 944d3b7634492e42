"""In-memory lookups for the read API's two per-request side reads: scope and score.

Every scoped read asks "does this workspace track this account?" and the overview asks for
the account's score. As subqueries over ``accounts FINAL`` and ``account_scores_current``
each was one more table read, and a table read costs chdb 5-8 ms plus about 1.5 ms per
part, whatever its size (docs/benchmarks.md, "Read API latency"): half of the overview.

- ``account_scope``: a ``Join`` table keyed by ``(workspace, platform, account_id)``, kept in
  memory (and on disk, so it survives a restart) and fed by the materialized view
  ``account_scope_feed`` from every insert into ``accounts``. ``join_any_take_last_row``
  makes a later row replace an earlier one, which is what ``ReplacingMergeTree(changed_at,
  is_deleted)`` keeps for ``accounts`` as long as each write of a key has a later
  ``changed_at`` than the one before: the server's ``now64(3)`` by default, and the API
  writes ``max(now, previous + 1 ms)`` after reading the previous state. The view runs
  inside the insert into ``accounts``, so a tracking change is visible to the next read,
  with no refresh lag; a read is ``joinGetOrNull('account_scope', 'is_deleted',
  workspace, platform, account_id) = 0`` (NULL for never tracked).
- ``account_scores_lookup``: a ``Join`` table keyed by ``(platform, account_id)`` holding
  the score snapshot, replaced whole by the refreshable view ``account_scores_lookup_refresh``
  right after each refresh of ``account_scores_current`` (``DEPENDS ON``), so it is as fresh
  as the snapshot (docs/metrics.md) for the price of copying its rows (one per account)
  every 10 s. A dictionary would be the usual tool, but chdb never runs a dictionary's periodic
  reload: it would keep its first load for good.

``accounts`` stays the registry (collectors, the list endpoints and analysts read it); the
Join table is an index of it. Rows inserted into ``accounts`` while this migration copies
the table could be copied in an older state after the view wrote the newer one: run it
while the API takes no tracking writes (a deploy). On a replicated cluster the view fires
only on the replica that took the insert, so there the scope would be a dictionary over
``accounts`` instead (deploy/README.md).
"""

FORWARDS = [
    """
    CREATE TABLE IF NOT EXISTS {db}.account_scope (
        workspace String,
        platform String,
        account_id String,
        is_deleted UInt8
    ) ENGINE = Join(ANY, LEFT, workspace, platform, account_id)
    SETTINGS join_any_take_last_row = 1
    """,
    """
    CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.account_scope_feed TO {db}.account_scope
    AS SELECT workspace, platform, account_id, is_deleted FROM {db}.accounts
    """,
    """
    INSERT INTO {db}.account_scope
    SELECT workspace, platform, account_id, is_deleted FROM {db}.accounts FINAL
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.account_scores_lookup (
        platform String,
        account_id String,
        score Float64
    ) ENGINE = Join(ANY, LEFT, platform, account_id)
    """,
    """
    CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.account_scores_lookup_refresh
    REFRESH EVERY 10 SECOND DEPENDS ON {db}.account_scores_current
    TO {db}.account_scores_lookup
    AS SELECT platform, account_id, score FROM {db}.account_scores_current
    """,
]

BACKWARDS = [
    "DROP VIEW IF EXISTS {db}.account_scores_lookup_refresh",
    "DROP TABLE IF EXISTS {db}.account_scores_lookup",
    "DROP VIEW IF EXISTS {db}.account_scope_feed",
    "DROP TABLE IF EXISTS {db}.account_scope",
]
