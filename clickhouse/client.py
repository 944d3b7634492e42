"""The one place ClickHouse clients are made (clickhouse-connect over HTTP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from socialpulse.settings import CommonSettings


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
