"""The scheduler's memory in Redis, so any replica can pick up any shard.

Per shard, one hash ``<prefix>:sched:<shard>`` of account key -> packed
:class:`~collectors.schedule.AccountState`; a replica loads a shard when its
lease is won and writes each account through after every poll. Per account,
``<prefix>:posts:<key>`` maps post id -> when its observation was last kept,
for the post-refresh ladder; it expires once every post in it is past the ladder.
``<prefix>:aliases`` maps the id key of an account tracked by handle
(``instagram:1234``) to its registry key (``instagram:@acme``), so a sync
requested by id finds the tracked account and its shard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from redis.asyncio import Redis

from collectors.leases import shard_of
from collectors.schedule import AccountState


class ScheduleStore:
    def __init__(self, redis: Redis, prefix: str, shards: int, *, posts_ttl_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self.shards = shards
        self._posts_ttl_ms = int(posts_ttl_s * 1000)

    def _shard_key(self, shard: int) -> str:
        return f"{self._prefix}:sched:{shard}"

    def _posts_key(self, account_key: str) -> str:
        return f"{self._prefix}:posts:{account_key}"

    async def load(self, shards: Iterable[int]) -> dict[str, AccountState]:
        shards = list(shards)
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard in shards:
                pipe.hgetall(self._shard_key(shard))
            answers = cast(list[dict[bytes, bytes]], await pipe.execute())
        return {
            key.decode(): AccountState.unpack(value.decode())
            for answer in answers
            for key, value in answer.items()
        }

    async def save(self, states: Mapping[str, AccountState]) -> None:
        by_shard: dict[int, dict[str, str]] = {}
        for key, state in states.items():
            by_shard.setdefault(shard_of(key, self.shards), {})[key] = state.pack()
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard, mapping in by_shard.items():
                pipe.hset(self._shard_key(shard), mapping=mapping)  # type: ignore[arg-type]
            await pipe.execute()

    async def seen_posts(self, keys: Sequence[str]) -> dict[str, dict[str, float]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self._posts_key(key))
            answers = cast(list[dict[bytes, bytes]], await pipe.execute())
        return {
            key: {post.decode(): float(at) for post, at in answer.items()}
            for key, answer in zip(keys, answers, strict=True)
        }

    async def mark_posts(self, kept: Mapping[str, Sequence[str]], now: float) -> None:
        """Record that these posts' observations (account key -> post ids) were kept at ``now``."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, post_ids in kept.items():
                if post_ids:
                    pipe.hset(self._posts_key(key), mapping=dict.fromkeys(post_ids, now))
                    pipe.pexpire(self._posts_key(key), self._posts_ttl_ms)
            await pipe.execute()

    async def add_aliases(self, aliases: Mapping[str, str]) -> None:
        if aliases:
            await self._redis.hset(f"{self._prefix}:aliases", mapping=dict(aliases))  # type: ignore[arg-type]

    async def aliases_of(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        found = await self._redis.hmget(f"{self._prefix}:aliases", list(keys))
        return [f.decode() if isinstance(f, bytes) else f for f in found]
