"""Settings from the environment (prefix ``SOCIALPULSE_``) and a ``.env`` file.

One settings class per process kind; they share the connection settings of
:class:`CommonSettings`. Whether a URL was set explicitly matters: an explicit
URL means "use that external service", so ``services up`` leaves it alone.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
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
    var_dir: Path = REPO_ROOT / "var"
    log_level: str = "INFO"
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
    simulator_accounts: int = Field(default=20, ge=1)
    simulator_seed: int = 42
    # Simulated observation interval; the real profile default is 15 minutes.
    profile_interval_s: float = Field(default=900.0, gt=0)
    # Simulated history emitted at start-up, so a fresh run has something to show.
    simulator_backfill_hours: float = Field(default=48.0, ge=0)
    metrics_port: int = 9102  # Prometheus exporter; 0 disables it


class WorkerSettings(CommonSettings):
    worker_id: str = "worker-1"
    consumer_group: str = "socialpulse-worker"
    allowed_lateness: timedelta = timedelta(days=7)
    sink_batch_size: int = Field(default=5000, ge=1)
    sink_batch_seconds: float = Field(default=0.5, gt=0)
    metrics_port: int = 9101  # Prometheus exporter; 0 disables it


class ApiSettings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_algorithms: tuple[str, ...] = ("HS256",)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ApiSettings:
        if self.env != "development" and self.jwt_secret == DEFAULT_JWT_SECRET:
            raise ValueError(
                "SOCIALPULSE_JWT_SECRET is the development default; set a real secret "
                f"before running with SOCIALPULSE_ENV={self.env}"
            )
        return self
