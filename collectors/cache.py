"""Upstream answers cached in Redis for the request's ``cache_ttl_s``.

Shared by every replica, so a second sync of the same account inside the TTL
makes no upstream call wherever it runs. The key is a digest of everything
that shapes the answer — method, URL, query, body and the request headers
(tokens included, so one account's private answer is never served to another)
— and never contains a token in clear.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis

from collectors.upstream import UpstreamRequest, UpstreamResponse


def cache_key(request: UpstreamRequest) -> str:
    material = json.dumps(
        [
            request.method.upper(),
            request.url,
            sorted(request.params.items()),
            sorted((k.lower(), v) for k, v in request.headers.items()),
            request.json_body,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()


class ResponseCache:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, request: UpstreamRequest) -> str:
        return f"{self._prefix}:cache:{request.upstream}:{cache_key(request)}"

    async def get(self, request: UpstreamRequest) -> UpstreamResponse | None:
        # The client is made without decode_responses: bodies are bytes.
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(self._key(request)))
        if not raw:
            return None
        return UpstreamResponse(
            status=int(raw[b"status"]),
            headers=json.loads(raw[b"headers"]),
            body=raw[b"body"],
            from_cache=True,
            received_at=_from_epoch(raw.get(b"received_at")),
        )

    async def put(self, request: UpstreamRequest, response: UpstreamResponse) -> None:
        if not request.cache_ttl_s or request.cache_ttl_s <= 0:
            return
        key = self._key(request)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "status": response.status,
                    "headers": json.dumps(response.headers),
                    "body": response.body,
                    # Kept so a hit repeats the original observation (same observed_at).
                    "received_at": response.received_at.timestamp() if response.received_at else "",
                },
            )
            pipe.pexpire(key, int(request.cache_ttl_s * 1000))
            await pipe.execute()


def _from_epoch(value: bytes | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None
