"""Test helpers for the collectors: a scriptable fake upstream over real HTTP, Redis access.

The fake answers from a per-path script of :class:`Reply` values (then a default)
and records every call, so a test asserts what really reached the "upstream".
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.clock import ManualClock
from collectors.emitter import SnapshotEmitter
from collectors.registry import TrackedAccount
from collectors.sources.base import Source
from collectors.wiring import Collector, build_collector
from socialpulse.contract import Platform
from socialpulse.kafka import ensure_topics, make_producer
from socialpulse.settings import CollectorSettings
from tests.conftest import Namespace
from tests.http_server import serve


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps({"ok": True} if self.body is None else self.body).encode()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic seconds on arrival


class FakeUpstream:
    """Answers ``script``ed replies per path in order, then ``handler`` or a 200."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self.handler: Callable[[Call], Reply] | None = None
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._serve, methods=["GET", "POST"])])

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path].extend(replies)

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    async def _serve(self, request: Request) -> Response:
        call = Call(
            request.method,
            "/" + request.path_params["path"],
            dict(request.query_params),
            dict(request.headers),
            await request.body(),
            time.monotonic(),
        )
        with self._lock:
            self.calls.append(call)
            script = self.scripts.get(call.path)
            reply = script.popleft() if script else None
        if reply is None:
            reply = self.handler(call) if self.handler else Reply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return Response(reply.encoded(), reply.status, reply.headers, media_type="application/json")


@contextmanager
def fake_upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with serve(fake.app) as base:  # type: ignore[arg-type]
        yield fake, base


@asynccontextmanager
async def redis_for(ns: Namespace) -> AsyncIterator[Redis]:
    """A client on the test Redis; deletes the test's own keys (``ns.name:*``) afterwards."""
    client = Redis.from_url(ns.urls.redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{ns.name}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
        await client.aclose()


async def read_all(bootstrap: str, topic: str, timeout_s: float = 20) -> list[dict[str, Any]]:
    """Every record in ``topic`` right now (up to its end offsets), value JSON-decoded."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=500)
            out += [
                {"_key": m.key.decode() if m.key else None, **json.loads(m.value)}
                for msgs in batch.values()
                for m in msgs
            ]
        return out
    finally:
        await consumer.stop()


@dataclass
class Kit:
    """A collector wired to the test's namespace, with a ManualClock and real services."""

    settings: CollectorSettings
    collector: Collector
    redis: Redis
    emitter: SnapshotEmitter
    http: httpx.AsyncClient
    clock: ManualClock


@asynccontextmanager
async def collector_kit(
    ns: Namespace,
    clock: ManualClock,
    *,
    accounts: Sequence[TrackedAccount] = (),
    sources: Mapping[Platform, Source] | None = None,
    **overrides: object,
) -> AsyncIterator[Kit]:
    values: dict[str, object] = {
        "registry_from_clickhouse": False, "simulator_accounts": 0, "batch_linger_s": 0,
        **overrides,
    }  # fmt: skip
    settings = ns.settings(CollectorSettings, **values)
    assert isinstance(settings, CollectorSettings)
    await ensure_topics(settings)
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        async with redis_for(ns) as redis, httpx.AsyncClient() as http:
            emitter = SnapshotEmitter(producer, ns.topics)
            collector = build_collector(
                settings, clock=clock, redis=redis, http=http, emitter=emitter,
                sources=sources, static_accounts=accounts,
            )  # fmt: skip
            yield Kit(settings, collector, redis, emitter, http, clock)
            if collector.webhooks:
                await collector.webhooks.drain()
    finally:
        await producer.stop()
