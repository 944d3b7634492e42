"""Settings from the environment (prefix ``SOCIALPULSE_``) and a ``.env`` file.

One settings class per process kind; they share the connection settings of
:class:`CommonSettings`. Whether a URL was set explicitly matters: an explicit
URL means "use that external service", so ``services up`` leaves it alone.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JWT_SECRET = "dev-insecure-secret-change-me-before-production"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SOCIALPULSE_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "test", "production"] = "development"
    kafka_bootstrap: str = "127.0.0.1:9092"
    clickhouse_url: str = "http://127.0.0.1:8123"
    clickhouse_database: str = "socialpulse"
    redis_url: str = "redis://127.0.0.1:6379/0"
    topic_prefix: str = "socialpulse"
    topic_partitions: int = Field(default=4, ge=1)
    # Replicas of every topic socialpulse creates (at most the brokers there are): 1 on one
    # broker, 3 on a cluster, where the raw topics and the changelog are the only copy of
    # the input and of the worker's state.
    topic_replication_factor: int = Field(default=1, ge=1)
    var_dir: Path = REPO_ROOT / "var"
    log_level: str = "INFO"
    # Days the raw snapshot tables keep rows (applied by `socialpulse migrate`); 0 keeps all.
    raw_ttl_days: int = Field(default=0, ge=0)
    # Days `upstream_items` keeps the raw upstream answers (re-parsing after a parser fix);
    # they are large, so they are not kept for ever by default. 0 keeps all.
    upstream_items_ttl_days: int = Field(default=90, ge=0)
    # Interface the worker and collector Prometheus exporters bind; 0.0.0.0 in containers.
    metrics_host: str = "127.0.0.1"

    def is_external(self, name: str) -> bool:
        """True when the user pointed ``name`` at a service of their own."""
        return name in self.model_fields_set


class ServicesSettings(CommonSettings):
    kafka_version: str = "4.1.1"
    kafka_heap: str = "512m"
    # The KRaft controller listener of the local one-node Kafka (broker+controller).
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_lib_dir: Path = REPO_ROOT / "deploy" / "kafka" / "lib"
    startup_timeout_s: float = 90.0


class CollectorSettings(CommonSettings):
    simulator_accounts: int = Field(default=20, ge=0)
    simulator_seed: int = 42
    # Simulated accounts join the registry when no upstream token is set; force with true/false.
    simulator: bool | None = None
    # The profile cadence (15 minutes); the simulator's history grid uses it too.
    profile_interval_s: float = Field(default=900.0, gt=0)
    posts_interval_s: float = Field(default=1800.0, gt=0)
    top_content_interval_s: float = Field(default=86_400.0, gt=0)
    # Simulated history emitted at start-up, so a fresh run has something to show.
    simulator_backfill_hours: float = Field(default=48.0, ge=0)
    metrics_port: int = 9102  # Prometheus exporter; 0 disables it

    # Upstream credentials (never logged). No token at all means simulator mode.
    apify_token: SecretStr | None = None
    youtube_api_key: SecretStr | None = None
    x_bearer_token: SecretStr | None = None
    reddit_token: SecretStr | None = None
    apify_batch_size: int = Field(default=50, ge=1)
    # Per-source base URL overrides, e.g. {"apify": "http://127.0.0.1:8080"} (tests, proxies).
    upstream_base_urls: dict[str, str] = Field(default_factory=dict)
    # Per-upstream requests/second overrides of collectors.ratelimit.DEFAULT_RATES.
    rate_limits: dict[str, float] = Field(default_factory=dict)

    # Registry: the ClickHouse accounts table (read-only) plus an optional TOML file.
    accounts_file: Path | None = None
    registry_from_clickhouse: bool = True
    registry_refresh_s: float = Field(default=60.0, gt=0)

    # Scheduler and replicas.
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    cycle_s: float = Field(default=2.0, gt=0)
    max_in_flight: int = Field(default=5000, ge=1)
    max_batches: int = Field(default=8, ge=1)
    batch_linger_s: float = Field(default=30.0, ge=0)
    shards: int = Field(default=64, ge=1)
    lease_ttl_s: float = Field(default=30.0, gt=0)

    # Upstream HTTP: retries, circuit breaker, cache.
    http_timeout_s: float = Field(default=30.0, gt=0)
    http_max_retries: int = Field(default=3, ge=0)
    http_backoff_base_s: float = Field(default=1.0, ge=0)
    http_max_retry_after_s: float = Field(default=60.0, ge=0)
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_open_s: float = Field(default=60.0, gt=0)
    cache_ttl_s: float = Field(default=600.0, ge=0)

    # Sync runs, webhook, emitter, secrets.
    sync_run_ttl_s: float = Field(default=3600.0, gt=0)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_scope: Literal["requested", "all"] = "requested"
    webhook_max_attempts: int = Field(default=4, ge=1)
    emit_max_buffered: int = Field(default=20_000, ge=1)
    # Fernet key(s) for per-account OAuth tokens, comma-separated, newest first.
    secrets_key: SecretStr | None = None

    def upstream_tokens(self) -> list[str]:
        """Names of the upstream credentials that are set."""
        names = ("apify_token", "youtube_api_key", "x_bearer_token", "reddit_token")
        return [n for n in names if getattr(self, n) is not None]

    @property
    def simulator_mode(self) -> bool:
        return self.simulator if self.simulator is not None else not self.upstream_tokens()

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> CollectorSettings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "SOCIALPULSE_WEBHOOK_URL needs SOCIALPULSE_WEBHOOK_SECRET to sign with"
            )
        return self


class WorkerSettings(CommonSettings):
    worker_id: str = "worker-1"
    consumer_group: str = "socialpulse-worker"
    allowed_lateness: timedelta = timedelta(days=7)
    # Only a worker that is behind (catching up, replaying) fills a batch: 20,000 spreads
    # each account's per-batch work (windows, KPIs, one state) and each insert's fixed cost
    # over four times the snapshots of 5,000, +15-30% bulk throughput in alternated runs
    # (docs/benchmarks.md, issue 4 session 7); a batch then holds the loop for ~0.7 s.
    sink_batch_size: int = Field(default=20_000, ge=1)
    # 0.25 s: p99 freshness at 5k snapshots/s better than 0.5 s in every paired run, with no
    # more parts or merge CPU measured (docs/benchmarks.md, issue 4 session 5).
    sink_batch_seconds: float = Field(default=0.25, gt=0)
    # How often changed states go to the changelog and offsets are committed:
    # at most this much input is processed again after a crash.
    commit_interval_seconds: float = Field(default=2.0, gt=0)
    metrics_port: int = 9101  # Prometheus exporter; 0 disables it


class ApiSettings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # One log line per request costs about 0.4 ms of the API's CPU (docs/benchmarks.md);
    # request counts and latencies are in /metrics either way.
    api_access_log: bool = False
    # Threads for the blocking part of requests (ClickHouse reads), per API process.
    api_threads: int = Field(default=40, ge=1)
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    # Per token (workspace + subject): the sustained rate, and the burst allowed on top of
    # it (a dashboard opening fires a list plus one timeseries per account). 0 disables.
    rate_limit_per_minute: int = Field(default=1200, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # Short-lived response cache for hot dashboard reads; 0 turns one off.
    cache_ttl_overview_s: float = Field(default=5.0, ge=0)
    cache_ttl_accounts_s: float = Field(default=10.0, ge=0)
    cache_ttl_timeseries_s: float = Field(default=30.0, ge=0)
    # Sync runs the API creates live in Redis as long as the collectors' own (sync_run_ttl_s).
    sync_run_ttl_s: float = Field(default=3600.0, gt=0)
    sync_publish_timeout_s: float = Field(default=5.0, gt=0)
    # Freshness: observations older than this are stale whatever the schedule says, and a
    # sync this late past its next due time makes the account stale too.
    freshness_stale_after_s: float = Field(default=3600.0, gt=0)
    freshness_grace_s: float = Field(default=900.0, ge=0)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ApiSettings:
        if self.env != "development" and self.jwt_secret == DEFAULT_JWT_SECRET:
            raise ValueError(
                "SOCIALPULSE_JWT_SECRET is the development default; set a real secret "
                f"before running with SOCIALPULSE_ENV={self.env}"
            )
        return self
