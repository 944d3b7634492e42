"""A fake Apify API v2 with five actors, run states, datasets and run lookups.

Actors answer from ``payloads/apify_*.json``; handles named ``user<digits>``
get synthetic but stable rows, so batching can be tested with any number of
accounts. :meth:`ApifyWorld.behave` scripts how an actor's runs go: a sync
answer, a 408 ``run-timeout-exceeded`` (the run keeps going), a 400
``run-failed`` with a partial dataset, and for async runs the number of polls
before the final state (SUCCEEDED, TIMED-OUT, FAILED, ABORTED) and how many
items reach the dataset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "apify_api_test_token"
SYNTHETIC = re.compile(r"^user(\d+)$")


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def _handle(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1].lstrip("@").lower()


def instagram(actor_input: dict[str, Any]) -> list[dict[str, Any]]:
    data = _load("apify_instagram.json")
    rows = []
    for name in actor_input.get("usernames", []):
        key = name.lower()
        if key in data["profiles"]:
            rows.append(data["profiles"][key])
        elif match := SYNTHETIC.match(key):
            n = int(match.group(1))
            rows.append(
                {
                    "id": str(9_000_000 + n),
                    "username": key,
                    "fullName": f"User {n}",
                    "followersCount": 1000 + n,
                    "followsCount": n % 50,
                    "postsCount": n % 300,
                    "private": False,
                    "latestPosts": [],
                }
            )
        else:
            default = {
                "inputUrl": f"https://www.instagram.com/{key}",
                "error": "not_found",
                "errorDescription": "Profile does not exist",
            }
            rows.append(data["errors"].get(key, default))
    return rows


def tiktok(actor_input: dict[str, Any]) -> list[dict[str, Any]]:
    data = _load("apify_tiktok.json")
    rows = []
    for name in actor_input.get("profiles", []):
        key = name.lower()
        if key in data["videos"]:
            videos = data["videos"][key][: actor_input.get("resultsPerPage", 100)]
            rows += [{**v, "authorMeta": data["authors"][key], "input": name} for v in videos]
        elif match := SYNTHETIC.match(key):
            n = int(match.group(1))
            author = {
                "id": str(6_000_000 + n),
                "name": key,
                "fans": 500 + n,
                "following": 3,
                "video": 1,
            }
            rows.append(
                {"id": str(7_000_000 + n), "authorMeta": author, "diggCount": n, "input": name}
            )
        elif key in data["errors"]:
            rows.append(data["errors"][key])
        # Otherwise nothing at all, as for a profile without videos.
    return rows


def facebook_pages(actor_input: dict[str, Any]) -> list[dict[str, Any]]:
    data = _load("apify_facebook.json")
    rows = []
    for start in actor_input.get("startUrls", []):
        key = _handle(start["url"])
        if key in data["pages"]:
            rows.append(data["pages"][key])
        elif match := SYNTHETIC.match(key):
            n = int(match.group(1))
            rows.append(
                {
                    "facebookUrl": start["url"],
                    "pageId": str(100_000 + n),
                    "pageName": key,
                    "title": f"Page {n}",
                    "likes": n,
                    "followers": 2 * n,
                }
            )
        elif key in data["errors"]:
            rows.append(data["errors"][key])
    return rows


def facebook_posts(actor_input: dict[str, Any]) -> list[dict[str, Any]]:
    data = _load("apify_facebook.json")
    limit = actor_input.get("resultsLimit", 100)
    rows = []
    for start in actor_input.get("startUrls", []):
        rows += data["posts"].get(_handle(start["url"]), [])[:limit]
    return rows


def tweets(actor_input: dict[str, Any]) -> list[dict[str, Any]]:
    data = _load("apify_x.json")
    rows: list[dict[str, Any]] = []
    for name in actor_input.get("twitterHandles", []):
        key = name.lower()
        rows += [{**t, "author": data["authors"][key]} for t in data["tweets"].get(key, [])]
    if len(rows) < len(actor_input.get("twitterHandles", [])):
        rows.append({"noResults": True})  # what the actor writes when a search finds nothing
    return rows[: actor_input.get("maxItems", len(rows))]


def youtube(actor_input: dict[str, Any]) -> list[dict[str, Any]]:
    data = _load("apify_youtube.json")
    rows = []
    for start in actor_input.get("startUrls", []):
        key = _handle(start["url"])
        channel = data["channels"].get(key)
        if channel:
            videos = data["videos"][key][: actor_input.get("maxResults", 100)]
            rows += [{**channel, **video} for video in videos]
    return rows


ACTORS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "apify~instagram-profile-scraper": instagram,
    "clockworks~tiktok-scraper": tiktok,
    "apify~facebook-pages-scraper": facebook_pages,
    "apify~facebook-posts-scraper": facebook_posts,
    "apidojo~tweet-scraper": tweets,
    "streamers~youtube-scraper": youtube,
}


@dataclass
class Behaviour:
    mode: str = "sync"  # "sync", "sync_timeout" (408), "run_failed" (400 + partial dataset)
    polls: int = 0  # polls answered RUNNING before the final state
    final_status: str = "SUCCEEDED"
    keep_items: int | None = None  # items in the dataset when the run did not succeed


@dataclass
class Run:
    id: str
    act_id: str
    started_at: datetime
    status: str
    polls_left: int
    final_status: str
    dataset_id: str
    store_id: str

    def json(self) -> dict[str, Any]:
        finished = self.status in ("SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED")
        return {
            "id": self.id,
            "actId": self.act_id,
            "userId": "wRsJZtadYvn4mBZmm",
            "startedAt": self.started_at.isoformat().replace("+00:00", "Z"),
            "finishedAt": self.started_at.isoformat().replace("+00:00", "Z") if finished else None,
            "status": self.status,
            "statusMessage": f"Run {self.status.lower()}",
            "meta": {"origin": "API"},
            "defaultKeyValueStoreId": self.store_id,
            "defaultDatasetId": self.dataset_id,
            "defaultRequestQueueId": f"rq{self.id}",
            "usageTotalUsd": 0.0123,
        }


@dataclass
class ApifyWorld:
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    datasets: dict[str, list[Any]] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    def behave(self, actor_id: str, **settings: Any) -> None:
        self.behaviours[actor_id.replace("/", "~")] = Behaviour(**settings)

    def reset(self) -> None:
        self.behaviours.clear()
        self.runs.clear()
        self.datasets.clear()
        self.inputs.clear()

    def start(self, act: str, actor_input: dict[str, Any], *, polls: int | None = None) -> Run:
        behaviour = self.behaviours.get(act, Behaviour())
        n = len(self.runs) + 1
        run = Run(
            id=f"HG7ML7M8z78Y{n:05d}",
            act_id=act,
            started_at=self.clock(),
            status="READY",
            polls_left=behaviour.polls if polls is None else polls,
            final_status=behaviour.final_status,
            dataset_id=f"ds{n:05d}",
            store_id=f"kv{n:05d}",
        )
        items = ACTORS[act](actor_input)
        if behaviour.final_status != "SUCCEEDED" and behaviour.keep_items is not None:
            items = items[: behaviour.keep_items]
        self.runs[run.id], self.datasets[run.dataset_id] = run, items
        self.inputs[run.store_id] = actor_input
        return run


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def make_apify(world: ApifyWorld) -> FakeUpstream:
    fake = FakeUpstream("apify")
    _actor_routes(fake.app, world)
    _run_routes(fake.app, world)
    return fake


def _actor_routes(app: FastAPI, world: ApifyWorld) -> None:
    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(
                401,
                "user-or-token-not-found",
                "User was not found or authentication token is not valid",
            )
        return await call_next(request)

    @app.post("/v2/acts/{act}/run-sync-get-dataset-items", response_model=None)
    async def run_sync(act: str, request: Request) -> Any:
        if act not in ACTORS:
            return _error(404, "record-not-found", "Actor was not found")
        behaviour = world.behaviours.get(act, Behaviour())
        run = world.start(act, await request.json())
        if behaviour.mode == "sync_timeout":
            run.status = "RUNNING"
            return _error(
                408,
                "run-timeout-exceeded",
                "Actor run exceeded the timeout of 300 seconds for this API endpoint",
            )
        if behaviour.mode == "run_failed":
            run.status = behaviour.final_status
            message = f"Actor run did not succeed (run ID: {run.id}, status: {run.status})"
            return _error(400, "run-failed", message)
        run.status = "SUCCEEDED"
        return JSONResponse(world.datasets[run.dataset_id], status_code=201)

    @app.post("/v2/acts/{act}/runs", response_model=None)
    async def start_run(act: str, request: Request) -> Any:
        if act not in ACTORS:
            return _error(404, "record-not-found", "Actor was not found")
        run = world.start(act, await request.json())
        return JSONResponse({"data": run.json()}, status_code=201)


def _run_routes(app: FastAPI, world: ApifyWorld) -> None:
    @app.get("/v2/acts/{act}/runs")
    async def list_runs(act: str, desc: str = "0", limit: int = 1000) -> Any:
        runs = [r for r in world.runs.values() if r.act_id == act]
        runs.sort(key=lambda r: r.id, reverse=desc in ("1", "true"))
        items = [r.json() for r in runs[:limit]]
        return {
            "data": {
                "total": len(runs),
                "offset": 0,
                "limit": limit,
                "count": len(items),
                "items": items,
            }
        }

    @app.get("/v2/actor-runs/{run_id}", response_model=None)
    async def get_run(run_id: str, waitForFinish: int = 0) -> Any:  # noqa: N803 - the API's name
        run = world.runs.get(run_id)
        if run is None:
            return _error(404, "record-not-found", "Actor run was not found")
        if run.status in ("READY", "RUNNING"):
            if run.polls_left > 0:
                run.polls_left -= 1
                run.status = "RUNNING"
            else:
                run.status = run.final_status
        elif run.status == "ABORTING":
            run.status = "ABORTED"
        return {"data": run.json()}

    @app.post("/v2/actor-runs/{run_id}/abort", response_model=None)
    async def abort(run_id: str) -> Any:
        run = world.runs[run_id]
        run.status = "ABORTING"
        return {"data": run.json()}

    @app.get("/v2/datasets/{dataset_id}/items", response_model=None)
    async def items(dataset_id: str, offset: int = 0, limit: int = 250_000) -> Any:
        data = world.datasets.get(dataset_id)
        if data is None:
            return _error(404, "record-not-found", "Dataset was not found")
        page = data[offset : offset + limit]
        headers = {
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": str(limit),
            "X-Apify-Pagination-Count": str(len(page)),
            "X-Apify-Pagination-Total": str(len(data)),
        }
        return JSONResponse(page, headers=headers)

    @app.get("/v2/key-value-stores/{store_id}/records/INPUT", response_model=None)
    async def run_input(store_id: str) -> Any:
        if store_id not in world.inputs:
            return _error(404, "record-not-found", "Record was not found")
        return world.inputs[store_id]
