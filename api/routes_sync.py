"""Sync endpoints (CONTRACT §4): trigger, run status, revoke, and sync status per account.

Tenancy as everywhere: a token acts only on accounts its workspace tracks (admin: all),
and what it may not see answers 404 like what does not exist. A run is visible with
its account; revoking also needs the run to have been asked for by the token's
workspace (admin: any). Triggers and revokes are audited before they happen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import CurrentPrincipal, Principal, Role
from api.errors import Conflict, NotFound
from api.openapi import error_responses
from api.resources import Deps
from api.routes_common import audit_write, audit_writes, decode_cursor, encode_cursor
from api.schemas import Freshness
from api.schemas_sync import (
    AcceptedRun,
    AccountSyncStatus,
    LastError,
    LastRun,
    SyncAccepted,
    SyncRun,
    SyncStatusPage,
    SyncTrigger,
)
from api.services import Services, ServicesDep
from api.sync_control import Target
from api.sync_status import instant
from clickhouse import queries, queries_sync
from clickhouse.queries_sync import RunRow, StatusAccount, SyncSummary
from collectors.sync_runs import Run
from socialpulse.contract import Platform, RunState, Trigger

router = APIRouter(prefix="/v1/sync", tags=["sync"])

RunId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="as `POST /v1/sync` answered it")
]


@router.post(
    "",
    status_code=202,
    response_model=SyncAccepted,
    responses=error_responses(404, 503),
)
async def trigger_sync(
    body: SyncTrigger, principal: CurrentPrincipal, deps: Deps, services: ServicesDep
) -> SyncAccepted:
    """Sync these accounts now (admin, editor): one PENDING run per distinct account, its
    request published to `sync.requests`. All or nothing: if any account is not tracked in
    the token's workspace, nothing is requested (404)."""
    principal.require_write()
    wanted = list(dict.fromkeys((a.platform, a.account_id) for a in body.accounts))
    keys = [(p.value, a) for p, a in wanted]
    handles = await services.offload(
        queries_sync.sync_targets, deps.clickhouse, principal.scope, keys
    )
    hidden = [f"{p}:{a}" for p, a in keys if (p, a) not in handles]
    if hidden:
        raise NotFound(
            f"cannot sync {', '.join(hidden[:5])}: not tracked in workspace"
            f" '{principal.workspace}'; track it first (POST /v1/accounts)"
        )
    runs = services.sync.plan([Target(p, a, handles[(p.value, a)]) for p, a in wanted])
    await services.offload(
        audit_writes, deps, principal, "sync", [(r.key, {"run_id": r.run_id}) for r in runs]
    )
    await services.sync.start(runs, principal.workspace, principal.subject)
    return SyncAccepted(
        runs=[
            AcceptedRun(
                run_id=r.run_id,
                platform=r.platform.value,
                account_id=r.account_id,
                created_at=_instant(r.created_at),
            )
            for r in runs
        ]
    )


@router.get("/runs/{run_id}", response_model=SyncRun)
async def run_status(
    run_id: RunId, principal: CurrentPrincipal, deps: Deps, services: ServicesDep
) -> SyncRun:
    """A run's state, timestamps, counts and error: live from the collectors' state while
    it is kept (an hour by default), then from the `sync_runs` table."""
    live = await services.sync.get(run_id)
    run = _from_live(live) if live else await _from_table(deps, services, run_id)
    if run is None or not await _visible(deps, services, principal, run.platform, run.account_id):
        raise _no_run(principal, run_id)
    return run


@router.delete("/runs/{run_id}", response_model=SyncRun, responses=error_responses(409, 503))
async def revoke_run(
    run_id: RunId, principal: CurrentPrincipal, deps: Deps, services: ServicesDep
) -> SyncRun:
    """Revoke a run that has not started (admin, editor of the workspace that asked for it).
    Answers the run, `REVOKED`; revoking it again answers the same. A run already started
    or finished is a 409."""
    principal.require_write()
    live = await services.sync.get(run_id)
    if live is None:
        old = await _from_table(deps, services, run_id)
        if old and await _visible(deps, services, principal, old.platform, old.account_id):
            raise _not_revocable(run_id, old.state)
        raise _no_run(principal, run_id)
    if not await _visible(deps, services, principal, live.platform.value, live.account_id):
        raise _no_run(principal, run_id)
    if (
        principal.role is not Role.ADMIN
        and live.trigger is Trigger.REQUEST
        and await services.sync.requested_by(run_id) != principal.workspace
    ):
        raise _no_run(principal, run_id)
    detail: dict[str, object] = {"run_id": run_id, "state": live.state.value}
    await services.offload(audit_write, deps, principal, "revoke", live.key, detail)
    after = await services.sync.revoke(run_id)
    if after is None:  # expired in between
        raise _no_run(principal, run_id)
    if after.state is not RunState.REVOKED:
        raise _not_revocable(run_id, after.state.value)
    return _from_live(after)


@router.get("/status", response_model=SyncStatusPage, responses=error_responses(400))
async def sync_status(
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    platform: Platform | None = None,
    account_id: Annotated[
        str | None, Query(min_length=1, max_length=256, description="one account (exact id)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> SyncStatusPage:
    """Per account the token may see: last run, last success, last error, next due and
    freshness, by (platform, account_id). Live from the collectors' state, else from the
    `sync_runs` table (which does not know the next due time)."""
    after = decode_cursor(cursor, 2)
    rows = await services.offload(
        queries_sync.status_accounts,
        deps.clickhouse,
        principal.scope,
        platform=platform.value if platform else None,
        account_id=account_id,
        after=(str(after[0]), str(after[1])) if after else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    keys = [(r.platform, r.account_id) for r in page]
    summaries = await services.status.summaries(keys)
    fresh = services.status.freshness(
        {k: r.observed_at for k, r in zip(keys, page, strict=True)}, summaries
    )
    return SyncStatusPage(
        items=[
            _status_item(r, summaries.get(k), fresh[k]) for k, r in zip(keys, page, strict=True)
        ],
        next_cursor=encode_cursor(page[-1].platform, page[-1].account_id)
        if len(rows) > limit
        else None,
    )


def _status_item(
    row: StatusAccount, sync: SyncSummary | None, freshness: Freshness
) -> AccountSyncStatus:
    last_run = last_error = None
    if sync is not None and (sync.last_run_id or sync.last_state):
        last_run = LastRun(run_id=sync.last_run_id, state=sync.last_state, at=sync.last_run_at)  # type: ignore[arg-type]
    if sync is not None and (sync.last_error_at or sync.last_error_class):
        last_error = LastError.model_validate(
            {"class": sync.last_error_class, "message": sync.last_error, "at": sync.last_error_at}
        )
    return AccountSyncStatus(
        platform=row.platform,
        account_id=row.account_id,
        handle=row.handle,
        last_run=last_run,
        last_success_at=sync.last_success_at if sync else None,
        last_error=last_error,
        next_due_at=sync.next_due_at if sync else None,
        source=sync.source if sync else None,  # type: ignore[arg-type]
        freshness=freshness,
    )


def _instant(epoch_s: float) -> datetime:
    at = instant(epoch_s)
    assert at is not None, epoch_s  # run times are always finite
    return at


def _from_live(run: Run) -> SyncRun:
    duration = (
        round((run.finished_at - run.started_at) * 1000)
        if run.finished_at is not None and run.started_at is not None
        else None
    )
    return SyncRun(
        run_id=run.run_id,
        platform=run.platform.value,
        account_id=run.account_id,
        handle=run.handle,
        trigger=run.trigger.value,
        state=run.state.value,
        created_at=_instant(run.created_at),
        started_at=instant(run.started_at),
        finished_at=instant(run.finished_at),
        duration_ms=duration,
        profiles=run.counts.get("profiles", 0),
        posts=run.counts.get("posts", 0),
        cache_hit=run.cache_hit,
        error_class=run.error_class,
        error=run.error,
        source="live",
    )


async def _from_table(deps: Deps, services: Services, run_id: str) -> SyncRun | None:
    row: RunRow | None = await services.offload(queries_sync.run, deps.clickhouse, run_id)
    if row is None:
        return None
    return SyncRun(**{**vars(row), "source": "table"})


async def _visible(
    deps: Deps, services: Services, principal: Principal, platform: str, account_id: str
) -> bool:
    return await services.offload(
        queries.is_visible, deps.clickhouse, principal.scope, platform, account_id
    )


def _no_run(principal: Principal, run_id: str) -> NotFound:
    return NotFound(f"no sync run {run_id} visible to workspace '{principal.workspace}'")


def _not_revocable(run_id: str, state: str) -> Conflict:
    return Conflict(f"run {run_id} is {state}; only a PENDING run can be revoked")
