"""Follower windows (``account_metrics_hourly`` / ``_daily``) for the timeseries endpoint.

Windows are read with ``FINAL`` (the highest version of each window). Summing
``net_change`` over consecutive windows telescopes (each window's net change
reads F just before its start), so a range's net change is the sum of its
windows' -- the basis of the period-over-period comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse.queries import Scope
from socialpulse.contract import from_ms, to_ms

TABLES = {"1h": "account_metrics_hourly", "1d": "account_metrics_daily"}


@dataclass(frozen=True)
class Point:
    ts: datetime
    first: int
    last: int
    min: int
    max: int
    net_change: int
    samples: int
    last_observed_at: datetime


@dataclass(frozen=True)
class RangeTotal:
    net_change: int | None  # None when the range holds no window
    windows: int


# A window as the API's `Point` writes it, in this order (tests/unit/test_api_fast_paths.py).
SERIES_FIELDS = ("ts", "first", "last", "min", "max", "net_change", "samples")
# Each window's JSON is written by ClickHouse: a 30-day hourly series is 720 points, and
# turning them into Python values and back into JSON was about 2 ms of the API's CPU per
# answer. The ts is RFC 3339 with milliseconds as format_ts writes it ('2026-11-21
# 10:00:00.000' is how a DateTime64(3, 'UTC') prints); the rest are integers, which
# toString writes as JSON does. Nothing in either needs escaping.
_POINT_JSON_SQL = (
    "concat('{\"ts\":\"', replaceOne(toString(any(window_start)), ' ', 'T'), 'Z\"', "
    + ", ".join(
        f"',\"{name}\":', toString({agg}({name}))"
        for name, agg in (
            ("first", "any"),
            ("last", "any"),
            ("min", "any"),
            ("max", "any"),
            ("net_change", "sum"),
            ("samples", "any"),
        )
    )
    + ", '}')"
)


@dataclass(frozen=True)
class Series:
    points: list[str]  # oldest first, each window as the JSON of a `Point`
    net_change: int | None  # the points' net change (None without points)
    newest_observed_at: datetime | None  # the newest observation in the points
    previous: RangeTotal  # the previous period's net change
    observed_at: datetime | None  # the account's latest observation (account_latest)
    observed: bool  # whether observed_at was read (False: the scoped read was empty)


def _where(
    scope: Scope, platform: str, account_id: str, start: datetime, end: datetime
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {
        "platform": platform,
        "account_id": account_id,
        "start": to_ms(start),
        "end": to_ms(end),
    }
    # Sorting-key columns only, in PREWHERE: see clickhouse/queries.py.
    sql = (
        " PREWHERE platform = {platform:String} AND account_id = {account_id:String}"
        " AND window_start >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')"
        " AND window_start < fromUnixTimestamp64Milli({end:Int64}, 'UTC')"
        + scope.account_clause(params)
    )
    return sql, params


def windows(
    client: Client,
    scope: Scope,
    platform: str,
    account_id: str,
    *,
    interval: str,
    start: datetime,
    end: datetime,
) -> list[Point]:
    """The account's windows whose start lies in ``[start, end)``, oldest first."""
    where, params = _where(scope, platform, account_id, start, end)
    sql = (
        "SELECT toUnixTimestamp64Milli(window_start), first, last, min, max, net_change, samples,"
        f" toUnixTimestamp64Milli(last_observed_at) FROM {TABLES[interval]} FINAL"
        + where
        + " ORDER BY window_start"
    )
    return [
        Point(from_ms(ts), first, last, lo, hi, net, samples, from_ms(last_at))
        for ts, first, last, lo, hi, net, samples, last_at in client.query(
            sql, parameters=params
        ).result_rows
    ]


def with_previous(
    client: Client,
    scope: Scope,
    platform: str,
    account_id: str,
    *,
    interval: str,
    start: datetime,
    end: datetime,
    previous_start: datetime,
) -> Series:
    """The windows whose start lies in ``[start, end)``, oldest first, the net change over
    those in ``[previous_start, start)``, and when the account was last observed.

    One read of the account's key range instead of two: the windows before ``start`` fold
    into one group (``before`` = 1), each later window is a group of its own (``FINAL``
    leaves one row per window), so ``any()`` is that row's value. The account's
    ``observed_at`` (``account_latest``'s, for the answer's freshness) comes with every row
    from the ``account_observed`` lookup (m0010). When the scoped read is empty it is
    unknown here (``observed`` False) and the caller asks for it after its visibility check.
    """
    where, params = _where(scope, platform, account_id, previous_start, end)
    params["split"] = to_ms(start)
    sql = (
        "SELECT window_start < fromUnixTimestamp64Milli({split:Int64}, 'UTC') AS before,"
        " if(before, 0, toUnixTimestamp64Milli(window_start)) AS ts,"
        f" {_POINT_JSON_SQL}, sum(net_change),"
        " any(toUnixTimestamp64Milli(last_observed_at)), count(),"
        # The account's latest observation, from m0010's lookup (not a table read).
        " toUnixTimestamp64Milli(joinGetOrNull('account_observed', 'observed_at',"
        "  {platform:String}, {account_id:String}))"
        f" FROM {TABLES[interval]} FINAL" + where + " GROUP BY before, ts ORDER BY before DESC, ts"
    )
    rows = client.query(sql, parameters=params).result_rows
    if not rows:
        return Series([], None, None, RangeTotal(None, 0), None, observed=False)
    observed_ms = rows[0][6]
    previous = RangeTotal(None, 0)
    if rows[0][0]:
        previous = RangeTotal(int(rows[0][3]), int(rows[0][5]))
        rows = rows[1:]
    newest = max((r[4] for r in rows), default=None)
    return Series(
        [r[2] for r in rows],
        sum(r[3] for r in rows) if rows else None,
        None if newest is None else from_ms(newest),
        previous,
        None if observed_ms is None else from_ms(observed_ms),
        observed=True,
    )
