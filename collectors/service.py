"""The scheduler loop: which accounts are ours, what is due, batches through sources.

Every ``cycle_s`` a tick: renew the shard leases; bring the accounts of our
shards in from the registry (and their schedule state from Redis); take the
on-demand runs queued for our shards; pop what is due from the due-queue, most
overdue first, as far as ``max_in_flight`` allows (that bound, and the
emitter's, is the backpressure: when Kafka or an upstream is slow, polls wait
in the queue instead of piling up); group them per source into batches of the
source's ``batch_size`` — a partial batch waits up to ``batch_linger_s`` for
more accounts, so a batched source costs about accounts / batch size calls —
and poll at most ``max_batches`` batches at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from collectors import metrics
from collectors.clock import Clock
from collectors.leases import ShardLeases, shard_of
from collectors.polling import BatchPoller, Polled, WorkItem
from collectors.registry import Registry, TrackedAccount
from collectors.schedule import (
    AccountState,
    DueQueue,
    Kind,
    Policy,
    after_poll,
    due_kinds,
    next_due,
    phase,
)
from collectors.sources.base import Source
from collectors.state import ScheduleStore
from collectors.sync_requests import OnDemandQueue
from collectors.sync_runs import Run, SyncRuns
from socialpulse.contract import Platform, RunState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    cycle_s: float = 2.0
    max_in_flight: int = 5_000  # accounts polled or waiting in a batch at once
    max_batches: int = 8  # batches polled concurrently
    batch_linger_s: float = 30.0  # longest a partial batch waits to fill up
    on_demand_per_tick: int = 1000  # requested runs taken per tick, over all our shards


@dataclass
class _Pending:
    """Items waiting for a batch of one source to fill up."""

    source: Source
    items: list[WorkItem] = field(default_factory=list)
    since: float = 0.0


class CollectorService:
    def __init__(
        self,
        *,
        config: ServiceConfig,
        policy: Policy,
        registry: Registry,
        sources: Mapping[Platform, Source],
        poller: BatchPoller,
        leases: ShardLeases,
        store: ScheduleStore,
        queue: OnDemandQueue,
        runs: SyncRuns,
        clock: Clock,
    ) -> None:
        self.config, self._policy, self._registry = config, policy, registry
        self._sources, self._poller, self._leases = sources, poller, leases
        self._store, self._queue, self._runs, self._clock = store, queue, runs, clock
        self._accounts: dict[str, TrackedAccount] = {}
        self._states: dict[str, AccountState] = {}
        self._due = DueQueue()
        self._in_flight: set[str] = set()
        self._pending: dict[tuple[Platform, bool], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.max_batches)
        self._seen: tuple[int, frozenset[int]] | None = None
        self.polled = 0  # accounts polled since start (the benchmark reads it)

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except (RedisError, OSError) as exc:  # Redis away: no lease, no poll; try again
                    metrics.TICK_ERRORS.inc()
                    log.warning(
                        "scheduler tick failed (%r); next try in %.0fs", exc, self.config.cycle_s
                    )
                if once:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.cycle_s)
        finally:
            self._flush(force=True)
            await self.drain()
            await self._leases.release_all()

    async def cycle(self) -> None:
        """One tick with every partial batch sent at once, and wait until all finished."""
        await self.tick()
        self._flush(force=True)
        await self.drain()

    async def catch_up(self) -> None:
        """Cycles until a cycle polls nothing: every account that was due has been polled."""
        while True:
            before = self.polled
            await self.cycle()
            if self.polled == before:
                return

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def tick(self) -> None:
        started = time.perf_counter()
        now = self._clock.time()
        held = await self._leases.refresh(busy=self._busy_shards())
        await self._sync_accounts(held)
        items = await self._requested(held, now)
        room = self.config.max_in_flight - len(self._in_flight) - len(items)
        items += self._take_due(now, max(0, room))
        self._enqueue(items, now)
        self._flush(force=False)
        metrics.CYCLE_SECONDS.observe(time.perf_counter() - started)

    def _busy_shards(self) -> frozenset[int]:
        return frozenset(shard_of(k, self._leases.shards) for k in self._in_flight)

    async def _sync_accounts(self, held: frozenset[int]) -> None:
        """Track exactly the registry's accounts that fall in our shards."""
        accounts = await self._registry.accounts()
        if self._seen == (self._registry.version, held):
            return
        previous = self._seen[1] if self._seen else frozenset()
        self._seen = (self._registry.version, held)
        gained = held - previous
        if gained:  # another replica may have polled them: its state is in Redis
            self._states.update(await self._store.load(gained))
        mine = {a.key: a for a in accounts if shard_of(a.key, self._leases.shards) in held}
        for key in self._accounts.keys() - mine.keys():
            self._due.discard(key)
            self._states.pop(key, None)
        now = self._clock.time()
        for key in mine:
            fresh = key not in self._accounts or shard_of(key, self._leases.shards) in gained
            if fresh and key not in self._in_flight:
                self._due.put(key, next_due(self._state(key), phase(key), now, self._policy))
        self._accounts = mine
        metrics.REGISTRY_ACCOUNTS.set(len(mine))

    def _state(self, key: str) -> AccountState:
        return self._states.get(key) or AccountState()

    async def _requested(self, held: frozenset[int], now: float) -> list[WorkItem]:
        room = self.config.max_in_flight - len(self._in_flight)
        run_ids = await self._queue.pop(held, min(room, self.config.on_demand_per_tick))
        runs = [r for r in await self._runs.get_many(run_ids) if r is not None]
        aliases = await self._store.aliases_of([r.key for r in runs if r.key not in self._accounts])
        alias = dict(
            zip([r.key for r in runs if r.key not in self._accounts], aliases, strict=True)
        )
        items, later, revoked = [], [], []
        for run in runs:
            key = alias.get(run.key) or run.key  # asked for by id, tracked by handle
            if run.state is RunState.REVOKED:
                revoked.append(run)
            elif run.state is not RunState.PENDING:
                continue  # a replayed request already done
            elif key in self._in_flight:
                later.append((run, key))
            else:
                items.append(self._requested_item(run, key, now))
        await self._runs.publish(revoked)
        await self._queue.push_back(later)
        return items

    def _requested_item(self, run: Run, key: str, now: float) -> WorkItem:
        account = self._accounts.get(key) or TrackedAccount(
            run.platform, run.handle or run.account_id, run.account_id
        )
        state = self._state(key)
        self._due.discard(key)  # polled now; rescheduled when it finishes
        kinds = due_kinds(state, phase(key), now, self._policy) | {Kind.PROFILE, Kind.POSTS}
        last = state.last_profile_at if state.backfilled else None
        return WorkItem(account, kinds, -math.inf, run, last_polled_at=last)

    def _take_due(self, now: float, room: int) -> list[WorkItem]:
        taken = self._due.pop_due(now, room)
        if len(taken) == room:
            metrics.DUE_BACKLOG.set(self._due.overdue(now))
        else:
            metrics.DUE_BACKLOG.set(0)
        items = []
        for key, due_at in taken:
            state = self._state(key)
            kinds = due_kinds(state, phase(key), now, self._policy)
            if not kinds:  # e.g. still backing off after a failure
                self._due.put(key, next_due(state, phase(key), now, self._policy))
                continue
            if math.isfinite(due_at):
                metrics.SCHEDULE_LAG.observe(max(0.0, now - due_at))
            items.append(WorkItem(self._accounts[key], kinds, due_at))
        return items

    def _enqueue(self, items: Sequence[WorkItem], now: float) -> None:
        for item in items:
            platform = item.account.platform
            source = self._sources.get(platform)
            if source is None:
                self._no_source(item, now)
                continue
            backfill = Kind.BACKFILL in item.kinds
            pending = self._pending.setdefault((platform, backfill), _Pending(source, since=now))
            if not pending.items:
                pending.since = now
            pending.items.append(item)
            self._in_flight.add(item.account.key)

    def _no_source(self, item: WorkItem, now: float) -> None:
        metrics.POLLS.labels(item.account.platform.value, "no_source").inc()
        if item.run is None:  # look again later: a source may be configured by then
            self._due.put(item.account.key, now + self._policy.profile_every_s)
            return
        item.run.state, item.run.finished_at = RunState.FAILURE, now
        item.run.error_class = "unsupported"
        item.run.error = f"no source configured for {item.account.platform.value}"
        self._spawn(self._runs.publish([item.run]))

    def _flush(self, *, force: bool) -> None:
        """Launch full batches; partial ones when forced, lingering too long, or requested."""
        now = self._clock.time()
        for pending in self._pending.values():
            size = max(1, pending.source.batch_size)
            while len(pending.items) >= size:
                batch, pending.items = pending.items[:size], pending.items[size:]
                self._spawn(self._poll(pending.source, batch))
            urgent = any(i.run is not None for i in pending.items)
            lingered = now - pending.since >= self.config.batch_linger_s
            if pending.items and (force or urgent or lingered):
                batch, pending.items = pending.items, []
                self._spawn(self._poll(pending.source, batch))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, source: Source, batch: list[WorkItem]) -> None:
        async with self._slots:
            try:
                polled = await self._poller.poll(source, batch)
            except Exception:  # Redis or Kafka trouble mid-batch: retry these accounts later
                log.exception("batch of %d %s accounts failed", len(batch), source.name)
                polled = [Polled(item, ok=False) for item in batch]
            finally:
                self._in_flight.difference_update(i.account.key for i in batch)
            await self._reschedule(polled)
            self.polled += len(batch)

    async def _reschedule(self, polled: Sequence[Polled]) -> None:
        now = self._clock.time()
        changed: dict[str, AccountState] = {}
        aliases: dict[str, str] = {}
        runs: list[Run] = []
        # Keyed by the run's account key, the status hash's: for an account tracked by
        # handle the scheduler's key ("@handle") is not the one readers look up.
        run_due: dict[str, float] = {}
        for p in polled:
            key = p.item.account.key
            state = after_poll(
                self._state(key),
                p.item.kinds,
                now,
                ok=p.ok,
                active=p.active,
                newest_post_at=p.newest_post_at,
            )
            due = next_due(state, phase(key), now, self._policy)
            if key in self._accounts:  # an untracked account synced on request keeps no state
                changed[key] = self._states[key] = state
                self._due.put(key, due)
            run = p.item.run
            if run is not None:
                runs.append(run)
                run_due[run.key] = due
                if run.key != key:  # tracked by handle, now resolved
                    aliases[run.key] = key
        await self._store.save(changed)
        await self._store.add_aliases(aliases)
        await self._runs.record_status(runs, run_due)
