"""Helpers shared by the route modules: time bounds, opaque cursors, visibility, CSV export."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query, Request, Response

from api.auth import Principal
from api.errors import InvalidInput, NotFound
from api.resources import Resources
from api.schemas import Freshness, GrowthItem, Label
from api.services import Services
from clickhouse import audit, queries, queries_sync
from socialpulse.contract import Platform, format_ts

T = TypeVar("T")

Format = Literal["json", "csv"]
FormatQuery = Annotated[
    Format | None,
    Query(
        alias="format",
        description="`csv` for a CSV download (same as `Accept: text/csv`); default JSON",
    ),
]
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def utc(value: datetime | None, name: str) -> datetime | None:
    """A query-string instant in UTC; one without an offset is read as UTC."""
    if value is None:
        return None
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        value = EARLIEST - timedelta(days=1)  # out of range either way
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(f"'{name}' must lie between 1970-01-01 and 2199-12-31 (UTC)")
    return value


def encode_cursor(*parts: str | int) -> str:
    raw = "v1:" + json.dumps(list(parts), separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The parts of a cursor made by :func:`encode_cursor`; a 400 for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, body = raw.partition(":")
        parts = json.loads(body)
        if version != "v1" or not isinstance(parts, list) or len(parts) != arity:
            raise ValueError(raw)
        return parts
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("'cursor' is not a cursor this API returned; start without one") from exc


def not_found(principal: Principal, platform: Platform, account_id: str) -> NotFound:
    return NotFound(
        f"no data for {platform.value}:{account_id} in workspace '{principal.workspace}'"
        " (not tracked there, or not observed yet)"
    )


def require_visible(
    resources: Resources, principal: Principal, platform: Platform, account_id: str
) -> None:
    """404 unless the token's scope may see the account (tracked in its workspace, or admin)."""
    if not queries.is_visible(resources.clickhouse, principal.scope, platform.value, account_id):
        raise not_found(principal, platform, account_id)


async def read_visible(
    resources: Resources,
    services: Services,
    principal: Principal,
    platform: Platform,
    account_id: str,
    query: Callable[..., T],
    **options: Any,
) -> T:
    """``query(clickhouse, scope, platform, account_id, **options)`` in a thread, after the
    404 for an account the token may not see."""

    def read() -> T:
        require_visible(resources, principal, platform, account_id)
        return query(resources.clickhouse, principal.scope, platform.value, account_id, **options)

    return await services.offload(read)


async def account_freshness(
    resources: Resources, services: Services, platform: Platform, account_id: str
) -> Freshness:
    """One account's freshness: its newest observation (ClickHouse, in a thread) while its
    live sync status comes from Redis."""
    key = (platform.value, account_id)
    observed_at, live = await services.status.read_with_live(
        [key], queries_sync.observed_at, resources.clickhouse, platform.value, account_id
    )
    return (await services.status.for_account(*key, observed_at, live))[1]


def audit_write(
    resources: Resources,
    principal: Principal,
    action: str,
    target: str,
    detail: dict[str, object],
) -> None:
    """Record a write (who, what, when) before it is made: a failed write stays on record."""
    audit_writes(resources, principal, action, [(target, detail)])


def audit_writes(
    resources: Resources,
    principal: Principal,
    action: str,
    writes: Sequence[tuple[str, dict[str, object]]],
) -> None:
    """:func:`audit_write` of several targets at once, in one insert."""
    audit.record(
        resources.clickhouse,
        *(
            audit.AuditEntry(
                subject=principal.subject,
                workspace=principal.workspace,
                role=principal.role.value,
                action=action,
                target=target,
                detail=detail,
            )
            for target, detail in writes
        ),
    )


def wants_csv(request: Request, fmt: Format | None) -> bool:
    """``?format=`` wins; else ``Accept: text/csv`` (without a JSON preference) asks for CSV."""
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "").lower()
    return "text/csv" in accept and "application/json" not in accept


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_ts(value)
    # A text cell that a spreadsheet would run as a formula is prefixed (CSV injection).
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    headers: dict[str, str] | None = None,
) -> Response:
    """A CSV download: one header line, then ``rows``; nulls are empty cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}"', **(headers or {})},
    )


def growth_items(growth: dict[str, tuple[int | None, float | None]]) -> dict[str, GrowthItem]:
    return {p: GrowthItem(change=c, rate=r) for p, (c, r) in growth.items()}


def as_label(value: str | None) -> Label | None:
    """A stored label as the API's own/competitor (rows written without one read as own)."""
    if value is None:
        return None
    return "competitor" if value == "competitor" else "own"
