"""The worker's Prometheus metrics (the sink's live in ``streams.sink``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_IN = Counter(
    "socialpulse_worker_records_total",
    "Snapshots consumed, by topic and outcome",
    ["topic", "outcome"],
)
DLQ_RECORDS = Counter("socialpulse_worker_dlq_total", "Records sent to the DLQ")
RECORDS_OUT = Counter("socialpulse_worker_records_out_total", "Derived records produced", ["topic"])
BATCH_SECONDS = Histogram(
    "socialpulse_worker_batch_seconds", "Time to process one batch end to end"
)
BATCH_RECORDS = Histogram(
    "socialpulse_worker_batch_records",
    "Records per processed batch",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000),
)
CHECKPOINT_SECONDS = Histogram(
    "socialpulse_worker_checkpoint_seconds",
    "Time to write changed states to the changelog and commit offsets",
)
CHECKPOINT_STATES = Counter(
    "socialpulse_worker_changelog_records_total",
    "Changelog records written (account heads, posts and days of snapshots)",
)
EVENT_LAG = Histogram(
    "socialpulse_worker_event_lag_seconds",
    "Processing time minus the record's Kafka timestamp",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
CONSUMER_LAG = Gauge(
    "socialpulse_worker_consumer_lag",
    "Records behind the end of each assigned partition",
    ["topic", "partition"],
)
STATE_ACCOUNTS = Gauge("socialpulse_worker_state_accounts", "Accounts held in this worker's state")
ASSIGNED_PARTITIONS = Gauge(
    "socialpulse_worker_assigned_partitions", "Raw-topic partitions this worker owns"
)
RESTORED_STATES = Counter(
    "socialpulse_worker_restored_states_total", "Account states read back from the changelog"
)
SINK_WAITING = Gauge(
    "socialpulse_worker_sink_waiting", "1 while ClickHouse refuses inserts (consumption paused)"
)
