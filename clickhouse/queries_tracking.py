"""Start and stop tracking an account in a workspace (table ``accounts``).

``accounts`` is ``ReplacingMergeTree(changed_at, is_deleted)``: every change is an
insert whose ``changed_at`` is strictly greater than the key's previous one (so a
stop and a start in one millisecond still order), and stopping is an insert with
``is_deleted = 1``, which ``FINAL`` hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from socialpulse.contract import EPOCH, from_ms, to_ms

COLUMNS = [
    "workspace", "platform", "account_id", "handle", "label", "added_by", "changed_at",
    "is_deleted",
]  # fmt: skip
_KEY = (
    "workspace = {workspace:String} AND platform = {platform:String}"
    " AND account_id = {account_id:String}"
)


@dataclass(frozen=True)
class TrackedAccount:
    workspace: str
    platform: str
    account_id: str
    handle: str
    label: str
    added_by: str
    changed_at: datetime = EPOCH  # set by write()
    is_deleted: bool = False


def current(
    client: Client, workspace: str, platform: str, account_id: str
) -> TrackedAccount | None:
    """The key's newest row, deleted or not (None if it was never tracked)."""
    params = {"workspace": workspace, "platform": platform, "account_id": account_id}
    rows = client.query(
        "SELECT argMax(tuple(handle, label, added_by, is_deleted), changed_at),"
        " toUnixTimestamp64Milli(max(changed_at)), count() FROM accounts WHERE " + _KEY,
        parameters=params,
    ).result_rows
    if not rows or not rows[0][2]:
        return None
    (handle, label, added_by, deleted), changed_ms, _ = rows[0]
    return TrackedAccount(
        workspace, platform, account_id, handle, label, added_by, from_ms(changed_ms), bool(deleted)
    )


def observed_handle(client: Client, platform: str, account_id: str) -> str | None:
    """The handle the account was last observed with, if it has been observed."""
    rows = client.query(
        "SELECT handle FROM account_latest FINAL"
        " WHERE platform = {platform:String} AND account_id = {account_id:String}",
        parameters={"platform": platform, "account_id": account_id},
    ).result_rows
    return str(rows[0][0]) if rows else None


def write(
    client: Client, account: TrackedAccount, previous: TrackedAccount | None
) -> TrackedAccount:
    """Insert ``account`` as the key's new state, versioned after ``previous``."""
    changed_at = datetime.now(UTC)
    if previous is not None and changed_at <= previous.changed_at:
        changed_at = previous.changed_at + timedelta(milliseconds=1)
    changed_at = from_ms(to_ms(changed_at))  # the column keeps milliseconds
    row: list[Any] = [
        account.workspace, account.platform, account.account_id, account.handle, account.label,
        account.added_by, changed_at, int(account.is_deleted),
    ]  # fmt: skip
    client.insert("accounts", [row], column_names=COLUMNS)
    return TrackedAccount(**{**vars(account), "changed_at": changed_at})
