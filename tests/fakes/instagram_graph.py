"""A fake Instagram Graph API: IG User fields and /media with cursor paging, Graph errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "EAAGtesttoken"
VERSION = "v21.0"


def graph_error(
    status: int, code: int, message: str, subcode: int | None = None, **extra: Any
) -> JSONResponse:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return JSONResponse({"error": {**error, **extra}}, status_code=status)


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def make_instagram_graph() -> FakeUpstream:
    data: dict[str, Any] = json.loads((PAYLOADS / "instagram_graph.json").read_text())
    fake = FakeUpstream("instagram_graph")

    def missing(object_id: str) -> JSONResponse:
        message = (
            f"Unsupported get request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation."
        )
        return graph_error(400, 100, message, 33, type="GraphMethodException")

    @fake.app.middleware("http")
    async def token(request: Request, call_next: Any) -> Any:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return graph_error(400, 190, "Error validating access token: Session has expired.", 463)
        return await call_next(request)

    @fake.app.get(f"/{VERSION}/{{user_id}}", response_model=None)
    async def user(user_id: str, fields: str) -> Any:
        found = data["users"].get(user_id)
        if found is None:
            return missing(user_id)
        return {k: v for k, v in found.items() if k in fields.split(",")}

    @fake.app.get(f"/{VERSION}/{{user_id}}/media", response_model=None)
    async def media(
        request: Request, user_id: str, fields: str, limit: int = 25, after: str | None = None
    ) -> Any:
        if user_id not in data["users"]:
            return missing(user_id)
        rows = data["media"].get(user_id, [])
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        page = rows[start : start + limit]
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}
        }
        if start + limit < len(rows):
            paging["next"] = (
                f"{str(request.url).split('?')[0]}?limit={limit}&after={_cursor(start + limit)}"
            )
        wanted = fields.split(",")
        return {
            "data": [{k: v for k, v in m.items() if k in wanted} for m in page],
            "paging": paging,
        }

    return fake
