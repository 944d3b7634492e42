"""The raw snapshots' TTL follows a setting, applied by ``socialpulse migrate``.

Raw tables keep every observation for replays and audits; on a budget, a TTL
drops partitions older than ``SOCIALPULSE_RAW_TTL_DAYS`` (0 keeps all).
Derived tables are not affected.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

RAW_TABLES = ("profile_snapshots", "post_snapshots")


def apply_raw_ttl(client: Client, days: int) -> None:
    for table in RAW_TABLES:
        if days > 0:
            client.command(
                f"ALTER TABLE {table} MODIFY TTL toDateTime(observed_at) + INTERVAL {int(days)} DAY"
            )
        elif "TTL" in ttl_clause(client, table):
            client.command(f"ALTER TABLE {table} REMOVE TTL")


def ttl_clause(client: Client, table: str) -> str:
    create: str = client.command(f"SHOW CREATE TABLE {table}")  # type: ignore[assignment]
    return create[create.find("TTL") :] if "TTL" in create else ""
