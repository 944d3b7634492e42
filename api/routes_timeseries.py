"""``GET /v1/accounts/{platform}/{account_id}/timeseries``: hourly or daily follower windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from api.auth import CurrentPrincipal, Principal
from api.errors import InvalidInput
from api.openapi import error_responses
from api.resources import Deps
from api.routes_common import (
    CSV_RESPONSES,
    FormatQuery,
    csv_response,
    require_visible,
    utc,
    wants_csv,
)
from api.schemas import PeriodComparison, Point, Timeseries
from api.services import Services, ServicesDep
from clickhouse import queries_sync, queries_timeseries
from socialpulse.contract import EPOCH, Platform, format_ts

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

Interval = Literal["1h", "1d"]
SUPPORTED_METRICS = ("followers",)
SIZE = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
DEFAULT_SPAN = {"1h": timedelta(days=7), "1d": timedelta(days=30)}
MAX_SPAN = {"1h": timedelta(days=93), "1d": timedelta(days=400)}
POINT_FIELDS = list(Point.model_fields)

MetricQuery = Annotated[
    str, Query(max_length=64, description="followers (the only windowed metric so far)")
]
FromQuery = Annotated[
    datetime | None, Query(alias="from", description="inclusive; default to - 30d (1d), 7d (1h)")
]
ToQuery = Annotated[
    datetime | None, Query(description="exclusive; default the end of the current window")
]


@router.get(
    "/{platform}/{account_id}/timeseries",
    response_model=Timeseries,
    responses={**CSV_RESPONSES, **error_responses(400)},
)
async def timeseries(
    request: Request,
    platform: Platform,
    account_id: str,
    principal: CurrentPrincipal,
    deps: Deps,
    services: ServicesDep,
    metric: MetricQuery = "followers",
    interval: Annotated[Interval, Query(description="window size")] = "1d",
    from_: FromQuery = None,
    to: ToQuery = None,
    fmt: FormatQuery = None,
) -> Response:
    """Windows whose start lies in `[from, to)`, oldest first, with the net change compared
    to the previous window of equal length. JSON answers are cached for a few seconds per
    workspace (`X-Cache: hit|miss`)."""
    _check_metric(metric)
    start, end = resolve_range(interval, utc(from_, "from"), utc(to, "to"))
    ask = SeriesAsk(platform, account_id, metric, interval, start, end)
    if wants_csv(request, fmt):
        return await services.offload(_timeseries_csv, deps, principal, ask)
    # The resolved range is the key, so a cached default range ends with its window.
    params = {
        "platform": platform.value, "account_id": account_id, "metric": metric,
        "interval": interval, "from": format_ts(start), "to": format_ts(end),
    }  # fmt: skip
    return await services.cache.answer(
        "timeseries",
        principal,
        params,
        lambda: _timeseries(deps, services, principal, ask),
    )


@dataclass(frozen=True)
class SeriesAsk:
    """One timeseries request, its range resolved."""

    platform: Platform
    account_id: str
    metric: str
    interval: Interval
    start: datetime
    end: datetime


def _timeseries_csv(deps: Deps, principal: Principal, ask: SeriesAsk) -> Response:
    platform, account_id, interval = ask.platform, ask.account_id, ask.interval
    require_visible(deps, principal, platform, account_id)
    args = (deps.clickhouse, principal.scope, platform.value, account_id)
    points = queries_timeseries.windows(*args, interval=interval, start=ask.start, end=ask.end)
    return csv_response(
        f"timeseries-{platform.value}-{account_id}-{ask.metric}-{interval}.csv",
        POINT_FIELDS,
        [[getattr(p, name) for name in POINT_FIELDS] for p in points],
    )


async def _timeseries(
    deps: Deps, services: Services, principal: Principal, ask: SeriesAsk
) -> bytes:
    """The answer as JSON (a `Timeseries`)."""
    platform, account_id, metric, interval = ask.platform, ask.account_id, ask.metric, ask.interval
    start, end = ask.start, ask.end
    previous_start = start - (end - start)
    series, live = await services.status.read_with_live(
        [(platform.value, account_id)],
        queries_timeseries.with_previous,
        deps.clickhouse,
        principal.scope,
        platform.value,
        account_id,
        interval=interval,
        start=start,
        end=end,
        previous_start=previous_start,
    )
    observed_at = series.observed_at
    # The read is scoped: rows prove the account visible; only an empty answer needs the check.
    if not series.observed:
        observed_at = await services.offload(
            _observed_if_visible, deps, principal, platform, account_id
        )
    current = series.net_change
    envelope = Timeseries(
        metric=metric,
        interval=interval,
        points=[],
        from_=start,
        to=end,
        observed_at=series.newest_observed_at,
        comparison=_compare(previous_start, start, current, series.previous),
        freshness=(
            await services.status.for_account(platform.value, account_id, observed_at, live)
        )[1],
    )
    # Up to a few thousand points: a pydantic model for each costs several ms to build and
    # to serialise, so the points come as JSON from the query (queries_timeseries).
    body = envelope.model_dump(mode="json", by_alias=True)
    body["points"] = orjson.Fragment(points_json(series.points))
    return orjson.dumps(body)


def _observed_if_visible(
    deps: Deps, principal: Principal, platform: Platform, account_id: str
) -> datetime | None:
    """When the account was last observed; 404 unless the token may see it."""
    require_visible(deps, principal, platform, account_id)
    return queries_sync.observed_at(deps.clickhouse, platform.value, account_id)


def points_json(points: list[str]) -> bytes:
    return ("[" + ",".join(points) + "]").encode()


def _check_metric(metric: str) -> None:
    if metric not in SUPPORTED_METRICS:
        raise InvalidInput(
            f"metric={metric!r} has no time series; supported: {', '.join(SUPPORTED_METRICS)}"
        )


def resolve_range(
    interval: Interval, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The defaults and limits of ``from``/``to``, with a message a person can act on."""
    size = SIZE[interval]
    if end is None:
        now = datetime.now(UTC)
        end = EPOCH + ((now - EPOCH) // size + 1) * size  # the end of the current window
    if start is None:
        start = end - DEFAULT_SPAN[interval]
    if start >= end:
        raise InvalidInput(
            f"'from' ({format_ts(start)}) must be earlier than 'to' ({format_ts(end)})"
        )
    if end - start > MAX_SPAN[interval]:
        days = MAX_SPAN[interval].days
        hint = " or use interval=1d" if interval == "1h" else ""
        raise InvalidInput(
            f"the range from {format_ts(start)} to {format_ts(end)} is longer than the"
            f" {days} days allowed with interval={interval}: narrow 'from'/'to'{hint}"
        )
    return start, end


def _compare(
    previous_start: datetime,
    start: datetime,
    current: int | None,
    previous_total: queries_timeseries.RangeTotal,
) -> PeriodComparison:
    previous = previous_total.net_change
    change = None if current is None or previous is None else current - previous
    return PeriodComparison(
        net_change=current,
        previous_from=previous_start,
        previous_to=start,
        previous_net_change=previous,
        change=change,
        change_rate=None if change is None or not previous else change / abs(previous),
    )
