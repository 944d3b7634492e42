"""Account reads: overview and follower changes (JSON or CSV)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.auth import CurrentPrincipal, Principal
from api.errors import InvalidInput
from api.openapi import error_responses
from api.resources import Deps
from api.routes_common import (
    CSV_RESPONSES,
    FormatQuery,
    account_freshness,
    csv_response,
    not_found,
    read_visible,
    utc,
    wants_csv,
)
from api.schemas import FollowerChangeItem, FollowerChangePage, GrowthItem, Overview, SyncBlock
from api.services import ServicesDep
from clickhouse import queries
from clickhouse.queries_sync import SyncSummary
from socialpulse.contract import Platform, from_ms, to_ms

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.get("/{platform}/{account_id}", response_model=Overview)
async def account_overview(
    platform: Platform,
    account_id: str,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
) -> Response:
    """Current KPIs, the sync block and freshness. Cached for a few seconds per workspace
    (`X-Cache: hit|miss`)."""
    return await services.cache.answer(
        "overview",
        principal,
        {"platform": platform.value, "account_id": account_id},
        lambda: _overview(platform, account_id, principal, deps, services),
    )


async def _overview(
    platform: Platform,
    account_id: str,
    principal: Principal,
    deps: Deps,
    services: ServicesDep,
) -> Overview:
    o, live = await services.status.read_with_live(
        [(platform.value, account_id)],
        queries.overview,
        deps.clickhouse,
        principal.scope,
        platform.value,
        account_id,
    )
    if o is None:
        raise not_found(principal, platform, account_id)
    sync, freshness = await services.status.for_account(
        platform.value, account_id, o.observed_at, live
    )
    return Overview(
        platform=platform.value,
        account_id=account_id,
        handle=o.handle,
        followers=o.followers,
        following=o.following,
        posts_count=o.posts_count,
        observed_at=o.observed_at,
        growth={p: GrowthItem(change=c, rate=r) for p, (c, r) in o.growth.items()},
        engagement_rate_30d=o.engagement_rate_30d,
        posts_30d=o.posts_30d,
        projected_followers_30d=o.projected_followers_30d,
        score=o.score,
        sync=_sync_block(sync),
        freshness=freshness,
    )


def _sync_block(sync: SyncSummary | None) -> SyncBlock:
    if sync is None:
        return SyncBlock(state=None)
    # A failure already followed by a success is history (GET /v1/sync/status keeps it).
    error = (sync.last_error or sync.last_error_class) if sync.failing else None
    return SyncBlock(state=sync.last_state, last_success_at=sync.last_success_at, last_error=error)


@router.get(
    "/{platform}/{account_id}/follower-changes",
    response_model=FollowerChangePage,
    responses={**CSV_RESPONSES, **error_responses(400)},
)
async def follower_changes(
    request: Request,
    platform: Platform,
    account_id: str,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    from_: Annotated[datetime | None, Query(alias="from", description="inclusive")] = None,
    to: Annotated[datetime | None, Query(description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    fmt: FormatQuery = None,
) -> FollowerChangePage | Response:
    """Newest first. As CSV the page's rows come as the body and the cursor in `X-Next-Cursor`."""
    start, end = utc(from_, "from"), utc(to, "to")
    if start and end and start >= end:
        raise InvalidInput("'from' must be earlier than 'to'")
    rows = await read_visible(
        deps,
        services,
        principal,
        platform,
        account_id,
        queries.follower_changes,
        start=start,
        end=end,
        before=_decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1].observed_at) if len(rows) > limit else None
    if wants_csv(request, fmt):
        return csv_response(
            f"follower-changes-{platform.value}-{account_id}.csv",
            list(FollowerChangeItem.model_fields),
            [list(vars(r).values()) for r in page],
            {"X-Next-Cursor": next_cursor} if next_cursor else None,
        )
    return FollowerChangePage(
        items=[FollowerChangeItem(**vars(r)) for r in page],
        next_cursor=next_cursor,
        freshness=await account_freshness(deps, services, platform, account_id),
    )


def _encode_cursor(observed_at: datetime) -> str:
    return base64.urlsafe_b64encode(f"v1:{to_ms(observed_at)}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> datetime | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, ms = raw.partition(":")
        if version != "v1":
            raise ValueError(version)
        return from_ms(int(ms))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("'cursor' is not a cursor this API returned; start without one") from exc
