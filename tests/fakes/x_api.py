"""A fake X API v2: batched user lookups with partial ``errors[]``, user tweets with next_token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
BEARER = "AAAAAAAAAAAAAAAAAAAAAtest"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
SYNTHETIC = re.compile(r"^user(\d+)$")
RATE = {
    "x-rate-limit-limit": "300",
    "x-rate-limit-remaining": "299",
    "x-rate-limit-reset": "1795256400",
}


class XWorld:
    def __init__(self) -> None:
        self.data: dict[str, Any] = json.loads((PAYLOADS / "x_api.json").read_text())
        self.by_id = {u["id"]: u for u in self.data["users"]}
        self.by_name = {u["username"].lower(): u for u in self.data["users"]}

    def user(self, name: str) -> dict[str, Any] | None:
        if match := SYNTHETIC.match(name.lower()):
            n = int(match.group(1))
            metrics = {"followers_count": 10 * n, "following_count": n, "tweet_count": n}
            return {
                "id": str(4_000_000 + n),
                "username": name,
                "name": f"User {n}",
                "public_metrics": metrics,
            }
        return self.by_name.get(name.lower())

    def problem(self, value: str, parameter: str) -> dict[str, Any]:
        """X's per-user problem; a suspended user is "Forbidden" with a not-found type."""
        suspended = value.lower() in self.data["suspended"]
        detail = (
            f"User has been suspended: [{value}]."
            if suspended
            else f"Could not find user with {parameter}: [{value}]."
        )
        title = "Forbidden" if suspended else "Not Found Error"
        return {
            "value": value,
            "detail": detail,
            "title": title,
            "resource_type": "user",
            "parameter": parameter,
            "resource_id": value,
            "type": NOT_FOUND,
        }


def _answer(found: list[dict[str, Any]], problems: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if found:
        body["data"] = found
    if problems:
        body["errors"] = problems
    return body


def make_x_api() -> FakeUpstream:
    world = XWorld()
    fake = FakeUpstream("x")
    _user_routes(fake.app, world)
    _tweet_routes(fake.app, world)

    @fake.app.middleware("http")
    async def bearer(request: Request, call_next: Any) -> Any:
        if request.headers.get("authorization") != f"Bearer {BEARER}":
            body = {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            }
            return JSONResponse(body, status_code=401)
        response = await call_next(request)
        response.headers.update(RATE)
        return response

    return fake


def _user_routes(app: FastAPI, world: XWorld) -> None:
    @app.get("/2/users/by")
    async def by_usernames(usernames: str) -> Any:
        names = usernames.split(",")
        found = [u for u in (world.user(n) for n in names) if u]
        return _answer(found, [world.problem(n, "usernames") for n in names if not world.user(n)])

    @app.get("/2/users")
    async def by_ids(ids: str) -> Any:
        wanted = ids.split(",")
        found = [world.by_id[i] for i in wanted if i in world.by_id]
        return _answer(found, [world.problem(i, "ids") for i in wanted if i not in world.by_id])


def _tweet_routes(app: FastAPI, world: XWorld) -> None:
    @app.get("/2/users/{user_id}/tweets", response_model=None)
    async def tweets(
        user_id: str, max_results: int = 10, pagination_token: str | None = None
    ) -> Any:
        if not 5 <= max_results <= 100:
            body = {
                "errors": [{"message": "max_results must be between 5 and 100"}],
                "title": "Invalid Request",
            }
            return JSONResponse(body, status_code=400)
        rows = world.data["tweets"].get(user_id, [])
        start = int(pagination_token or 0)
        page = rows[start : start + max_results]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if start + max_results < len(rows):
            meta["next_token"] = str(start + max_results)
        return {**({"data": page} if page else {}), "meta": meta}
