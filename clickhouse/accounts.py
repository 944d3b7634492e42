"""The tracked-accounts registry (table ``accounts``): who tracks what, per workspace."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client


def track(
    client: Client, workspace: str, platform: str, account_ids: Sequence[str], *, added_by: str
) -> None:
    client.insert(
        "accounts",
        [[workspace, platform, a, a, added_by, 0] for a in account_ids],
        column_names=["workspace", "platform", "account_id", "handle", "added_by", "is_deleted"],
    )
