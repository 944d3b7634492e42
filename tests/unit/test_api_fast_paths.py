"""The read API's hand-written JSON paths write what the pydantic models would."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from api.routes_account_list import account_json, freshness_json
from api.routes_common import as_label, growth_items
from api.routes_timeseries import POINT_FIELDS, points_json
from api.schemas import AccountItem, Freshness
from api.sync_status import _parsed, instant, parse_live
from clickhouse import queries_timeseries
from clickhouse.queries_accounts import AccountRow
from socialpulse.contract import from_ms, to_ms


def test_series_points_have_the_point_models_fields_in_order() -> None:
    """The query writes each window's JSON with these names instead of the `Point` model;
    the integration tests compare whole answers with the contract's windows."""
    assert tuple(POINT_FIELDS) == queries_timeseries.SERIES_FIELDS


def test_points_json_joins_the_points_into_an_array() -> None:
    points = ['{"ts":"2026-11-21T10:00:00.000Z","first":1}', '{"ts":"x","first":-2}']
    assert orjson.loads(points_json(points)) == [orjson.loads(p) for p in points]
    assert points_json([]) == b"[]"


def test_uvicorn_runs_on_uvloop_and_httptools() -> None:
    """`socialpulse api` runs uvicorn with loop and http "auto": these when installed."""
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol
    loop = auto_loop_factory()()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_account_json_is_what_the_account_item_model_writes() -> None:
    """`GET /v1/accounts` writes its items from dicts: byte for byte the model's JSON."""
    when = [None, datetime(2026, 11, 21, 10, 15, 0, 123000, tzinfo=UTC)]
    floats = [None, 0.0, -0.0, 0.041, 1e-07, 1 / 3, 11410.5, 1e16, -2.5e-05]
    cases = itertools.product(when, floats, [None, "own", "competitor", "other"], [None, 0, -7])
    for i, (at, number, label, count) in enumerate(cases):
        row = AccountRow(
            platform="instagram",
            account_id=f"acct-{i}",
            handle='h"\\andle ü',
            label=label,
            followers=count,
            following=None if count is None else 12,
            posts_count=count,
            observed_at=at,
            growth={"1d": (count, number), "7d": (None, None), "30d": (3, number)},
            engagement_rate_30d=number,
            posts_30d=count,
            projected_followers_30d=number,
            score=number,
        )
        fresh = Freshness(state="stale" if at else "pending", observed_at=at, next_due_at=at)
        model = AccountItem(
            platform=row.platform,
            account_id=row.account_id,
            handle=row.handle,
            label=as_label(row.label),
            followers=row.followers,
            following=row.following,
            posts_count=row.posts_count,
            observed_at=row.observed_at,
            growth=growth_items(row.growth),
            engagement_rate_30d=row.engagement_rate_30d,
            posts_30d=row.posts_30d,
            projected_followers_30d=row.projected_followers_30d,
            score=row.score,
            freshness=fresh,
        )
        item = account_json(row)
        item["freshness"] = freshness_json(fresh.state, fresh.observed_at, fresh.next_due_at)
        assert orjson.dumps(item) == model.model_dump_json(by_alias=True).encode()


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0, max_value=4e9, allow_nan=False),
        st.integers(min_value=0, max_value=4_000_000_000),
        st.floats(min_value=0, max_value=4e9).map(lambda s: round(s, 3)),
    )
)
def test_instant_is_the_datetime_route_to_milliseconds(epoch_s: float) -> None:
    """The arithmetic in `instant` gives what the collectors' seconds gave as datetimes."""
    assert instant(epoch_s) == from_ms(to_ms(datetime.fromtimestamp(epoch_s, UTC)))


def test_instant_keeps_the_microsecond_a_whole_product_would_round_away() -> None:
    # Found by the property above in CI: 1125899907.5939994 * 1e6 rounds up to ...594000.
    for epoch_s in (1125899907.5939994, 1_700_000_000.0009995):
        assert instant(epoch_s) == from_ms(to_ms(datetime.fromtimestamp(epoch_s, UTC)))


def test_instant_refuses_what_is_not_an_instant() -> None:
    for value in (None, "1700000000", float("nan"), float("inf"), 1e300, [1]):
        assert instant(value) is None


def test_parse_live_reads_a_status_and_keeps_its_parse() -> None:
    raw = json.dumps(
        {
            "last_run_id": "r-1",
            "last_state": "FAILURE",
            "last_finished_at": 1_790_000_000.25,
            "last_success_at": 1_789_990_000,
            "last_error": {"class": "UpstreamError", "message": "503 from upstream"},
            "last_error_at": 1_790_000_000.25,
            "next_due_at": -math.inf,  # the scheduler's "due at once"
        }
    ).encode()
    summary = parse_live(raw)
    assert summary.source == "live" and summary.last_state == "FAILURE" and summary.failing
    assert summary.last_run_at == from_ms(1_790_000_000_250) == summary.next_due_at
    assert summary.last_success_at == from_ms(1_789_990_000_000)
    assert summary.last_error == "503 from upstream"
    assert parse_live(bytes(raw)) is summary  # the same bytes again: the kept parse


def test_a_malformed_live_status_is_left_to_the_table() -> None:
    keys = [("instagram", "a"), ("instagram", "b"), ("instagram", "c"), ("instagram", "d")]
    good = json.dumps({"last_state": "SUCCESS", "last_finished_at": 1_790_000_000}).encode()
    found = _parsed(keys, [good, b"{not json", None, b"[1, 2]"])
    assert list(found) == [("instagram", "a")]
    assert found[("instagram", "a")].last_state == "SUCCESS"
