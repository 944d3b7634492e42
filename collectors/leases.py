"""Replicas split the accounts through shard leases in Redis.

Accounts hash into ``shards`` fixed shards. Each replica heartbeats into a
sorted set; the live set decides, by rendezvous hashing, which replica should
own each shard, so ownership moves as little as possible when a replica comes
or goes. Owning means holding the shard's lease: a Redis key
``"<replica> <expires_at>"`` claimed atomically (free, expired or already ours),
renewed every refresh, released when no longer ours. A replica polls only the
accounts of shards whose lease it holds, and stops trusting a lease a third of
its TTL before it expires, so two replicas never poll one account in one cycle
even across clock skew. A dead replica's shards move once its heartbeat and
leases expire (one TTL).

Expiry is judged by the injected clock (not Redis key TTLs) so tests can
drive it; keys also carry a generous Redis TTL so nothing is left behind.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

from redis.asyncio import Redis

from collectors import metrics
from collectors.clock import Clock

# KEYS: lease keys. ARGV: me, now, ttl, gc ms. Claims each key that is free, expired
# or ours; answers 1/0 per key.
_CLAIM = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local mine, free = false, true
  if v then
    local sp = string.find(v, ' ', 1, true)
    mine = string.sub(v, 1, sp - 1) == ARGV[1]
    free = tonumber(string.sub(v, sp + 1)) <= tonumber(ARGV[2])
  end
  if mine or free then
    redis.call('SET', key, ARGV[1] .. ' ' .. (tonumber(ARGV[2]) + tonumber(ARGV[3])),
      'PX', ARGV[4])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# KEYS: lease keys. ARGV: me. Deletes the keys we own.
_RELEASE = """
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then
    redis.call('DEL', key)
  end
end
return 1
"""


def shard_of(key: str, shards: int) -> int:
    """The account's shard: stable across processes (unlike ``hash()``)."""
    return zlib.crc32(key.encode()) % shards


def preferred_owner(shard: int, replicas: Sequence[str]) -> str:
    """Rendezvous hashing: the replica with the highest score for this shard."""
    return max(
        replicas,
        key=lambda r: hashlib.blake2b(f"{r}/{shard}".encode(), digest_size=8).digest(),
    )


class ShardLeases:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        replica_id: str,
        clock: Clock,
        *,
        shards: int = 64,
        ttl_s: float = 30.0,
    ) -> None:
        if " " in replica_id:
            raise ValueError("replica_id must not contain spaces")
        self._redis = redis
        self._prefix = prefix
        self.replica_id = replica_id
        self._clock = clock
        self.shards = shards
        self.ttl_s = ttl_s
        self.held: frozenset[int] = frozenset()  # ours, and usable for new polls
        self._owned: frozenset[int] = frozenset()  # held plus those draining
        self._valid_until = 0.0
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def _key(self, shard: int) -> str:
        return f"{self._prefix}:lease:{shard}"

    @property
    def _members(self) -> str:
        return f"{self._prefix}:replicas"

    def holds(self, shard: int) -> bool:
        return shard in self.held and self._clock.time() < self._valid_until

    async def live_replicas(self) -> list[str]:
        now = self._clock.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._members, {self.replica_id: now})
            pipe.zremrangebyscore(self._members, "-inf", now - self.ttl_s)
            pipe.zrange(self._members, 0, -1)
            pipe.expire(self._members, int(self.ttl_s * 10) + 60)
            answers = await pipe.execute()
        return sorted(m.decode() for m in answers[2])

    async def refresh(self, busy: frozenset[int] = frozenset()) -> frozenset[int]:
        """Heartbeat, claim the shards that should be ours, release the others.

        A shard in ``busy`` (polls still in flight) that should move is kept,
        renewed but unusable, until it is idle: its new owner must not start
        polling accounts whose poll here has not finished.
        """
        now = self._clock.time()
        live = await self.live_replicas()
        wanted = {s for s in range(self.shards) if preferred_owner(s, live) == self.replica_id}
        draining = (self._owned & busy) - wanted
        letting_go = sorted(self._owned - wanted - draining)
        if letting_go:
            await self._release(keys=[self._key(s) for s in letting_go], args=[self.replica_id])
        to_claim = sorted(wanted | draining)
        claimed: set[int] = set()
        if to_claim:
            answers = await self._claim(
                keys=[self._key(s) for s in to_claim],
                args=[self.replica_id, now, self.ttl_s, int(self.ttl_s * 10_000)],
            )
            claimed = {s for s, ok in zip(to_claim, answers, strict=True) if ok}
        self._owned = frozenset(claimed)
        self.held = frozenset(claimed & wanted)
        self._valid_until = now + self.ttl_s * 2 / 3
        metrics.LEASED_SHARDS.set(len(self.held))
        return self.held

    async def release_all(self) -> None:
        """On shutdown: hand the shards over at once instead of after a TTL."""
        if self._owned:
            await self._release(keys=[self._key(s) for s in self._owned], args=[self.replica_id])
        await self._redis.zrem(self._members, self.replica_id)
        self.held = self._owned = frozenset()
