"""Requested sync runs: made PENDING in the collectors' Redis state, then asked for on Kafka.

The API writes each run (``SyncRuns.save``, the collectors' own record and key) *before*
publishing its request, with the id it answers with. The collectors' intake then finds
the run under that id instead of making one, and a revoke can win even before the
intake has read the request: the intake queues the REVOKED run and its shard owner
announces it on ``sync.events``. Which workspace asked for a run is kept beside it, for
as long as the run lives, so only that workspace (or an admin) may revoke it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import Unavailable
from collectors.sync_runs import Run, SyncRuns, new_run_id
from socialpulse.contract import Platform, RunState, SyncRequest, Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    platform: Platform
    account_id: str
    handle: str | None


class RequestPublisher:
    """Sends sync requests and waits for Kafka's acknowledgement, within a deadline.

    The producer starts on first use, so the API serves reads while Kafka is away.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s
        self._started = False
        self._lock = asyncio.Lock()

    async def publish(self, requests: Sequence[SyncRequest]) -> None:
        try:
            await asyncio.wait_for(self._send(requests), self._timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable(
                f"Kafka did not take the sync request within {self._timeout_s:g} s; try again"
            ) from exc

    async def _send(self, requests: Sequence[SyncRequest]) -> None:
        async with self._lock:
            if not self._started:
                await self._producer.start()
                self._started = True
        sent = [
            await self._producer.send(
                self._topic,
                key=f"{r.platform.value}:{r.account_id}".encode(),
                value=r.model_dump_json().encode(),
            )
            for r in requests
        ]
        await asyncio.gather(*sent)


class SyncControl:
    def __init__(
        self,
        runs: SyncRuns,
        redis: Redis,
        publisher: RequestPublisher,
        *,
        prefix: str,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runs = runs
        self._redis = redis
        self._publisher = publisher
        self._prefix = prefix
        self._ttl_ms = int(ttl_s * 1000)
        self._clock = clock

    def _owner_key(self, run_id: str) -> str:
        return f"{self._prefix}:api:run-owner:{run_id}"

    def plan(self, targets: Sequence[Target]) -> list[Run]:
        """The runs a trigger will create (ids made now, so the audit can name them first)."""
        now = self._clock()
        return [
            Run(
                run_id=new_run_id(),
                platform=t.platform,
                account_id=t.account_id,
                handle=t.handle,
                trigger=Trigger.REQUEST,
                state=RunState.PENDING,
                created_at=now,
            )  # fmt: skip
            for t in targets
        ]

    async def start(self, runs: Sequence[Run], workspace: str, subject: str) -> None:
        """Record the runs PENDING, then publish their requests; 503 if either fails."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for run in runs:
                    pipe.set(self._owner_key(run.run_id), workspace, px=self._ttl_ms)
                await pipe.execute()
            await self._runs.save(runs)
        except RedisError as exc:
            raise Unavailable("the sync state store (Redis) did not answer; try again") from exc
        requested_at = datetime.fromtimestamp(self._clock(), UTC)
        requests = [
            SyncRequest(
                run_id=r.run_id,
                platform=r.platform,
                account_id=r.account_id,
                handle=r.handle,
                workspace=workspace,
                requested_by=subject,
                requested_at=requested_at,
            )  # fmt: skip
            for r in runs
        ]
        try:
            await self._publisher.publish(requests)
        except Unavailable:
            await self._abandon(runs)
            raise

    async def _abandon(self, runs: Sequence[Run]) -> None:
        """Runs whose request never reached Kafka fail at once instead of pending forever."""
        now = self._clock()
        for run in runs:
            try:
                await self._runs.move(
                    run, RunState.PENDING, RunState.FAILURE, finished_at=now,
                    error_class="not_queued", error="the sync request could not be sent to Kafka",
                )  # fmt: skip
            except RedisError:
                log.warning("run %s left PENDING: Redis did not answer", run.run_id)

    async def get(self, run_id: str) -> Run | None:
        """The run's live state; None when Redis has none (or does not answer)."""
        try:
            return await self._runs.get(run_id)
        except RedisError as exc:
            log.warning("live run state unavailable (%r); reading sync_runs", exc)
            return None

    async def requested_by(self, run_id: str) -> str | None:
        """The workspace that asked for the run (None: scheduled, or not asked through us)."""
        try:
            owner = await self._redis.get(self._owner_key(run_id))
        except RedisError as exc:
            raise Unavailable("the sync state store (Redis) did not answer; try again") from exc
        return owner.decode() if isinstance(owner, bytes) else owner

    async def revoke(self, run_id: str) -> Run | None:
        try:
            return await self._runs.revoke(run_id, self._clock())
        except RedisError as exc:
            raise Unavailable("the sync state store (Redis) did not answer; try again") from exc
