"""A fake Reddit: about.json for subreddits and users, with Reddit's odd failures.

Private subreddits answer 403 ``reason: private``, banned ones 404 ``reason:
banned``, unknown ones a search Listing (Reddit redirects those to search).
Every answer carries ``x-ratelimit-used/remaining/reset`` (reset in seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
RATE = {"x-ratelimit-used": "1", "x-ratelimit-remaining": "99.0", "x-ratelimit-reset": "540"}


def make_reddit() -> FakeUpstream:
    data: dict[str, Any] = json.loads((PAYLOADS / "reddit.json").read_text())
    fake = FakeUpstream("reddit")

    @fake.app.middleware("http")
    async def user_agent(request: Request, call_next: Any) -> Any:
        if (
            not request.headers.get("user-agent", "").strip()
            or "python-httpx" in request.headers["user-agent"]
        ):
            return JSONResponse(
                {"message": "Too Many Requests", "error": 429}, status_code=429
            )  # Reddit's answer to generic agents
        return await call_next(request)

    @fake.app.get("/r/{name}/about.json", response_model=None)
    async def subreddit(name: str) -> Any:
        key = name.lower()
        if key in data["private"]:
            return JSONResponse(
                {"reason": "private", "message": "Forbidden", "error": 403},
                status_code=403,
                headers=RATE,
            )
        if key in data["banned"]:
            return JSONResponse(
                {"reason": "banned", "message": "Not Found", "error": 404},
                status_code=404,
                headers=RATE,
            )
        if key not in data["subreddits"]:
            return JSONResponse(
                {"kind": "Listing", "data": {"after": None, "dist": 0, "children": []}},
                headers=RATE,
            )
        return JSONResponse(data["subreddits"][key], headers=RATE)

    @fake.app.get("/user/{name}/about.json", response_model=None)
    async def user(name: str) -> Any:
        found = data["users"].get(name.lower())
        if found is None:
            return JSONResponse(
                {"message": "Not Found", "error": 404}, status_code=404, headers=RATE
            )
        return JSONResponse(found, headers=RATE)

    return fake
