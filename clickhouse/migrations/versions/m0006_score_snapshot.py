"""``account_scores_current``: the ``account_scores`` view's answer, refreshed every 10 seconds.

The score ranks every account of a platform (three ``percent_rank`` windows over
``account_latest FINAL``), so computing it per request costs the whole platform
(docs/benchmarks.md, read API). A refreshable materialized view runs the view's
query on a schedule and swaps the result in atomically, so a reader sees one whole
ranking, at most one interval (plus the refresh's own run time) old. The formula
stays in one place: this view selects from ``account_scores`` (m0002).

An account observed for the first time since the last refresh has no row yet; the API
reads the live view for such accounts (``clickhouse/scores.py``).
"""

FORWARDS = [
    """
    CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.account_scores_current
    REFRESH EVERY 10 SECOND
    ENGINE = MergeTree ORDER BY (platform, account_id)
    AS SELECT platform, account_id, score FROM {db}.account_scores
    """,
]

BACKWARDS = ["DROP VIEW IF EXISTS {db}.account_scores_current"]
