"""Raw profile snapshots, follower changes and the tracked-accounts registry."""

FORWARDS = [
    """
    CREATE TABLE IF NOT EXISTS {db}.profile_snapshots (
        platform LowCardinality(String),
        account_id String,
        observed_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        snapshot_id String,
        handle String,
        display_name Nullable(String),
        followers Nullable(Int64) CODEC(ZSTD(1)),
        following Nullable(Int64) CODEC(ZSTD(1)),
        posts_count Nullable(Int64) CODEC(ZSTD(1)),
        source LowCardinality(String),
        sync_run_id Nullable(String),
        schema_version UInt8,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(observed_at)
    ORDER BY (platform, account_id, observed_at, snapshot_id)
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.follower_changes (
        platform LowCardinality(String),
        account_id String,
        observed_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        previous_observed_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        previous_followers Int64 CODEC(ZSTD(1)),
        followers Int64 CODEC(ZSTD(1)),
        delta Int64 CODEC(ZSTD(1)),
        version UInt64,
        is_deleted UInt8
    ) ENGINE = ReplacingMergeTree(version, is_deleted)
    PARTITION BY toYYYYMM(observed_at)
    ORDER BY (platform, account_id, observed_at)
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.accounts (
        workspace String,
        platform LowCardinality(String),
        account_id String,
        handle String,
        added_by String,
        changed_at DateTime64(3, 'UTC') DEFAULT now64(3),
        is_deleted UInt8 DEFAULT 0
    ) ENGINE = ReplacingMergeTree(changed_at, is_deleted)
    ORDER BY (workspace, platform, account_id)
    """,
]

BACKWARDS = [
    "DROP TABLE IF EXISTS {db}.accounts",
    "DROP TABLE IF EXISTS {db}.follower_changes",
    "DROP TABLE IF EXISTS {db}.profile_snapshots",
]
