"""The collectors' Prometheus metrics, defined once (names are part of the operator contract).

Label values are bounded sets: upstream names, platforms, error classes,
outcomes. Never an account id (unbounded cardinality) and never a token.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_P = "socialpulse_collector_"

POLLS = Counter(
    _P + "polls_total", "Account polls finished, by platform and outcome", ["platform", "outcome"]
)
POLL_ERRORS = Counter(
    _P + "poll_errors_total",
    "Failed account polls by platform and error class",
    ["platform", "error_class"],
)
UPSTREAM_LATENCY = Histogram(
    _P + "upstream_request_seconds",
    "Upstream HTTP request latency (one attempt)",
    ["upstream"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
UPSTREAM_REQUESTS = Counter(
    _P + "upstream_requests_total",
    "Upstream HTTP attempts by status class",
    ["upstream", "status"],
)
UPSTREAM_ERRORS = Counter(
    _P + "upstream_errors_total", "Upstream failures by error class", ["upstream", "error_class"]
)
RETRIES = Counter(_P + "upstream_retries_total", "Upstream retries", ["upstream", "reason"])
RATE_LIMIT_WAITS = Counter(
    _P + "ratelimit_waits_total", "Requests that waited for the shared token bucket", ["upstream"]
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    _P + "ratelimit_wait_seconds_total", "Time spent waiting for the token bucket", ["upstream"]
)
CACHE_HITS = Counter(
    _P + "cache_hits_total",
    "Answers served from the Redis cache instead of upstream",
    ["upstream", "level"],
)
CACHE_MISSES = Counter(_P + "cache_misses_total", "Cacheable requests sent upstream", ["upstream"])
CIRCUIT_OPEN = Gauge(_P + "circuit_open", "1 while the upstream's circuit is open", ["upstream"])
CIRCUIT_REJECTIONS = Counter(
    _P + "circuit_rejections_total", "Requests refused by an open circuit", ["upstream"]
)
QUOTA_EXHAUSTED = Counter(
    _P + "quota_exhausted_total", "Quota or credit exhaustion answers", ["upstream"]
)
# Incremented by the Apify source (collectors/sources) for every actor run it starts or ends.
APIFY_RUNS = Counter(
    _P + "apify_runs_total", "Apify actor runs by final status", ["actor", "status"]
)
APIFY_CREDITS = Counter(
    _P + "apify_credits_usd_total", "Apify usage reported by finished runs (USD)", ["actor"]
)
SNAPSHOTS_EMITTED = Counter(_P + "snapshots_emitted_total", "Snapshots written to Kafka", ["kind"])
UPSTREAM_ITEMS_OMITTED = Counter(
    _P + "upstream_items_omitted_total",
    "Raw upstream items sent without their raw JSON, too large for a Kafka record",
    ["platform"],
)
EMIT_RETRIES = Counter(_P + "emit_retries_total", "Kafka send retries")
EMIT_BUFFERED = Gauge(_P + "emit_buffered", "Snapshots handed to Kafka and not yet acknowledged")
SCHEDULE_LAG = Histogram(
    _P + "schedule_lag_seconds",
    "How late a poll started after it fell due",
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 86400),
)
DUE_BACKLOG = Gauge(_P + "due_backlog", "Accounts due but left for a later cycle (catch-up)")
TICK_ERRORS = Counter(_P + "tick_errors_total", "Scheduler ticks that failed (e.g. Redis away)")
CYCLE_SECONDS = Histogram(
    _P + "cycle_seconds",
    "Duration of one scheduling cycle",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
)
SYNC_RUNS = Counter(_P + "sync_runs_total", "Sync runs by final state", ["trigger", "state"])
LEASED_SHARDS = Gauge(_P + "leased_shards", "Account shards this replica holds")
WEBHOOKS = Counter(_P + "webhook_deliveries_total", "Completion webhooks by outcome", ["outcome"])
REGISTRY_ACCOUNTS = Gauge(_P + "registry_accounts", "Tracked accounts known to this replica")
REGISTRY_ERRORS = Counter(_P + "registry_refresh_errors_total", "Failed registry refreshes")
