"""Competitor tracking (an ``own``/``competitor`` label per tracked account) and the audit log.

The label is added with a default, so rows written before this migration (and writers
that do not know the column) read as ``own``.
"""

FORWARDS = [
    """
    ALTER TABLE {db}.accounts
        ADD COLUMN IF NOT EXISTS label LowCardinality(String) DEFAULT 'own'
    """,
    # Append-only: one row per write through the API (who, what, when). Never deduplicated.
    """
    CREATE TABLE IF NOT EXISTS {db}.audit_log (
        at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
        event_id UUID DEFAULT generateUUIDv4(),
        workspace String,
        subject String,
        role LowCardinality(String),
        action LowCardinality(String),
        target String,
        detail String CODEC(ZSTD(1))
    ) ENGINE = MergeTree
    PARTITION BY toYYYYMM(at)
    ORDER BY (workspace, at)
    """,
]

BACKWARDS = [
    "DROP TABLE IF EXISTS {db}.audit_log",
    "ALTER TABLE {db}.accounts DROP COLUMN IF EXISTS label",
]
