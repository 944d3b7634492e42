"""``account_observed``: when each account was last observed, as an in-memory lookup.

Every account answer says how fresh it is (its latest observation, ``account_latest``), and
the timeseries read took it with a scalar subquery on ``account_latest FINAL``: about 5 ms
of chdb per answer (docs/benchmarks.md, "Read API latency"), a table read for one value.
``account_observed`` is a ``Join`` table keyed by ``(platform, account_id)`` (ANY LEFT,
``join_any_take_last_row``) fed by a materialized view from every insert into
``account_latest``, read with ``joinGetOrNull('account_observed', 'observed_at', platform,
account_id)``. The worker writes an account's latest row after each change, one batch after
another, so the last row written is the newest version; a replay writes the state it
rebuilt, newest too. Rows inserted into ``account_latest`` while this migration copies the
table could be copied in an older state after the view wrote the newer one: the next write
of that account mends it. As with m0008, a replicated cluster would use a dictionary.
"""

FORWARDS = [
    """
    CREATE TABLE IF NOT EXISTS {db}.account_observed (
        platform String,
        account_id String,
        observed_at DateTime64(3, 'UTC')
    ) ENGINE = Join(ANY, LEFT, platform, account_id)
    SETTINGS join_any_take_last_row = 1
    """,
    """
    CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.account_observed_feed TO {db}.account_observed
    AS SELECT platform, account_id, observed_at FROM {db}.account_latest
    """,
    """
    INSERT INTO {db}.account_observed
    SELECT platform, account_id, observed_at FROM {db}.account_latest FINAL
    """,
]

BACKWARDS = [
    "DROP VIEW IF EXISTS {db}.account_observed_feed",
    "DROP TABLE IF EXISTS {db}.account_observed",
]
