"""A fake YouTube Data API v3: channels (by id list or forHandle), playlistItems, videos.

Channels named ``UCsynth<digits>`` are synthesised, so a 120-id batch can be
tested. A missing or wrong ``X-Goog-Api-Key`` gets Google's 400 API_KEY_INVALID.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
API_KEY = "AIzaSyTESTKEY"
SYNTHETIC = re.compile(r"^UCsynth(\d+)$")


def google_error(
    status: int, reason: str, message: str, domain: str = "youtube.quota"
) -> JSONResponse:
    error = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    return JSONResponse({"error": error}, status_code=status)


def _synthetic(channel_id: str) -> dict[str, Any] | None:
    match = SYNTHETIC.match(channel_id)
    if not match:
        return None
    n = int(match.group(1))
    stats = {
        "subscriberCount": str(1000 * (n + 1)),
        "hiddenSubscriberCount": False,
        "videoCount": str(n),
    }
    return {"id": channel_id, "snippet": {"title": f"Synth {n}"}, "statistics": stats}


def make_youtube() -> FakeUpstream:
    data: dict[str, Any] = json.loads((PAYLOADS / "youtube_api.json").read_text())
    fake = FakeUpstream("youtube")
    by_id = {c["id"]: c for c in data["channels"]}
    by_handle = {c["snippet"]["customUrl"].lower(): c for c in data["channels"]}
    videos = {v["id"]: v for v in data["videos"]}

    @fake.app.middleware("http")
    async def api_key(request: Request, call_next: Any) -> Any:
        if request.headers.get("x-goog-api-key") != API_KEY:
            body = {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "errors": [{"domain": "global", "reason": "badRequest"}],
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                        }
                    ],
                }
            }
            return JSONResponse(body, status_code=400)
        return await call_next(request)

    @fake.app.get("/youtube/v3/channels")
    async def channels(part: str, id: str | None = None, forHandle: str | None = None) -> Any:  # noqa: A002, N803
        if id is not None:
            ids = id.split(",")
            if len(ids) > 50:
                return google_error(400, "invalidParameter", "too many ids", "youtube.parameter")
            items = [c for c in (by_id.get(i) or _synthetic(i) for i in ids) if c]
        else:
            found = by_handle.get("@" + (forHandle or "").lstrip("@").lower())
            items = [found] if found else []
        body: dict[str, Any] = {
            "kind": "youtube#channelListResponse",
            "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
        }
        if items:  # like the API: no "items" key at all when nothing matched
            body["items"] = items
        return body

    @fake.app.get("/youtube/v3/playlistItems", response_model=None)
    async def playlist_items(playlistId: str, maxResults: int = 5) -> Any:  # noqa: N803
        if playlistId not in data["uploads"]:
            return google_error(
                404,
                "playlistNotFound",
                "The playlist identified with the request's playlistId parameter cannot be found.",
                "youtube.playlistItem",
            )
        ids = data["uploads"][playlistId][:maxResults]
        return {"items": [{"contentDetails": {"videoId": v}} for v in ids]}

    @fake.app.get("/youtube/v3/videos")
    async def list_videos(id: str) -> Any:  # noqa: A002
        return {"items": [videos[v] for v in id.split(",") if v in videos]}

    return fake
