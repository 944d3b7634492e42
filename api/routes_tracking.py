"""Start and stop tracking accounts in the token's workspace; every write is audited."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.auth import CurrentPrincipal
from api.resources import Deps
from api.routes_common import as_label, audit_write
from api.schemas import TrackedAccount, TrackRequest
from api.services import ServicesDep
from clickhouse import queries_tracking
from socialpulse.contract import Platform, account_key

router = APIRouter(prefix="/v1/accounts", tags=["tracking"])

WRITE_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "the analyst role cannot write"},
    422: {"description": "the body is not a valid account"},
}


@router.post(
    "",
    response_model=TrackedAccount,
    status_code=201,
    responses={200: {"description": "already tracked (label/handle updated)"}, **WRITE_ERRORS},
)
def track(
    body: TrackRequest,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    response: Response,
) -> TrackedAccount:
    """Start tracking an account in the token's workspace (admin/editor). Idempotent: 201 when
    it starts being tracked, 200 when it already was (a new label or handle is applied)."""
    principal.require_write()
    client, platform, account_id = deps.clickhouse, body.platform.value, body.account_id
    previous = queries_tracking.current(client, principal.workspace, platform, account_id)
    active = previous if previous is not None and not previous.is_deleted else None
    handle = body.handle or (
        active.handle
        if active
        else queries_tracking.observed_handle(client, platform, account_id) or account_id
    )
    changed = active is None or (active.handle, active.label) != (handle, body.label)
    detail = {"label": body.label, "handle": handle, "changed": changed}
    audit_write(deps, principal, "track", account_key(platform, account_id), detail)
    if active is not None and not changed:
        stored = active
    else:
        added_by = active.added_by if active else principal.subject
        wanted = queries_tracking.TrackedAccount(
            principal.workspace, platform, account_id, handle, body.label, added_by
        )
        stored = queries_tracking.write(client, wanted, previous)
        services.cache.tracking_changed(principal.workspace)
    response.status_code = 201 if active is None else 200
    return _tracked(stored)


@router.delete(
    "/{platform}/{account_id}",
    status_code=204,
    response_class=Response,
    responses=WRITE_ERRORS,
)
def untrack(
    platform: Platform,
    account_id: str,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
) -> Response:
    """Stop tracking an account in the token's workspace (admin/editor). Idempotent: 204 whether
    or not it was tracked; its data stays for other workspaces tracking it."""
    principal.require_write()
    client = deps.clickhouse
    previous = queries_tracking.current(client, principal.workspace, platform.value, account_id)
    tracked = previous is not None and not previous.is_deleted
    target = account_key(platform.value, account_id)
    audit_write(deps, principal, "untrack", target, {"changed": tracked})
    if tracked and previous is not None:
        gone = queries_tracking.TrackedAccount(**{**vars(previous), "is_deleted": True})
        queries_tracking.write(client, gone, previous)
        services.cache.tracking_changed(principal.workspace)
    return Response(status_code=204)


def _tracked(account: queries_tracking.TrackedAccount) -> TrackedAccount:
    return TrackedAccount(
        workspace=account.workspace,
        platform=account.platform,
        account_id=account.account_id,
        handle=account.handle,
        label=as_label(account.label) or "own",
        added_by=account.added_by,
        changed_at=account.changed_at,
    )
