"""Accounts list, timeseries, posts, best times and leaderboard on real services.

Data goes through Kafka and a real worker; the API is served over real HTTP. Times are
anchored to today so the endpoints' default ranges (relative to now) cover the feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from clickhouse_connect.driver.client import Client
from httpx import Client as HttpClient

from api.app import create_app
from api.resources import Resources
from api.schemas import Point
from api.tokens import mint
from clickhouse import queries_tracking
from socialpulse.contract import Platform, PostSnapshot, ProfileSnapshot, format_ts, snapshot_id
from socialpulse.contract import to_ms as ms
from socialpulse.settings import ApiSettings
from tests.conftest import Namespace
from tests.http_server import serve
from tests.integration.test_pipeline import wait_for_quiescence
from tests.pipeline import produce_raw
from tests.reference import DAY, HOUR, applied_series, expected_growth, expected_windows, f_at

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

BASE = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
STEPS = 10 * 48  # one snapshot every 30 minutes for 10 days, the last ~30 min ago
Curve = Callable[[int], int]
ACCOUNTS: dict[tuple[str, str], tuple[str, Curve]] = {
    ("simulated", "acme-id"): ("AcmeOfficial", lambda k: 1000 + 3 * k - (7 if k % 5 == 0 else 0)),
    ("simulated", "rival-id"): ("RivalCo", lambda k: 2000 + k),
    ("simulated", "other-id"): ("OtherBrand", lambda k: 500 if k < 240 else 260 + k),
    ("bluesky", "bsky-id"): ("bsky.example", lambda k: 300 + 5 * k),
}
WS_A = {  # workspace ws-a tracks these (ghost-id is never observed)
    ("simulated", "acme-id"): "own",
    ("bluesky", "bsky-id"): "own",
    ("simulated", "ghost-id"): "own",
    ("simulated", "rival-id"): "competitor",
}
WS_B = {("simulated", "other-id"): "own"}


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def profile(platform: str, account: str, k: int) -> ProfileSnapshot:
    handle, curve = ACCOUNTS[(platform, account)]
    return ProfileSnapshot(
        snapshot_id=snapshot_id(platform, account, k), platform=Platform(platform),
        account_id=account, handle=handle, observed_at=at(k / 2), followers=curve(k),
        following=10, posts_count=5, source="test",
    )  # fmt: skip


def post(
    account: str, hour: int, post_id: str, published: datetime | None, **counts: int
) -> PostSnapshot:
    return PostSnapshot(
        snapshot_id=snapshot_id("post", account, post_id, hour), platform=Platform.SIMULATED,
        account_id=account, post_id=post_id, published_at=published, observed_at=at(hour),
        url=f"https://example.test/{post_id}", media_type="image", source="test", **counts,
    )  # fmt: skip


PROFILES = [profile(p, a, k) for (p, a) in ACCOUNTS for k in range(STEPS)]
POSTS = [
    post("other-id", 30, "o1", at(24), likes=7),
    post("acme-id", 36, "p1", at(34), likes=50, comments=5),
    post("acme-id", 58, "p1", at(34), likes=80, comments=10),  # p1's latest observation
    post("acme-id", 64, "p2", at(62)),  # every count null: interactions null
    post("acme-id", 84, "p3", at(82), likes=200),
    post("acme-id", 140, "p4", at(138), likes=10, saves=5),
    post("acme-id", 150, "p5", None, likes=30),  # no publication time
    post("acme-id", 204, "p6", at(202), likes=120, shares=4),  # same hour of week as p1
]


def snaps_of(account: str) -> list[tuple[int, str, int | None]]:
    return [
        (ms(p.observed_at), p.snapshot_id, p.followers) for p in PROFILES if p.account_id == account
    ]


def latest_posts() -> dict[str, PostSnapshot]:
    out: dict[str, PostSnapshot] = {}
    for p in sorted(POSTS, key=lambda p: p.observed_at):
        out[p.post_id] = p
    return out


def interactions(p: PostSnapshot) -> int | None:
    values = [v for v in (p.likes, p.comments, p.shares, p.saves) if v is not None]
    return sum(values) if values else None


def engagement(p: PostSnapshot) -> float | None:
    i, f = interactions(p), f_at(applied_series(snaps_of(p.account_id)), ms(p.observed_at))
    return None if i is None or not f else i / f


@pytest.fixture(scope="module")
def api(module_ns: tuple[Namespace, Client]) -> Iterator[tuple[HttpClient, ApiSettings]]:
    ns, ch = module_ns
    topics = ns.topics
    for topic, records in ((topics.profile_snapshots, PROFILES), (topics.post_snapshots, POSTS)):
        feed = [
            (r.key.encode(), r.to_json_bytes())
            for r in sorted(records, key=lambda r: r.observed_at)
        ]
        asyncio.run(produce_raw(ns.settings(), topic, feed))
    for workspace, tracked in (("ws-a", WS_A), ("ws-b", WS_B)):
        for (platform, account), label in tracked.items():
            account_row = queries_tracking.TrackedAccount(
                workspace, platform, account, account, label, "test"
            )
            queries_tracking.write(ch, account_row, None)
    ns.start_worker()
    wait_for_quiescence(ns, ch, topics=[topics.profile_snapshots, topics.post_snapshots])
    settings = ns.settings(ApiSettings)
    assert isinstance(settings, ApiSettings)
    resources = Resources(ch, redis.Redis.from_url(ns.urls.redis_url))
    with serve(create_app(settings, resources)) as base, HttpClient(base_url=base) as client:
        yield client, settings


def auth(settings: ApiSettings, workspace: str = "ws-a", role: str = "analyst") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(settings, 'tester', workspace, role)}"}


Api = tuple[HttpClient, ApiSettings]


def get(api: Api, path: str, ws: str = "ws-a", role: str = "analyst", **params: Any) -> Any:
    client, settings = api
    response = client.get(path, params=params, headers=auth(settings, ws, role))
    assert response.status_code == 200, response.text
    return response.json()


def listed(api: Api, ws: str = "ws-a", role: str = "analyst", **params: Any) -> list[str]:
    items = get(api, "/v1/accounts", ws, role, limit=500, **params)["items"]
    return [f"{i['platform']}:{i['account_id']}" for i in items]


# --- GET /v1/accounts --------------------------------------------------------------------


def test_list_shows_the_workspaces_tracked_accounts_with_kpis(api: Api) -> None:
    items = get(api, "/v1/accounts")["items"]
    assert [(i["platform"], i["account_id"]) for i in items] == sorted(WS_A)
    by_id = {i["account_id"]: i for i in items}
    for (_, account), label in WS_A.items():
        assert by_id[account]["label"] == label
    acme = by_id["acme-id"]
    snaps = snaps_of("acme-id")
    assert acme["handle"] == "AcmeOfficial"
    assert acme["followers"] == ACCOUNTS[("simulated", "acme-id")][1](STEPS - 1)
    assert acme["observed_at"] == format_ts(at((STEPS - 1) / 2))
    assert acme["growth"]["7d"]["change"] == expected_growth(snaps, 7 * DAY)[0]
    assert acme["growth"]["7d"]["rate"] == pytest.approx(expected_growth(snaps, 7 * DAY)[1])
    assert acme["posts_30d"] == 5 and 0 < acme["engagement_rate_30d"] < 1
    assert 0 <= acme["score"] <= 100
    ghost = by_id["ghost-id"]  # tracked, never observed: listed, KPIs null
    assert ghost["followers"] is None and ghost["observed_at"] is None and ghost["score"] is None
    assert ghost["handle"] == "ghost-id"


def test_list_pages_with_an_opaque_cursor(api: Api) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = get(api, "/v1/accounts", **params)
        seen += [i["account_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a for _, a in sorted(WS_A)]


def test_list_filters(api: Api) -> None:
    assert listed(api, platform="bluesky") == ["bluesky:bsky-id"]
    assert listed(api, q="aCMEoff") == ["simulated:acme-id"]  # handle, case-insensitive
    assert listed(api, q="VAL-I") == ["simulated:rival-id"]  # account_id
    assert listed(api, label="competitor") == ["simulated:rival-id"]
    assert listed(api, q="nothing-like-this") == []


def test_list_is_scoped_to_the_workspace_and_admin_sees_all(api: Api) -> None:
    assert listed(api, "ws-b") == ["simulated:other-id"]
    assert listed(api, "ws-nobody") == []
    everything = sorted({*WS_A, *WS_B})
    admin = get(api, "/v1/accounts", "ws-admin", "admin", limit=500)["items"]
    assert [(i["platform"], i["account_id"]) for i in admin] == everything
    assert all(i["label"] is None for i in admin)  # nothing tracked in ws-admin itself


# --- timeseries --------------------------------------------------------------------------

ACME = "/v1/accounts/simulated/acme-id"


def windows_between(
    account: str, size: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    keys = ("first", "last", "min", "max", "samples", "net_change")
    return [
        {"ts": format_ts(datetime.fromtimestamp(ts / 1000, UTC)), **dict(zip(keys, w, strict=True))}
        for ts, w in sorted(expected_windows(snaps_of(account), size).items())
        if ms(start) <= ts < ms(end)
    ]


def test_daily_timeseries_equals_the_contracts_windows(api: Api) -> None:
    start, end = BASE, BASE + timedelta(days=10)
    body = get(api, f"{ACME}/timeseries", metric="followers", interval="1d",
               **{"from": format_ts(start), "to": format_ts(end)})  # fmt: skip
    assert body["metric"] == "followers" and body["interval"] == "1d"
    assert body["points"] == windows_between("acme-id", DAY, start, end)
    assert len(body["points"]) == 10
    assert body["from"] == format_ts(start) and body["to"] == format_ts(end)
    assert body["observed_at"] == format_ts(at((STEPS - 1) / 2))


def test_hourly_timeseries_and_period_over_period(api: Api) -> None:
    start, end = BASE + timedelta(days=4), BASE + timedelta(days=6)
    body = get(api, f"{ACME}/timeseries", interval="1h",
               **{"from": format_ts(start), "to": format_ts(end)})  # fmt: skip
    points = windows_between("acme-id", HOUR, start, end)
    assert body["points"] == points and len(points) == 48
    # Written by the query, not the model: the same keys in the model's order, as integers.
    assert all(list(p) == list(Point.model_fields) for p in body["points"])
    assert all(type(p[k]) is int for p in body["points"] for k in list(Point.model_fields)[1:])
    assert all(p["samples"] == 2 for p in points)
    previous = windows_between("acme-id", HOUR, start - timedelta(days=2), start)
    current_net = sum(p["net_change"] for p in points)
    previous_net = sum(p["net_change"] for p in previous)
    curve = ACCOUNTS[("simulated", "acme-id")][1]
    assert current_net == curve(6 * 48 - 1) - curve(4 * 48 - 1)  # the sum telescopes: F - F
    assert body["comparison"] == {
        "net_change": current_net,
        "previous_from": format_ts(start - timedelta(days=2)),
        "previous_to": format_ts(start),
        "previous_net_change": previous_net,
        "change": current_net - previous_net,
        "change_rate": pytest.approx((current_net - previous_net) / abs(previous_net)),
    }


def test_period_over_period_is_null_on_a_zero_base(api: Api) -> None:
    start, end = BASE + timedelta(days=5), BASE + timedelta(days=7)
    body = get(api, "/v1/accounts/simulated/other-id/timeseries", "ws-b",
               **{"from": format_ts(start), "to": format_ts(end)})  # fmt: skip
    comparison = body["comparison"]
    assert comparison["previous_net_change"] == 0  # flat at 500 for the first five days
    assert comparison["net_change"] > 0
    assert comparison["change"] == comparison["net_change"] and comparison["change_rate"] is None
    early = get(api, "/v1/accounts/simulated/other-id/timeseries", "ws-b",
                **{"from": format_ts(BASE - timedelta(days=3)), "to": format_ts(BASE)})  # fmt: skip
    assert early["points"] == [] and early["comparison"]["net_change"] is None


def test_timeseries_default_ranges_end_now(api: Api) -> None:
    now = datetime.now(UTC)
    for interval, span, size in (("1d", 30, DAY), ("1h", 7, HOUR)):
        body = get(api, f"{ACME}/timeseries", interval=interval)
        start, end = (datetime.fromisoformat(body[k]) for k in ("from", "to"))
        assert end - start == timedelta(days=span)
        assert now < end <= now + timedelta(milliseconds=size)
        assert body["points"] == windows_between("acme-id", size, start, end)
        assert body["points"]


# --- posts and best times ----------------------------------------------------------------


def expected_post_order(key: Callable[[PostSnapshot], Any], descending: bool) -> list[str]:
    posts = sorted((p for p in latest_posts().values() if p.account_id == "acme-id"),
                   key=lambda p: p.post_id)  # fmt: skip
    known = sorted((p for p in posts if key(p) is not None), key=key, reverse=descending)
    return [p.post_id for p in known] + [p.post_id for p in posts if key(p) is None]


def test_posts_carry_their_latest_counts(api: Api) -> None:
    items = {i["post_id"]: i for i in get(api, f"{ACME}/posts")["items"]}
    assert set(items) == {"p1", "p2", "p3", "p4", "p5", "p6"}
    p1 = latest_posts()["p1"]
    assert items["p1"] == {
        "post_id": "p1", "published_at": format_ts(at(34)), "url": "https://example.test/p1",
        "media_type": "image", "likes": 80, "comments": 10, "shares": None, "saves": None,
        "views": None, "interactions": 90, "engagement_rate": pytest.approx(engagement(p1)),
        "observed_at": format_ts(at(58)),
    }  # fmt: skip
    assert items["p2"]["interactions"] is None and items["p2"]["engagement_rate"] is None


@pytest.mark.parametrize("sort", ["engagement_rate", "interactions", "published_at"])
def test_posts_sort_with_nulls_last(api: Api, sort: str) -> None:
    keys: dict[str, Callable[[PostSnapshot], Any]] = {
        "engagement_rate": engagement, "interactions": interactions,
        "published_at": lambda p: p.published_at,
    }  # fmt: skip
    for order in ("desc", "asc"):
        got = [i["post_id"] for i in get(api, f"{ACME}/posts", sort=sort, order=order)["items"]]
        assert got == expected_post_order(keys[sort], descending=order == "desc")
    assert len(get(api, f"{ACME}/posts", sort=sort, limit=2)["items"]) == 2


def test_best_times_by_hour_of_week(api: Api) -> None:
    body = get(api, f"{ACME}/best-times")
    cells: dict[tuple[int, int], list[float]] = {}
    for p in latest_posts().values():
        rate = engagement(p)
        if p.account_id == "acme-id" and p.published_at is not None and rate is not None:
            cells.setdefault((p.published_at.isoweekday(), p.published_at.hour), []).append(rate)
    assert body["posts_considered"] == 4 and body["timezone"] == "UTC"
    got = {(i["weekday"], i["hour"]): i for i in body["items"]}
    assert set(got) == set(cells)
    for cell, rates in cells.items():
        assert got[cell]["posts"] == len(rates)
        assert got[cell]["mean_engagement_rate"] == pytest.approx(sum(rates) / len(rates))
    means = [i["mean_engagement_rate"] for i in body["items"]]
    assert means == sorted(means, reverse=True)
    assert max(i["posts"] for i in body["items"]) == 2  # p1 and p6: one week apart
