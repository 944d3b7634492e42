"""Raw post snapshots and the stream workers' metric tables (CONTRACT §3, §6)."""

_ACCOUNT = """
    platform LowCardinality(String),
    account_id String,
"""

_WINDOW = (
    "CREATE TABLE IF NOT EXISTS {db}.%s ("
    + _ACCOUNT
    + """
        window_start DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        first Int64 CODEC(ZSTD(1)),
        last Int64 CODEC(ZSTD(1)),
        min Int64 CODEC(ZSTD(1)),
        max Int64 CODEC(ZSTD(1)),
        samples UInt32,
        net_change Int64 CODEC(ZSTD(1)),
        first_observed_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        last_observed_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        version UInt64
    ) ENGINE = ReplacingMergeTree(version)
    PARTITION BY toYYYYMM(window_start)
    ORDER BY (platform, account_id, window_start)
    """
)

FORWARDS = [
    "CREATE TABLE IF NOT EXISTS {db}.post_snapshots ("
    + _ACCOUNT
    + """
        post_id String,
        observed_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        snapshot_id String,
        published_at Nullable(DateTime64(3, 'UTC')),
        url Nullable(String),
        media_type LowCardinality(Nullable(String)),
        likes Nullable(Int64) CODEC(ZSTD(1)),
        comments Nullable(Int64) CODEC(ZSTD(1)),
        shares Nullable(Int64) CODEC(ZSTD(1)),
        saves Nullable(Int64) CODEC(ZSTD(1)),
        views Nullable(Int64) CODEC(ZSTD(1)),
        source LowCardinality(String),
        sync_run_id Nullable(String),
        schema_version UInt8,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(observed_at)
    ORDER BY (platform, account_id, post_id, observed_at, snapshot_id)
    """,
    _WINDOW % "account_metrics_hourly",
    _WINDOW % "account_metrics_daily",
    "CREATE TABLE IF NOT EXISTS {db}.account_latest ("
    + _ACCOUNT
    + """
        handle String,
        display_name Nullable(String),
        followers Int64,
        following Nullable(Int64),
        posts_count Nullable(Int64),
        observed_at DateTime64(3, 'UTC'),
        growth_1d_change Nullable(Int64),
        growth_1d_rate Nullable(Float64),
        growth_7d_change Nullable(Int64),
        growth_7d_rate Nullable(Float64),
        growth_30d_change Nullable(Int64),
        growth_30d_rate Nullable(Float64),
        engagement_rate_30d Nullable(Float64),
        posts_30d UInt32,
        projected_followers_30d Nullable(Float64),
        version UInt64,
        updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (platform, account_id)
    """,
    "CREATE TABLE IF NOT EXISTS {db}.post_latest ("
    + _ACCOUNT
    + """
        post_id String,
        published_at Nullable(DateTime64(3, 'UTC')),
        observed_at DateTime64(3, 'UTC'),
        url Nullable(String),
        media_type LowCardinality(Nullable(String)),
        likes Nullable(Int64),
        comments Nullable(Int64),
        shares Nullable(Int64),
        saves Nullable(Int64),
        views Nullable(Int64),
        interactions Nullable(Int64),
        engagement_rate Nullable(Float64),
        version UInt64
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (platform, account_id, post_id)
    """,
    # The score ranks accounts within their platform, so it cannot be computed
    # per account in a worker; this view ranks the current KPIs at read time.
    """
    CREATE VIEW IF NOT EXISTS {db}.account_scores AS
    SELECT platform, account_id,
        round(100 * (
            0.5 * percent_rank() OVER (
                PARTITION BY platform ORDER BY ifNull(growth_7d_rate, -1e300))
          + 0.3 * percent_rank() OVER (
                PARTITION BY platform ORDER BY ifNull(engagement_rate_30d, -1e300))
          + 0.2 * percent_rank() OVER (PARTITION BY platform ORDER BY posts_30d)
        ), 1) AS score
    FROM {db}.account_latest FINAL
    """,
]

BACKWARDS = [
    "DROP VIEW IF EXISTS {db}.account_scores",
    "DROP TABLE IF EXISTS {db}.post_latest",
    "DROP TABLE IF EXISTS {db}.account_latest",
    "DROP TABLE IF EXISTS {db}.account_metrics_daily",
    "DROP TABLE IF EXISTS {db}.account_metrics_hourly",
    "DROP TABLE IF EXISTS {db}.post_snapshots",
]
