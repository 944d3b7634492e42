"""Sync runs (CONTRACT §6): the latest state of every run, from ``sync.events``."""

FORWARDS = [
    """
    CREATE TABLE IF NOT EXISTS {db}.sync_runs (
        run_id String,
        platform LowCardinality(String),
        account_id String,
        handle Nullable(String),
        trigger LowCardinality(String),
        state LowCardinality(String),
        created_at DateTime64(3, 'UTC'),
        started_at Nullable(DateTime64(3, 'UTC')),
        finished_at Nullable(DateTime64(3, 'UTC')),
        duration_ms Nullable(Int64),
        profiles UInt32,
        posts UInt32,
        upstream_calls UInt32,
        batch_accounts UInt32,
        cache_hit UInt8,
        error_class LowCardinality(Nullable(String)),
        error Nullable(String),
        -- PENDING 0 < STARTED 1 < SUCCESS/FAILURE/REVOKED 2: the furthest state wins.
        version UInt8,
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(version)
    PARTITION BY toYYYYMM(created_at)
    ORDER BY run_id
    """,
]

BACKWARDS = ["DROP TABLE IF EXISTS {db}.sync_runs"]
