"""A scriptable fake upstream: a real HTTP server, recorded requests, injected answers.

Each fake is a FastAPI app (its routes answer like the real API) wrapped by a
small ASGI layer that records every request and, when a test queued one,
answers with an injected response instead (429, 5xx, broken JSON) or delays
the real answer (timeouts). Injections match a glob on the path and are used
once each, in order, so "fail twice, then succeed" is two injections.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.http_server import serve


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # decoded, as routes see it
    raw_path: str  # as sent on the wire (percent-encoding kept)
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Injected:
    """An answer to give instead of the route's (or, with ``passthrough``, before it)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    passthrough: bool = False  # delay, then let the real route answer
    method: str | None = None  # only for this method


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Injected:
    return Injected(
        status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})}
    )


def rate_limited(retry_after: str = "1", body: Any = None, **headers: str) -> Injected:
    """A 429 with ``Retry-After`` (delta-seconds or an HTTP-date, see :func:`http_date`)."""
    payload = body if body is not None else {"error": "Too Many Requests"}
    return json_answer(429, payload, {"retry-after": retry_after, **headers})


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


def server_error(status: int = 503) -> Injected:
    return Injected(
        status, b"<html><body>upstream unavailable</body></html>", {"content-type": "text/html"}
    )


def malformed(status: int = 200) -> Injected:
    """A body cut off mid-JSON, as a dropped connection or a bad proxy leaves it."""
    return Injected(status, b'{"data": [{"id": "1", "na', {"content-type": "application/json"})


def slow(seconds: float) -> Injected:
    return Injected(delay_s=seconds, passthrough=True)


class FakeUpstream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.app = FastAPI(title=f"fake {name}")
        self.requests: list[Recorded] = []
        self._injected: deque[tuple[str, Injected]] = deque()
        self._lock = threading.Lock()

    def inject(self, path_glob: str, *answers: Injected) -> None:
        with self._lock:
            self._injected.extend((path_glob, answer) for answer in answers)

    def calls(self, path_glob: str = "*", method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if fnmatch.fnmatchcase(r.path, path_glob) and (method is None or r.method == method)
            ]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._injected.clear()

    def _record_and_take(self, recorded: Recorded) -> Injected | None:
        with self._lock:
            self.requests.append(recorded)
            for index, (glob, answer) in enumerate(self._injected):
                method_ok = answer.method is None or answer.method == recorded.method
                if method_ok and fnmatch.fnmatchcase(recorded.path, glob):
                    del self._injected[index]
                    return answer
        return None

    @contextmanager
    def running(self) -> Iterator[str]:
        with serve(_Scripted(self.app, self)) as base_url:  # type: ignore[arg-type]
            yield base_url


class _Scripted:
    """ASGI layer: record, then answer with an injection or pass to the app."""

    def __init__(self, app: ASGIApp, fake: FakeUpstream) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        recorded = Recorded(
            method=scope["method"],
            path=scope["path"],
            raw_path=(scope.get("raw_path") or b"").decode("latin-1"),
            query=parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
        )
        injected = self.fake._record_and_take(recorded)
        if injected is not None:
            await asyncio.sleep(injected.delay_s)
            if not injected.passthrough:
                response = Response(injected.body, injected.status, injected.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(body), send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # nothing more: wait like a quiet client would
        return {"type": "http.disconnect"}

    return receive
