"""``GET /v1/leaderboard``: the accounts a token may see, ranked on one metric."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import CurrentPrincipal
from api.resources import Deps
from api.routes_common import as_label
from api.schemas import Freshness, GrowthItem, Label, Leaderboard, LeaderboardItem
from api.services import ServicesDep
from clickhouse import queries_accounts
from clickhouse.queries_accounts import AccountFilter, AccountRow
from socialpulse.contract import Platform

router = APIRouter(prefix="/v1", tags=["leaderboard"])

Metric = Literal["growth_7d", "engagement_rate_30d", "followers"]


@router.get("/leaderboard", response_model=Leaderboard)
async def leaderboard(
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    platform: Annotated[Platform | None, Query(description="one platform; default all")] = None,
    metric: Annotated[
        Metric,
        Query(description="growth_7d ranks on the 7-day growth rate; nulls rank last"),
    ] = "growth_7d",
    label: Annotated[
        Label | None, Query(description="only own or only competitor accounts")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Leaderboard:
    """The workspace's tracked accounts (admin: every observed account), best first."""
    rows = await services.offload(
        queries_accounts.leaderboard,
        deps.clickhouse,
        principal.scope,
        principal.workspace,
        AccountFilter(platform.value if platform else None, label),
        metric=metric,
        limit=limit,
    )
    observed = {(r.platform, r.account_id): r.observed_at for r in rows}
    fresh = services.status.freshness(observed, await services.status.summaries(list(observed)))
    return Leaderboard(
        metric=metric,
        platform=platform.value if platform else None,
        items=_ranked(rows, metric, fresh),
    )


def _value(row: AccountRow, metric: Metric) -> int | float | None:
    if metric == "growth_7d":
        return row.growth["7d"][1]
    if metric == "engagement_rate_30d":
        return row.engagement_rate_30d
    return row.followers


def _ranked(
    rows: list[AccountRow], metric: Metric, fresh: dict[tuple[str, str], Freshness]
) -> list[LeaderboardItem]:
    """Competition ranking (1, 2, 2, 4): ties share the rank of the first of them."""
    items: list[LeaderboardItem] = []
    rank, previous = 0, None
    for position, row in enumerate(rows, start=1):
        # Every leaderboard row comes from account_latest: it has been observed.
        assert row.followers is not None and row.observed_at is not None
        value = _value(row, metric)
        if value is None:
            rank_here = None
        else:
            if value != previous:
                rank, previous = position, value
            rank_here = rank
        change, rate = row.growth["7d"]
        items.append(
            LeaderboardItem(
                rank=rank_here,
                value=value,
                platform=row.platform,
                account_id=row.account_id,
                handle=row.handle,
                label=as_label(row.label),
                followers=row.followers,
                growth_7d=GrowthItem(change=change, rate=rate),
                engagement_rate_30d=row.engagement_rate_30d,
                score=row.score,
                observed_at=row.observed_at,
                freshness=fresh[(row.platform, row.account_id)],
            )
        )
    return items
