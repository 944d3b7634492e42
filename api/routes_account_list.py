"""``GET /v1/accounts``: the accounts a token may see, with current KPIs, in keyset pages."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response

from api.auth import CurrentPrincipal, Principal
from api.freshness import FreshnessState
from api.openapi import error_responses
from api.resources import Deps
from api.routes_common import as_label, decode_cursor, encode_cursor
from api.schemas import AccountPage, Label
from api.services import Services, ServicesDep
from clickhouse import queries_accounts
from clickhouse.queries_accounts import AccountFilter, AccountRow
from socialpulse.contract import Platform, format_ts

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.get("", response_model=AccountPage, responses=error_responses(400))
async def list_accounts(
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    platform: Platform | None = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="substring of handle or account_id"),
    ] = None,
    label: Annotated[Label | None, Query(description="own or competitor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> Response:
    """Accounts tracked in the token's workspace (admin: every account tracked or observed),
    ordered by (platform, account_id). A tracked account not observed yet has null KPIs.
    Cached for a few seconds per workspace (`X-Cache: hit|miss`)."""
    after = decode_cursor(cursor, 2)
    where = AccountFilter(platform.value if platform else None, label, q)
    params = {**vars(where), "after": after, "limit": limit}
    return await services.cache.answer(
        "accounts",
        principal,
        params,
        lambda: _page(principal, deps, services, where, after, limit),
    )


async def _page(
    principal: Principal,
    deps: Deps,
    services: Services,
    where: AccountFilter,
    after: list[object] | None,
    limit: int,
) -> bytes:
    """The page as JSON (an `AccountPage`)."""
    rows = await services.offload(
        queries_accounts.list_accounts,
        deps.clickhouse,
        principal.scope,
        principal.workspace,
        where,
        after=(str(after[0]), str(after[1])) if after else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    more = len(rows) > limit
    keys = [(r.platform, r.account_id) for r in page]
    # The statuses are read from Redis while the items are written: the request goes out at
    # the first yield to the loop, the answer waits in the socket until it is awaited.
    live = asyncio.ensure_future(services.status.fetch_live(keys))
    await asyncio.sleep(0)
    # Up to 500 items: building an `AccountItem` (with its growth and freshness models) for
    # each and serialising them was about a quarter of the API's CPU for a 50-item page
    # (docs/benchmarks.md, "Read API latency"), so the items go to JSON from plain dicts as
    # `AccountItem` writes them (same keys in the same order, timestamps by format_ts, floats
    # alike in orjson and pydantic; tests/unit/test_api_fast_paths.py compares the two).
    try:
        items = [account_json(r) for r in page]
    except BaseException:
        live.cancel()
        raise
    summaries = await services.status.summaries(keys, await live)
    observed = {(r.platform, r.account_id): r.observed_at for r in page}
    fresh = services.status.freshness_parts(observed, summaries)
    for item, key in zip(items, keys, strict=True):
        item["freshness"] = freshness_json(*fresh[key])
    return orjson.dumps(
        {
            "items": items,
            "next_cursor": encode_cursor(page[-1].platform, page[-1].account_id) if more else None,
        }
    )


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def account_json(r: AccountRow) -> dict[str, Any]:
    """An `AccountItem` of the row as its JSON object, up to its last key, `freshness`."""
    g1, g7, g30 = r.growth["1d"], r.growth["7d"], r.growth["30d"]
    return {
        "platform": r.platform,
        "account_id": r.account_id,
        "handle": r.handle,
        "label": as_label(r.label),
        "followers": r.followers,
        "following": r.following,
        "posts_count": r.posts_count,
        "observed_at": _ts(r.observed_at),
        "growth": {
            "1d": {"change": g1[0], "rate": g1[1]},
            "7d": {"change": g7[0], "rate": g7[1]},
            "30d": {"change": g30[0], "rate": g30[1]},
        },
        "engagement_rate_30d": r.engagement_rate_30d,
        "posts_30d": r.posts_30d,
        "projected_followers_30d": r.projected_followers_30d,
        "score": r.score,
    }


def freshness_json(
    state: FreshnessState, observed_at: datetime | None, next_due_at: datetime | None
) -> dict[str, Any]:
    """A `Freshness` as its JSON object."""
    return {"state": state, "observed_at": _ts(observed_at), "next_due_at": _ts(next_due_at)}
