"""The one place ClickHouse clients are made (clickhouse-connect over HTTP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
import clickhouse_connect.driver.options
from clickhouse_connect.driver.client import Client

from socialpulse.settings import CommonSettings

# clickhouse-connect imports pandas, numpy, pyarrow and polars, when installed, the first
# time it inserts or reads, to accept and return their types. chdb installs pandas, numpy
# and pyarrow, and the import cost each process about 0.5 s (the worker's first insert, the
# GIL held meanwhile) and 80 MB. We only hand it and take from it Python lists: it is told
# they are absent, as it would find on a machine without them.
for _name in ("np", "pd", "pd_time_test", "arrow", "pl"):
    setattr(clickhouse_connect.driver.options, _name, None)


def make_client(settings: CommonSettings, *, database: str | None = None) -> Client:
    """A client for ``settings.clickhouse_url``; the database is created if missing."""
    url = urlparse(settings.clickhouse_url)
    common: dict[str, Any] = {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or (8443 if url.scheme == "https" else 8123),
        "username": url.username or "default",
        "password": url.password or "",
        "secure": url.scheme == "https",
        # A worker and an API thread may share a client: no server-side session.
        "autogenerate_session_id": False,
        "connect_timeout": 5,
        "send_receive_timeout": 60,
    }
    db = database or settings.clickhouse_database
    bootstrap = clickhouse_connect.get_client(**common)
    try:
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(db)}")
    finally:
        bootstrap.close()
    return clickhouse_connect.get_client(database=db, **common)


def quote_ident(name: str) -> str:
    """Backquote an identifier (database and table names come from settings)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
