"""Test helpers for the collectors: a scriptable fake upstream over real HTTP, Redis access,
and the real :class:`HttpUpstream` for the source tests.

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
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.apify_metrics import observe_apify
from collectors.cache import ResponseCache
from collectors.circuit import CircuitBreaker
from collectors.clock import Clock, ManualClock
from collectors.emitter import SnapshotEmitter
from collectors.http import HttpUpstream, RetryPolicy
from collectors.ratelimit import DEFAULT_RATES, RateLimiter
from collectors.registry import TrackedAccount
from collectors.secrets import SecretToken
from collectors.sources.base import AccountRef, Source, TokenLookup
from collectors.upstream import UpstreamRequest, UpstreamResponse
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


def static_token(value: str) -> TokenLookup:
    """The same OAuth token for every account (the token store has its own tests)."""

    async def token_for(account: AccountRef) -> SecretToken | None:
        return SecretToken(value)

    return token_for


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


async def read_records(bootstrap: str, topic: str, timeout_s: float = 20) -> list[ConsumerRecord]:
    """Every record in ``topic`` right now (up to its end offsets), as consumed."""
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
        out: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=500)
            out += [m for msgs in batch.values() for m in msgs]
        return out
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str, timeout_s: float = 20) -> list[dict[str, Any]]:
    """Every record in ``topic`` right now, value JSON-decoded, key as ``_key``."""
    return [
        {"_key": m.key.decode() if m.key else None, **json.loads(m.value)}
        for m in await read_records(bootstrap, topic, timeout_s)
    ]


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


class CappedTimeouts(httpx.AsyncBaseTransport):
    """Caps every request's timeouts, so a test waits ``cap_s`` where a source allows minutes.

    (Apify's sync endpoint is given 330 s; a test of a slow answer should not be.)
    """

    def __init__(self, cap_s: float) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._cap_s = cap_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        request.extensions["timeout"] = {
            name: self._cap_s if value is None else min(value, self._cap_s)
            for name, value in timeouts.items()
        }
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Wire:
    """A real :class:`HttpUpstream` on the test's Redis, and every fresh answer it received."""

    upstream: HttpUpstream
    clock: Clock
    answers: list[tuple[UpstreamRequest, UpstreamResponse]]

    @property
    def sent(self) -> list[UpstreamRequest]:
        return [request for request, _ in self.answers]

    @property
    def received(self) -> list[UpstreamResponse]:
        return [response for _, response in self.answers]


# Far above any test's needs: the bucket is still asked on every call, but never makes
# a ManualClock jump (which would move the observed_at of later answers).
TEST_RATES = {name: 10_000.0 for name in DEFAULT_RATES}


class Wires:
    """Makes real upstreams for one test; what they open is closed with the test."""

    def __init__(self, redis: Redis, prefix: str, stack: AsyncExitStack) -> None:
        self._redis = redis
        self._prefix = prefix
        self._stack = stack

    async def make(
        self, clock: Clock, *, cache: str = "", timeout_cap_s: float = 5.0, retries: int = 0
    ) -> Wire:
        """An upstream on ``clock``; ``cache`` names a separate Redis space (own cache, bucket,
        circuit). Retries are off by default: a source test asserts one answer's reading."""
        http = await self._stack.enter_async_context(
            httpx.AsyncClient(transport=CappedTimeouts(timeout_cap_s))
        )
        answers: list[tuple[UpstreamRequest, UpstreamResponse]] = []
        prefix = f"{self._prefix}:{cache}" if cache else self._prefix  # cleaned up with the test
        upstream = HttpUpstream(
            http,
            limiter=RateLimiter(self._redis, prefix, clock, TEST_RATES),
            breaker=CircuitBreaker(self._redis, prefix, clock),
            cache=ResponseCache(self._redis, prefix),
            clock=clock,
            timeout_s=timeout_cap_s,
            policy=RetryPolicy(max_retries=retries),
            observers=[
                observe_apify,
                lambda request, response: answers.append((request, response)),
            ],
        )
        return Wire(upstream, clock, answers)


@asynccontextmanager
async def wires_for(ns: Namespace) -> AsyncIterator[Wires]:
    async with redis_for(ns) as redis, AsyncExitStack() as stack:
        yield Wires(redis, ns.name, stack)
