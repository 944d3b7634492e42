"""An account's posts (latest counts per post) and its best times to post."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from api.auth import CurrentPrincipal
from api.resources import Deps
from api.routes_common import (
    CSV_RESPONSES,
    FormatQuery,
    account_freshness,
    csv_response,
    read_visible,
    wants_csv,
)
from api.schemas import BestTimes, HourOfWeekItem, PostItem, PostPage
from api.services import ServicesDep
from clickhouse import queries_posts
from socialpulse.contract import Platform

router = APIRouter(prefix="/v1/accounts", tags=["posts"])

Sort = Literal["engagement_rate", "interactions", "published_at"]
POST_FIELDS = list(PostItem.model_fields)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@router.get("/{platform}/{account_id}/posts", response_model=PostPage, responses=CSV_RESPONSES)
async def posts(
    request: Request,
    platform: Platform,
    account_id: str,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    sort: Annotated[Sort, Query(description="what to rank on; nulls always come last")] = (
        "engagement_rate"
    ),
    order: Annotated[Literal["desc", "asc"], Query(description="default desc (best first)")] = (
        "desc"
    ),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    fmt: FormatQuery = None,
) -> PostPage | Response:
    """The account's posts with each post's latest counts, sorted (ties by post_id)."""
    rows: list[queries_posts.Post] = await read_visible(
        deps,
        services,
        principal,
        platform,
        account_id,
        queries_posts.posts,
        sort=sort,
        descending=order == "desc",
        limit=limit,
    )
    if wants_csv(request, fmt):
        return csv_response(
            f"posts-{platform.value}-{account_id}.csv",
            POST_FIELDS,
            [[getattr(r, name) for name in POST_FIELDS] for r in rows],
        )
    return PostPage(
        items=[PostItem(**vars(r)) for r in rows],
        freshness=await account_freshness(deps, services, platform, account_id),
    )


@router.get("/{platform}/{account_id}/best-times", response_model=BestTimes)
async def best_times(
    platform: Platform,
    account_id: str,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
) -> BestTimes:
    """Mean post engagement rate by UTC hour of week (posts with a defined rate), best first."""
    cells: list[queries_posts.HourOfWeek] = await read_visible(
        deps, services, principal, platform, account_id, queries_posts.best_times
    )
    return BestTimes(
        posts_considered=sum(c.posts for c in cells),
        items=[
            HourOfWeekItem(
                weekday=c.weekday,
                weekday_name=WEEKDAYS[c.weekday - 1],
                hour=c.hour,
                posts=c.posts,
                mean_engagement_rate=c.mean_engagement_rate,
                mean_interactions=c.mean_interactions,
            )
            for c in cells
        ],
        freshness=await account_freshness(deps, services, platform, account_id),
    )
