"""The audit log (table ``audit_log``): every write made through the API, who/what/when.

Rows are appended, never updated. ``record`` is called *before* the write it describes,
so a write that fails half-way still leaves its attempt on record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from socialpulse.contract import from_ms

COLUMNS = ["workspace", "subject", "role", "action", "target", "detail"]


@dataclass(frozen=True)
class AuditEntry:
    subject: str
    workspace: str
    role: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    entry: AuditEntry


def record(client: Client, *entries: AuditEntry) -> None:
    """The entries in one insert (a sync trigger for many accounts writes one row each)."""
    rows = [[e.workspace, e.subject, e.role, e.action, e.target, _json(e.detail)] for e in entries]
    if rows:
        client.insert("audit_log", rows, column_names=COLUMNS)


def _json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))


def recent(client: Client, workspace: str, limit: int = 100) -> list[AuditRow]:
    """The workspace's newest audit rows first."""
    rows = client.query(
        "SELECT toUnixTimestamp64Milli(at), subject, workspace, role, action, target, detail"
        " FROM audit_log WHERE workspace = {workspace:String}"
        " ORDER BY at DESC, event_id LIMIT {limit:UInt32}",
        parameters={"workspace": workspace, "limit": limit},
    ).result_rows
    return [
        AuditRow(from_ms(at), AuditEntry(sub, ws, role, action, target, json.loads(detail)))
        for at, sub, ws, role, action, target, detail in rows
    ]
