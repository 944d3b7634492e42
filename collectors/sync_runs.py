"""Sync runs: ids, states, live state in Redis, lifecycle events on Kafka.

Every scheduled or requested sync of one account is a run. States::

    PENDING ──▶ STARTED ──▶ SUCCESS | FAILURE
       └──────▶ REVOKED          (cancelled before it started)

Requested runs (``<prefix>.sync.requests``) are PENDING until the account's
shard owner takes them; scheduled runs are created STARTED (they are pending
for no measurable time, so no PENDING event is sent for them). A run's live
state is one JSON string at ``<prefix>:run:<run_id>``; each transition that
can race (start, revoke) is one atomic Lua call on it, so a revoke racing a
start has exactly one winner. Every transition is published to
``<prefix>.sync.events`` keyed by account (CONTRACT §2), with counts,
duration and the error class and message. Live state lives in Redis for
``ttl_s``; the per-account summary (last run, last success, last error, next
due) is kept in one hash for ``GET /v1/sync/status``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from collectors.emitter import SnapshotEmitter
from socialpulse.contract import Platform, RunState, SyncEvent, Trigger, account_key

TERMINAL = frozenset({RunState.SUCCESS, RunState.FAILURE, RunState.REVOKED})


@dataclass
class Run:
    run_id: str
    platform: Platform
    account_id: str  # the id, or "@handle" while unresolved
    handle: str | None
    trigger: Trigger
    state: RunState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    cache_hit: bool = False
    error_class: str | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return account_key(self.platform.value, self.account_id)

    def to_json(self) -> str:
        return json.dumps(vars(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Run:
        d = json.loads(raw)
        return cls(
            **{**d, "platform": Platform(d["platform"]), "trigger": Trigger(d["trigger"]),
               "state": RunState(d["state"])}
        )  # fmt: skip

    def event(self) -> SyncEvent:
        at = self.finished_at or self.started_at or self.created_at
        duration = (
            int((self.finished_at - self.started_at) * 1000)
            if self.finished_at and self.started_at
            else None
        )
        return SyncEvent(
            event_id=f"{self.run_id}:{self.state.value}",
            run_id=self.run_id,
            platform=self.platform,
            account_id=self.account_id,
            handle=self.handle,
            trigger=self.trigger,
            state=self.state,
            at=_dt(at),
            created_at=_dt(self.created_at),
            started_at=_dt(self.started_at) if self.started_at else None,
            finished_at=_dt(self.finished_at) if self.finished_at else None,
            duration_ms=duration,
            cache_hit=self.cache_hit,
            error_class=self.error_class,
            error=self.error,
            profiles=self.counts.get("profiles", 0),
            posts=self.counts.get("posts", 0),
            upstream_calls=self.counts.get("upstream_calls", 0),
            batch_accounts=self.counts.get("batch_accounts", 1),
        )


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def new_run_id() -> str:
    return uuid.uuid4().hex


# KEYS[1] the run (a JSON string). ARGV: expected state, new state, ttl ms, JSON of the
# fields to set. Answers the state found; the transition happened only if it was expected.
_TRANSITION = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local run = cjson.decode(raw)
if run['state'] ~= ARGV[1] then return run['state'] end
for k, v in pairs(cjson.decode(ARGV[4])) do run[k] = v end
run['state'] = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(run), 'PX', ARGV[3])
return ARGV[1]
"""


class SyncRuns:
    """The live state of runs in Redis, and their events on Kafka."""

    def __init__(self, redis: Redis, prefix: str, emitter: SnapshotEmitter, *, ttl_s: float):
        self._redis = redis
        self._prefix = prefix
        self._emitter = emitter
        self._ttl_ms = int(ttl_s * 1000)
        self._transition = redis.register_script(_TRANSITION)
        self.status_key = f"{prefix}:sync-status"

    def run_key(self, run_id: str) -> str:
        return f"{self._prefix}:run:{run_id}"

    async def get(self, run_id: str) -> Run | None:
        raw = await self._redis.get(self.run_key(run_id))
        return Run.from_json(raw) if raw else None

    async def get_many(self, run_ids: Sequence[str]) -> list[Run | None]:
        if not run_ids:
            return []
        raws = await self._redis.mget([self.run_key(r) for r in run_ids])
        return [Run.from_json(raw) if raw else None for raw in raws]

    async def save(self, runs: Sequence[Run]) -> None:
        """Write runs as they are, in one round trip (one JSON string per run)."""
        if not runs:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for run in runs:
                pipe.set(self.run_key(run.run_id), run.to_json(), px=self._ttl_ms)
            await pipe.execute()

    async def move(self, run: Run, expected: RunState, to: RunState, **fields: Any) -> bool:
        """Atomically ``expected`` -> ``to``; False (and ``run.state`` refreshed) if not."""
        for name, value in fields.items():
            setattr(run, name, value)
        found = await self._transition(
            keys=[self.run_key(run.run_id)],
            args=[expected.value, to.value, self._ttl_ms, json.dumps(fields)],
        )
        if found is None or found.decode() != expected.value:
            run.state = RunState(found.decode()) if found else run.state
            return False
        run.state = to
        return True

    async def start_many(self, runs: Sequence[Run], now: float) -> list[bool]:
        """PENDING -> STARTED for each run in one round trip; False where it lost (revoked)."""
        if not runs:
            return []
        fields = json.dumps({"started_at": now})
        async with self._redis.pipeline(transaction=False) as pipe:
            for run in runs:
                await self._transition(
                    keys=[self.run_key(run.run_id)],
                    args=[RunState.PENDING.value, RunState.STARTED.value, self._ttl_ms, fields],
                    client=pipe,
                )
            found = await pipe.execute()
        won = []
        for run, state in zip(runs, found, strict=True):
            ok = state is not None and state.decode() == RunState.PENDING.value
            run.state = RunState.STARTED if ok else RunState(state.decode()) if state else run.state
            run.started_at = now if ok else run.started_at
            won.append(ok)
        return won

    async def revoke(self, run_id: str, now: float) -> Run | None:
        """Cancel a run that has not started (``DELETE /v1/sync/runs/{id}``).

        Answers the run in its state after the attempt: REVOKED when it was
        still PENDING, else unchanged; None for an unknown run. The REVOKED
        event is published by the shard owner when it dequeues the run.
        """
        run = await self.get(run_id)
        if run is not None:
            await self.move(run, RunState.PENDING, RunState.REVOKED, finished_at=now)
        return run

    async def publish(self, runs: Sequence[Run]) -> None:
        """Send each run's current state as an event and wait for Kafka's acknowledgement."""
        messages = [(r.key.encode(), r.event().model_dump_json().encode()) for r in runs]
        await self._emitter.send(self._emitter.topics.sync_events, messages, "sync_event")

    async def record_status(self, runs: Sequence[Run], next_due: Mapping[str, float]) -> None:
        """Update the per-account summary that ``GET /v1/sync/status`` reads.

        Both the summary and ``next_due`` are keyed by ``Run.key`` (``platform:account_id``
        once the id is known), not by the key the scheduler tracks the account under.
        """
        keys = [r.key for r in runs]
        previous = await self._redis.hmget(self.status_key, keys)
        updates = {}
        for run, old in zip(runs, previous, strict=True):
            status = json.loads(old) if old else {}
            status.update(last_run_id=run.run_id, last_state=run.state.value)
            status["last_finished_at"] = run.finished_at
            if run.state is RunState.SUCCESS:
                status["last_success_at"] = run.finished_at
            elif run.state is RunState.FAILURE:
                status["last_error"] = {"class": run.error_class, "message": run.error}
                status["last_error_at"] = run.finished_at
            status["next_due_at"] = next_due.get(run.key)
            updates[run.key] = json.dumps(status)
        if updates:
            await self._redis.hset(self.status_key, mapping=updates)  # type: ignore[arg-type]

    async def status(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self.status_key, key)
        return json.loads(raw) if raw else None
