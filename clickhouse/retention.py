"""Retention TTLs of the raw tables follow settings, applied by ``socialpulse migrate``.

Raw tables keep every observation for replays and audits; on a budget, a TTL
drops rows older than ``SOCIALPULSE_RAW_TTL_DAYS`` (0 keeps all). The raw
upstream items (``upstream_items``, large JSON) have their own TTL,
``SOCIALPULSE_UPSTREAM_ITEMS_TTL_DAYS``. Derived tables are not affected.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

RAW_TABLES = ("profile_snapshots", "post_snapshots")
UPSTREAM_ITEMS = "upstream_items"


def apply_raw_ttl(client: Client, days: int) -> None:
    for table in RAW_TABLES:
        apply_ttl(client, table, "observed_at", days)


def apply_upstream_items_ttl(client: Client, days: int) -> None:
    apply_ttl(client, UPSTREAM_ITEMS, "fetched_at", days)


def apply_ttl(client: Client, table: str, column: str, days: int) -> None:
    """Rows of ``table`` expire ``days`` after ``column``; 0 removes the TTL."""
    if days > 0:
        client.command(
            f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + INTERVAL {int(days)} DAY"
        )
    elif "TTL" in ttl_clause(client, table):
        client.command(f"ALTER TABLE {table} REMOVE TTL")


def ttl_clause(client: Client, table: str) -> str:
    create: str = client.command(f"SHOW CREATE TABLE {table}")  # type: ignore[assignment]
    return create[create.find("TTL") :] if "TTL" in create else ""
