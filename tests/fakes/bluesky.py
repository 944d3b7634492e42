"""A fake Bluesky AppView: getProfile and getAuthorFeed with cursor paging and XRPC errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"


def _xrpc_error(name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": name, "message": message}, status_code=400)


def make_bluesky() -> FakeUpstream:
    data: dict[str, Any] = json.loads((PAYLOADS / "bluesky.json").read_text())
    fake = FakeUpstream("bluesky")
    profiles = {p["did"]: p for p in data["profiles"]} | {p["handle"]: p for p in data["profiles"]}
    headers = {
        "ratelimit-limit": "3000",
        "ratelimit-remaining": "2999",
        "ratelimit-reset": "1795256400",
    }

    @fake.app.get("/xrpc/app.bsky.actor.getProfile", response_model=None)
    async def get_profile(actor: str) -> Any:
        if actor in data["takendown"]:
            return _xrpc_error("AccountTakedown", "Account has been suspended")
        if actor in data["deactivated"]:
            return _xrpc_error("AccountDeactivated", "Account is deactivated")
        if actor not in profiles:
            return _xrpc_error("InvalidRequest", "Profile not found")
        return JSONResponse(profiles[actor], headers=headers)

    @fake.app.get("/xrpc/app.bsky.feed.getAuthorFeed", response_model=None)
    async def get_author_feed(actor: str, limit: int = 50, cursor: str | None = None) -> Any:
        if actor not in profiles:
            return _xrpc_error("InvalidRequest", "Profile not found")
        if not 1 <= limit <= 100:
            return _xrpc_error("InvalidRequest", "limit must be between 1 and 100")
        feed = data["feeds"].get(profiles[actor]["did"], [])
        start = int(cursor) if cursor else 0
        page = feed[start : start + limit]
        body: dict[str, Any] = {"feed": page}
        if start + limit < len(feed):
            body["cursor"] = str(start + limit)  # opaque to clients; an offset here
        return JSONResponse(body, headers=headers)

    return fake
