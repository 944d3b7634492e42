"""A fake Mastodon server: account lookup, accounts/:id, statuses with max_id paging.

Every answer carries ``X-RateLimit-Limit/Remaining/Reset`` (reset as ISO 8601,
like Mastodon) and statuses pages a ``Link`` header.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
LIMIT = 300


def make_mastodon() -> FakeUpstream:
    data: dict[str, Any] = json.loads((PAYLOADS / "mastodon.json").read_text())
    fake = FakeUpstream("mastodon")
    by_id = {a["id"]: a for a in data["accounts"]}
    by_acct = {a["acct"].lower(): a for a in data["accounts"]}
    served = [0]

    def rate_headers() -> dict[str, str]:
        served[0] += 1
        reset = (datetime.now(UTC) + timedelta(minutes=5)).replace(second=0, microsecond=0)
        return {
            "X-RateLimit-Limit": str(LIMIT),
            "X-RateLimit-Remaining": str(max(0, LIMIT - served[0])),
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def not_found() -> JSONResponse:
        return JSONResponse({"error": "Record not found"}, status_code=404, headers=rate_headers())

    @fake.app.get("/api/v1/accounts/lookup", response_model=None)
    async def lookup(acct: str) -> Any:
        account = by_acct.get(acct.lower())
        return JSONResponse(account, headers=rate_headers()) if account else not_found()

    @fake.app.get("/api/v1/accounts/{account_id}", response_model=None)
    async def get_account(account_id: str) -> Any:
        account = by_id.get(account_id)
        return JSONResponse(account, headers=rate_headers()) if account else not_found()

    @fake.app.get("/api/v1/accounts/{account_id}/statuses", response_model=None)
    async def statuses(request: Request, account_id: str, limit: int = 20) -> Any:
        if account_id not in by_id:
            return not_found()
        params = request.query_params
        rows = data["statuses"].get(account_id, [])
        if params.get("exclude_reblogs") == "true":
            rows = [s for s in rows if not s.get("reblog")]
        if max_id := params.get("max_id"):
            rows = [s for s in rows if int(s["id"]) < int(max_id)]
        page = rows[: min(limit, 40)]
        headers = rate_headers()
        if page:
            base = str(request.url).split("?")[0]
            newer, older = f"{base}?min_id={page[0]['id']}", f"{base}?max_id={page[-1]['id']}"
            headers["Link"] = f'<{older}>; rel="next", <{newer}>; rel="prev"'
        return JSONResponse(page, headers=headers)

    return fake
