"""Raw upstream items (``<prefix>.raw.upstream-items``): what each source was told, as received.

Kept so snapshots can be computed again after a parser fix. The JSON is large
and repetitive, hence ZSTD(3) on it. Its retention is a TTL that `socialpulse
migrate` sets from ``SOCIALPULSE_UPSTREAM_ITEMS_TTL_DAYS`` (clickhouse/retention.py);
``ttl_only_drop_parts`` makes expiry drop whole parts instead of rewriting
parts full of JSON to cut a few rows out.
"""

FORWARDS = [
    """
    CREATE TABLE IF NOT EXISTS {db}.upstream_items (
        platform LowCardinality(String),
        account_id String,
        fetched_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
        item_id String,
        handle Nullable(String),
        source LowCardinality(String),
        state LowCardinality(String),
        sync_run_id Nullable(String),
        snapshot_ids Array(String) CODEC(ZSTD(1)),
        raw String CODEC(ZSTD(3)),
        raw_bytes UInt32,
        raw_omitted UInt8,
        schema_version UInt8,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
        -- "which answer produced this snapshot": has(snapshot_ids, '<id>') skips granules
        INDEX snapshot_ids_bloom snapshot_ids TYPE bloom_filter GRANULARITY 4
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(fetched_at)
    ORDER BY (platform, account_id, fetched_at, item_id)
    SETTINGS ttl_only_drop_parts = 1
    """,
]

BACKWARDS = ["DROP TABLE IF EXISTS {db}.upstream_items"]
