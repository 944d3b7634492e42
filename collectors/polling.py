"""One batch of accounts polled through one source: runs, fetch, emit, finish.

Order matters for honesty: runs are STARTED (and announced) before the fetch;
snapshots are emitted and acknowledged by Kafka before a run is marked
SUCCESS; the schedule is written only after that. One account's failure is
that account's FAILURE; it never fails the other accounts of the batch.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collectors import metrics
from collectors.clock import Clock
from collectors.emitter import SnapshotEmitter
from collectors.registry import TrackedAccount
from collectors.schedule import Kind, Policy, posts_to_emit
from collectors.sources.base import AccountOutcome, AccountState, FetchResult, Source
from collectors.state import ScheduleStore
from collectors.sync_runs import Run, SyncRuns, new_run_id
from collectors.upstream import ErrorClass, Upstream, UpstreamError
from collectors.upstream_items import upstream_item
from socialpulse.contract import PostSnapshot, ProfileSnapshot, RunState, Trigger, UpstreamItem

log = logging.getLogger(__name__)

_INACTIVE = {AccountState.NOT_FOUND, AccountState.PRIVATE, AccountState.SUSPENDED}


@dataclass
class WorkItem:
    account: TrackedAccount
    kinds: frozenset[Kind]
    due_at: float  # -inf: first sight or requested
    run: Run | None = None  # a requested run (PENDING) or, once started, this poll's run
    last_polled_at: float | None = None  # for the on-demand freshness check


@dataclass
class Polled:
    """What one poll of one account came to; the service reschedules from it."""

    item: WorkItem
    ok: bool  # the upstream answered about this account (even "not found")
    active: bool = True
    newest_post_at: float | None = None
    error_class: str | None = None
    error: str | None = None
    profiles: list[ProfileSnapshot] = field(default_factory=list)
    posts: list[PostSnapshot] = field(default_factory=list)
    outcome: AccountOutcome | None = None  # what the source said; its raw item is kept


class BatchPoller:
    def __init__(
        self,
        *,
        upstream: Upstream,
        emitter: SnapshotEmitter,
        runs: SyncRuns,
        store: ScheduleStore,
        policy: Policy,
        clock: Clock,
        cache_ttl_s: float,
        on_finished: Callable[[Sequence[Run]], None] = lambda runs: None,
    ) -> None:
        self._upstream = upstream
        self._emitter = emitter
        self._runs = runs
        self._store = store
        self._policy = policy
        self._clock = clock
        self._cache_ttl_s = cache_ttl_s
        self._on_finished = on_finished

    async def poll(self, source: Source, items: Sequence[WorkItem]) -> list[Polled]:
        now = self._clock.time()
        started = await self._start(items, now)
        fresh = [i for i in started if self._is_fresh(i, now)]
        stale = [i for i in started if not self._is_fresh(i, now)]
        polled = [Polled(i, ok=True) for i in fresh]
        for item in fresh:
            metrics.CACHE_HITS.labels(source.platform.value, "account").inc()
            assert item.run is not None
            item.run.cache_hit = True
        if stale:
            polled += await self._fetch(source, stale)
            await self._emit(polled, source, now)
        await self._finish(polled, source)
        return polled

    def _is_fresh(self, item: WorkItem, now: float) -> bool:
        """A requested sync inside the cache TTL of the last poll needs no upstream call."""
        return (
            item.run is not None
            and item.run.trigger is Trigger.REQUEST
            and item.last_polled_at is not None
            and now - item.last_polled_at < self._cache_ttl_s
        )

    async def _start(self, items: Sequence[WorkItem], now: float) -> list[WorkItem]:
        """Scheduled runs are created STARTED; requested ones move PENDING -> STARTED."""
        created, asked = [], []
        for item in items:
            if item.run is None:
                account = item.account
                item.run = Run(
                    new_run_id(), account.platform, account.key.split(":", 1)[1],
                    account.handle, Trigger.SCHEDULE, RunState.STARTED, now, started_at=now,
                )  # fmt: skip
                created.append(item)
            else:
                asked.append(item)
        won = await self._runs.start_many([i.run for i in asked if i.run], now)
        started = [item for item, ok in zip(asked, won, strict=True) if ok]
        revoked = [i.run for i in asked if i.run and i.run.state is RunState.REVOKED]
        await self._runs.save([i.run for i in created if i.run])
        await self._runs.publish([i.run for i in created + started if i.run] + revoked)
        return created + started

    async def _fetch(self, source: Source, items: Sequence[WorkItem]) -> list[Polled]:
        refs = [i.account.ref() for i in items]
        kwargs = {}
        if getattr(source, "supports_backfill", False):
            kwargs["backfill"] = any(Kind.BACKFILL in i.kinds for i in items)
        try:
            result = await source.fetch(
                refs, run_id=new_run_id(), upstream=self._upstream, **kwargs
            )
        except UpstreamError as exc:
            return [_failed(i, exc.error_class.value, str(exc)) for i in items]
        except Exception as exc:  # a source bug must not stop the scheduler; it is reported
            log.exception("source %s failed on a batch of %d", source.name, len(items))
            return [_failed(i, "internal", f"{type(exc).__name__}: {exc}") for i in items]
        calls = {"upstream_calls": result.upstream_calls, "batch_accounts": len(items)}
        polled = _match(items, result)
        for p in polled:
            assert p.item.run is not None
            p.item.run.counts.update(calls)
        return polled

    async def _emit(self, polled: list[Polled], source: Source, now: float) -> None:
        """Emit what is worth keeping (profiles; posts per the ladder), then wait for acks.

        Then the raw upstream items, with the ids of every snapshot mapped from them.
        """
        wanted = [p for p in polled if p.ok and p.posts]
        seen = await self._store.seen_posts([p.item.account.key for p in wanted])
        kept_posts: dict[str, list[str]] = {}
        profiles: list[ProfileSnapshot] = []
        posts: list[PostSnapshot] = []
        items: list[UpstreamItem] = []
        for p in polled:
            run = p.item.run
            assert run is not None
            kept = posts_to_emit(
                p.posts, seen.get(p.item.account.key, {}), p.item.kinds, now, self._policy
            )
            kept_posts[p.item.account.key] = [post.post_id for post in kept]
            own_profiles = [s.model_copy(update={"sync_run_id": run.run_id}) for s in p.profiles]
            own_posts = [s.model_copy(update={"sync_run_id": run.run_id}) for s in kept]
            profiles += own_profiles
            posts += own_posts
            run.counts.update(profiles=len(own_profiles), posts=len(own_posts))
            if p.outcome is not None and p.outcome.raw is not None:
                items.append(upstream_item(p.outcome, run, source.name, now, p.profiles, p.posts))
        await self._emitter.emit(profiles)
        await self._emitter.emit(posts)
        await self._store.mark_posts(kept_posts, now)
        await self._emitter.send(
            self._emitter.topics.upstream_items,
            [(item.key.encode(), item.to_json_bytes()) for item in items],
            "upstream_item",
        )

    async def _finish(self, polled: Sequence[Polled], source: Source) -> None:
        now = self._clock.time()
        runs = []
        for p in polled:
            run = p.item.run
            assert run is not None
            success = p.ok and p.active
            run.state = RunState.SUCCESS if success else RunState.FAILURE
            run.finished_at, run.error_class, run.error = now, p.error_class, p.error
            runs.append(run)
            platform = source.platform.value
            metrics.POLLS.labels(platform, "success" if success else "failure").inc()
            metrics.SYNC_RUNS.labels(run.trigger.value, run.state.value).inc()
            if p.error_class:
                metrics.POLL_ERRORS.labels(platform, p.error_class).inc()
        await self._runs.save(runs)
        await self._runs.publish(runs)
        await self._alert_quota(polled, source)
        self._on_finished(runs)

    async def _alert_quota(self, polled: Sequence[Polled], source: Source) -> None:
        """Credits or quota ran out: one alert per batch on ``events.alerts``."""
        hit = next((p for p in polled if p.error_class == ErrorClass.QUOTA.value), None)
        if hit is None or hit.item.run is None:
            return
        alert = hit.item.run.event().model_copy(update={"event_id": hit.item.run.run_id + ":quota"})
        body = alert.model_dump(mode="json") | {
            "kind": "upstream_quota_exhausted",
            "source": source.name,
        }
        await self._emitter.send(
            self._emitter.topics.alerts,
            [(hit.item.run.key.encode(), json.dumps(body).encode())],
            "alert",
        )


def _failed(item: WorkItem, error_class: str, message: str) -> Polled:
    return Polled(item, ok=False, error_class=error_class, error=message[:2000])


def _match(items: Sequence[WorkItem], result: FetchResult) -> list[Polled]:
    """Pair each account with its outcome and its snapshots."""
    by_ref = {o.account: o for o in result.outcomes}
    by_handle = {(o.account.platform, o.account.handle.lower()): o for o in result.outcomes}
    profiles: dict[str, list[ProfileSnapshot]] = defaultdict(list)
    posts: dict[str, list[PostSnapshot]] = defaultdict(list)
    for profile in result.profiles:
        profiles[profile.account_id].append(profile)
    for post in result.posts:
        posts[post.account_id].append(post)
    out = []
    for item in items:
        ref = item.account.ref()
        outcome = by_ref.get(ref) or by_handle.get((ref.platform, ref.handle.lower()))
        out.append(_polled(item, outcome, profiles, posts))
    return out


def _polled(
    item: WorkItem,
    outcome: AccountOutcome | None,
    profiles: dict[str, list[ProfileSnapshot]],
    posts: dict[str, list[PostSnapshot]],
) -> Polled:
    if outcome is None:
        return _failed(
            item, ErrorClass.MALFORMED.value, "the upstream answer left this account out"
        )
    error_class = outcome.error.error_class.value if outcome.error else None
    error = str(outcome.error) if outcome.error else None
    if outcome.state in _INACTIVE:
        return Polled(
            item, ok=True, active=False, error_class=outcome.state.value, error=error,
            outcome=outcome,
        )  # fmt: skip
    if outcome.state is not AccountState.ACTIVE:
        failed = _failed(item, error_class or ErrorClass.TRANSIENT.value, error or "no answer")
        failed.outcome = outcome
        return failed
    account_id = outcome.account_id or item.account.account_id or ""
    if item.run is not None and account_id:
        item.run.account_id = account_id  # a handle resolved to its immutable id
    own_posts = posts.get(account_id, [])
    newest = max((p.published_at.timestamp() for p in own_posts if p.published_at), default=None)
    # ACTIVE with an error is a partial success: the profile was read, posts were not.
    return Polled(
        item,
        ok=True,
        newest_post_at=newest,
        error_class=error_class,
        error=error,
        profiles=profiles.get(account_id, []),
        posts=own_posts,
        outcome=outcome,
    )
