"""The tracked-accounts registry (table ``accounts``): who tracks what, per workspace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports LABELS on every start; the driver is loaded when used
    from clickhouse_connect.driver.client import Client

LABELS = ("own", "competitor")


def track(
    client: Client,
    workspace: str,
    platform: str,
    account_ids: Sequence[str],
    *,
    added_by: str,
    label: str = "own",
    handle: str | None = None,
) -> None:
    """Track accounts; ``handle`` names a single account (else each id stands for its handle)."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
    if handle is not None and len(account_ids) != 1:
        raise ValueError("a handle names one account: give exactly one id with it")
    client.insert(
        "accounts",
        [[workspace, platform, a, handle or a, label, added_by, 0] for a in account_ids],
        column_names=[
            "workspace", "platform", "account_id", "handle", "label", "added_by", "is_deleted",
        ],
    )  # fmt: skip
