"""A short-TTL Redis cache of hot dashboard answers (overview, accounts list, timeseries).

Entries are keyed by who may see what -- the workspace, and whether the token sees
everything (admin) -- plus the endpoint and its normalised parameters, so two tenants
never share an entry, while the analysts and editors of one workspace do.

A tracking change must show at once (a stopped account must not stay readable from
the cache), so every entry carries the generation of its audience, and a tracking
write bumps the generations it affects: one read fetches the entry and the current
generation together, and an entry from an older generation is a miss. Redis trouble
makes the cache a no-op; it never fails a request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import redis
from fastapi import Response
from pydantic import BaseModel
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from api.auth import Principal, Role

log = logging.getLogger(__name__)

JSON = "application/json"


class ResponseCache:
    def __init__(
        self,
        client: redis.Redis,
        client_async: AsyncRedis,
        prefix: str,
        ttls: Mapping[str, float],
    ) -> None:
        self._redis = client
        self._redis_async = client_async
        self._prefix = prefix
        self._ttls = dict(ttls)

    def _generation_key(self, principal: Principal) -> str:
        # Admin answers cover every workspace's tracking: any change invalidates them.
        if principal.role is Role.ADMIN:
            return f"{self._prefix}:api:cache-gen:*"
        return f"{self._prefix}:api:cache-gen:ws:{_digest(principal.workspace)}"

    def _entry_key(self, kind: str, principal: Principal, params: Mapping[str, Any]) -> str:
        audience = ["all" if principal.role is Role.ADMIN else "ws", principal.workspace]
        digest = _digest(json.dumps([kind, audience, params], sort_keys=True, default=str))
        return f"{self._prefix}:api:cache:{kind}:{digest}"

    async def answer(
        self,
        kind: str,
        principal: Principal,
        params: Mapping[str, Any],
        build: Callable[[], Awaitable[BaseModel | bytes]],
    ) -> Response:
        """The cached JSON answer, or ``build()``'s (then stored); ``X-Cache`` says which.

        ``build`` returns the answer's model, or its JSON already serialised (hot routes).
        """
        ttl = self._ttls.get(kind, 0)
        if ttl <= 0:
            return _json(_body(await build()), None)
        entry_key = self._entry_key(kind, principal, params)
        generation_key = self._generation_key(principal)
        try:
            entry, generation = cast(
                list[bytes | None], await self._redis_async.mget([entry_key, generation_key])
            )
        except RedisError as exc:
            log.warning("response cache unavailable (%r)", exc)
            return _json(_body(await build()), None)
        current = generation or b"0"
        if entry is not None:
            stored_generation, _, body = entry.partition(b"\n")
            if stored_generation == current:
                return _json(body, "hit")
        body = _body(await build())
        try:
            await self._redis_async.set(entry_key, current + b"\n" + body, px=int(ttl * 1000))
        except RedisError as exc:
            log.warning("response cache unavailable (%r)", exc)
        return _json(body, "miss")

    def tracking_changed(self, workspace: str) -> None:
        """Make the workspace's entries, and every admin entry, misses from now on."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(f"{self._prefix}:api:cache-gen:ws:{_digest(workspace)}")
                pipe.incr(f"{self._prefix}:api:cache-gen:*")
                pipe.execute()
        except RedisError as exc:
            # Entries then live out their (short) TTL; say so, the write itself stands.
            log.warning("response cache not invalidated for %r (%r)", workspace, exc)


def _body(answer: BaseModel | bytes) -> bytes:
    return answer if isinstance(answer, bytes) else answer.model_dump_json(by_alias=True).encode()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _json(body: bytes, state: str | None) -> Response:
    headers = {"X-Cache": state} if state else None
    return Response(body, media_type=JSON, headers=headers)
