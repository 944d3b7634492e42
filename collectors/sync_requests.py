"""On-demand sync: requests from ``<prefix>.sync.requests`` become PENDING runs.

Any replica may consume a request (the topic's partitions are split by the
consumer group), but only the replica holding the account's shard lease may
poll the account. So the consumer only records the run (PENDING, with its
event) and pushes its id onto the shard's Redis queue; the shard owner takes
it on its next tick. The Kafka offset is committed after the push, so a crash
in between replays the request, which is harmless: same run id, same events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError
from redis.asyncio import Redis

from collectors.clock import Clock
from collectors.emitter import SnapshotEmitter
from collectors.leases import shard_of
from collectors.state import ScheduleStore
from collectors.sync_runs import Run, SyncRuns, new_run_id
from socialpulse.contract import RunState, SyncRequest, Trigger, account_key, format_ts

log = logging.getLogger(__name__)


class OnDemandQueue:
    """Run ids waiting for their shard owner, one Redis list per shard."""

    def __init__(self, redis: Redis, prefix: str, shards: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.shards = shards

    def _key(self, shard: int) -> str:
        return f"{self._prefix}:ondemand:{shard}"

    async def push(self, runs: Iterable[tuple[Run, str | None]]) -> None:
        """Queue each run for its route key's shard owner (the registry key, else its own)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for run, route_key in runs:
                pipe.rpush(self._key(shard_of(route_key or run.key, self.shards)), run.run_id)
            await pipe.execute()

    async def push_back(self, runs: Iterable[tuple[Run, str]]) -> None:
        """Return (run, route key) that could not be taken this tick to their queue's front."""
        for run, route_key in runs:
            await self._redis.lpush(self._key(shard_of(route_key, self.shards)), run.run_id)

    async def pop(self, shards: Iterable[int], limit: int) -> list[str]:
        """Up to ``limit`` run ids in all, shared evenly over the shards' queues."""
        shards = list(shards)
        if not shards or limit <= 0:
            return []
        each = max(1, -(-limit // len(shards)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard in shards:
                pipe.lpop(self._key(shard), each)
            answers: list[list[bytes] | None] = await pipe.execute()
        return [run_id.decode() for answer in answers if answer for run_id in answer]


class RequestIntake:
    def __init__(
        self,
        runs: SyncRuns,
        queue: OnDemandQueue,
        store: ScheduleStore,
        emitter: SnapshotEmitter,
        clock: Clock,
    ) -> None:
        self._runs = runs
        self._store = store
        self._queue = queue
        self._emitter = emitter
        self._clock = clock

    async def run(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue
            requests = []
            for record in records:
                request = await self.parse(
                    record.key, record.value, record.partition, record.offset
                )
                if request is not None:
                    requests.append(request)
            await self.accept_many(requests)
            await consumer.commit()

    async def parse(
        self, key: bytes | None, value: bytes | None, partition: int = -1, offset: int = -1
    ) -> SyncRequest | None:
        """The request, or None after sending the record to the DLQ with the reason."""
        try:
            return SyncRequest.model_validate_json(value or b"")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            letter = {"key": key, "value": value, "partition": partition, "offset": offset}
            await self._dead_letter(letter, f"invalid sync request: {problems}")
            return None

    async def accept(self, request: SyncRequest) -> Run:
        return (await self.accept_many([request]))[0]

    async def accept_many(self, requests: Sequence[SyncRequest]) -> list[Run]:
        """Record each run (PENDING, announced) and queue it for its shard owner."""
        ids = [r.run_id or new_run_id() for r in requests]
        runs, new = [], []
        for request, run_id, found in zip(
            requests, ids, await self._runs.get_many(ids), strict=True
        ):
            run = found or Run(
                run_id=run_id, platform=request.platform, account_id=request.account_id,
                handle=request.handle, trigger=Trigger.REQUEST, state=RunState.PENDING,
                created_at=self._clock.time(),
            )  # fmt: skip
            runs.append(run)
            if found is None:
                new.append(run)
        await self._runs.save(new)
        await self._runs.publish([r for r in runs if r.state is RunState.PENDING])
        # A revoked run is queued too: its owner announces REVOKED.
        routes = await self._store.aliases_of([r.key for r in runs])
        await self._queue.push(zip(runs, routes, strict=True))
        return runs

    async def _dead_letter(self, message: dict[str, Any], reason: str) -> None:
        """The DLQ's record shape, as the stream workers write it (docs/collectors.md)."""
        key: bytes | None = message["key"]
        letter = {
            "reason": reason,
            "topic": self._emitter.topics.sync_requests,
            "partition": message["partition"],
            "offset": message["offset"],
            "key": key.decode(errors="replace") if key else None,
            "value": (message["value"] or b"").decode(errors="replace"),
            "value_encoding": "utf-8",
            "failed_at": format_ts(datetime.fromtimestamp(self._clock.time(), UTC)),
        }
        log.warning("sync request to the DLQ: %s", reason)
        await self._emitter.send(
            self._emitter.topics.dlq, [(key or b"", json.dumps(letter).encode())], "dlq"
        )


def request_key(request: SyncRequest) -> str:
    return account_key(request.platform.value, request.account_id)
