"""The local Kafka, ClickHouse and Redis behind ``socialpulse services up|down|status``."""

from socialpulse.services.manager import (
    ServicesError,
    ServiceStatus,
    down,
    format_table,
    status,
    up,
    with_local_urls,
)
from socialpulse.services.process import ServiceError

__all__ = [
    "ServiceError",
    "ServiceStatus",
    "ServicesError",
    "down",
    "format_table",
    "status",
    "up",
    "with_local_urls",
]
