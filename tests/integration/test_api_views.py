"""Leaderboard, CSV export, tenancy on every read endpoint, and bad input -- on the feed of
``test_api_reads`` (its own namespace and worker: fixtures are per module)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from socialpulse.contract import format_ts
from tests.integration import test_api_reads
from tests.integration.test_api_reads import (
    ACCOUNTS,
    ACME,
    BASE,
    DAY,
    STEPS,
    WS_A,
    Api,
    auth,
    get,
    snaps_of,
)
from tests.reference import expected_growth

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

api = test_api_reads.api  # the same module-scoped fixture: this module gets its own feed

OBSERVED = set(ACCOUNTS)


def board(api: Api, ws: str = "ws-a", role: str = "analyst", **params: Any) -> list[Any]:
    body = get(api, "/v1/leaderboard", ws, role, **params)
    assert body["metric"] == params.get("metric", "growth_7d")
    return list(body["items"])


def growth_rate(account: str) -> float:
    rate = expected_growth(snaps_of(account), 7 * DAY)[1]
    assert rate is not None
    return rate


# --- leaderboard -------------------------------------------------------------------------


def test_leaderboard_ranks_the_workspaces_accounts_on_growth(api: Api) -> None:
    items = board(api)
    mine = sorted((a for a in WS_A if a in OBSERVED), key=lambda a: -growth_rate(a[1]))
    assert [(i["platform"], i["account_id"]) for i in items] == mine  # ghost-id: no data
    assert [i["rank"] for i in items] == [1, 2, 3]
    for item in items:
        account = (item["platform"], item["account_id"])
        assert item["value"] == pytest.approx(growth_rate(item["account_id"]))
        assert item["growth_7d"]["rate"] == item["value"]
        assert item["followers"] == ACCOUNTS[account][1](STEPS - 1)
        assert item["handle"] == ACCOUNTS[account][0] and item["label"] == WS_A[account]
        assert 0 <= item["score"] <= 100


def test_leaderboard_on_followers_and_engagement(api: Api) -> None:
    by_followers = board(api, metric="followers")
    values = [i["value"] for i in by_followers]
    assert values == sorted(values, reverse=True) and all(isinstance(v, int) for v in values)
    by_engagement = board(api, metric="engagement_rate_30d")
    assert by_engagement[0]["account_id"] == "acme-id" and by_engagement[0]["rank"] == 1
    assert by_engagement[0]["value"] == by_engagement[0]["engagement_rate_30d"] > 0
    rest = by_engagement[1:]  # no posts: null value, no rank, after every ranked account
    assert [(i["rank"], i["value"]) for i in rest] == [(None, None)] * 2
    assert [(i["platform"], i["account_id"]) for i in rest] == sorted(
        (p, a) for p, a in WS_A if (p, a) in OBSERVED and a != "acme-id"
    )


def test_leaderboard_filters_and_scope(api: Api) -> None:
    assert [i["account_id"] for i in board(api, platform="bluesky")] == ["bsky-id"]
    assert [i["account_id"] for i in board(api, label="competitor")] == ["rival-id"]
    assert [i["account_id"] for i in board(api, label="own")] == ["bsky-id", "acme-id"]
    assert [i["account_id"] for i in board(api, "ws-b")] == ["other-id"]
    assert board(api, "ws-nobody") == []
    everyone = board(api, "ws-admin", "admin", limit=2)
    assert len(everyone) == 2
    ranked = sorted(OBSERVED, key=lambda a: -growth_rate(a[1]))
    assert [i["account_id"] for i in board(api, "ws-admin", "admin")] == [a for _, a in ranked]


# --- CSV ---------------------------------------------------------------------------------


def csv_rows(api: Api, path: str, accept: str | None = None, **params: Any) -> list[list[str]]:
    client, settings = api
    headers = auth(settings) | ({"Accept": accept} if accept else {})
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.text)))


def cell(value: object) -> str:
    return "" if value is None else str(value)


def test_csv_export_of_timeseries(api: Api) -> None:
    span = {"from": format_ts(BASE), "to": format_ts(BASE + timedelta(days=10))}
    points = get(api, f"{ACME}/timeseries", **span)["points"]
    for rows in (
        csv_rows(api, f"{ACME}/timeseries", format="csv", **span),
        csv_rows(api, f"{ACME}/timeseries", accept="text/csv", **span),
    ):
        assert rows[0] == ["ts", "first", "last", "min", "max", "net_change", "samples"]
        assert rows[1:] == [[cell(p[k]) for k in rows[0]] for p in points]


def test_csv_export_of_follower_changes_and_posts(api: Api) -> None:
    changes = get(api, f"{ACME}/follower-changes", limit=20)
    rows = csv_rows(api, f"{ACME}/follower-changes", format="csv", limit=20)
    assert rows[0] == ["observed_at", "previous_observed_at", "previous_followers", "followers",
                       "delta"]  # fmt: skip
    assert rows[1:] == [[cell(i[k]) for k in rows[0]] for i in changes["items"]]
    posts = get(api, f"{ACME}/posts")["items"]
    rows = csv_rows(api, f"{ACME}/posts", format="csv")
    assert rows[0][0] == "post_id" and len(rows) == len(posts) + 1
    assert rows[1:] == [[cell(p[k]) for k in rows[0]] for p in posts]


def test_json_stays_the_default(api: Api) -> None:
    client, settings = api
    headers = auth(settings) | {"Accept": "text/csv, application/json"}
    response = client.get(f"{ACME}/posts", headers=headers)
    assert response.headers["content-type"] == "application/json"


# --- tenancy -----------------------------------------------------------------------------

ENDPOINTS = ["", "/timeseries", "/follower-changes", "/posts", "/best-times"]


@pytest.mark.parametrize("suffix", ENDPOINTS)
def test_no_workspace_reads_another_workspaces_account(api: Api, suffix: str) -> None:
    client, settings = api
    other, acme = f"/v1/accounts/simulated/other-id{suffix}", f"{ACME}{suffix}"
    for path, ws in ((other, "ws-a"), (acme, "ws-b"), (acme, "ws-nobody")):
        response = client.get(path, headers=auth(settings, ws))
        assert response.status_code == 404, (path, ws, response.text)
        assert response.json()["error"]["code"] == "not_found"
    for path, ws, role in ((other, "ws-b", "analyst"), (acme, "ws-a", "analyst"),
                           (other, "ws-a", "admin"), (acme, "ws-b", "admin")):  # fmt: skip
        assert client.get(path, headers=auth(settings, ws, role)).status_code == 200


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        (f"{ACME}/timeseries", {"metric": "following"}, 400, "supported: followers"),
        (f"{ACME}/timeseries", {"interval": "5m"}, 422, "interval"),
        (
            f"{ACME}/timeseries",
            {"from": "2026-11-10T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            400,
            "earlier",
        ),  # fmt: skip
        (
            f"{ACME}/timeseries",
            {"interval": "1h", "from": "2026-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            400,
            "interval=1d",
        ),  # fmt: skip
        (
            f"{ACME}/timeseries",
            {"from": "2020-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            400,
            "400 days",
        ),  # fmt: skip
        (f"{ACME}/timeseries", {"from": "0001-01-01T00:00:00+05:00"}, 400, "1970"),
        (f"{ACME}/timeseries", {"to": "yesterday"}, 422, "to"),
        (f"{ACME}/timeseries", {"format": "xlsx"}, 422, "format"),
        (f"{ACME}/posts", {"sort": "likes"}, 422, "sort"),
        (f"{ACME}/posts", {"limit": 501}, 422, "limit"),
        (f"{ACME}/follower-changes", {"from": "9999-01-01T00:00:00Z"}, 400, "from"),
        ("/v1/accounts", {"cursor": "garbage!"}, 400, "cursor"),
        ("/v1/accounts", {"cursor": "djE6WzFd"}, 400, "cursor"),  # v1:[1], wrong arity
        ("/v1/accounts", {"limit": 0}, 422, "limit"),
        ("/v1/accounts", {"label": "friend"}, 422, "label"),
        ("/v1/accounts", {"platform": "myspace"}, 422, "platform"),
        ("/v1/accounts", {"q": "x" * 101}, 422, "q"),
        ("/v1/leaderboard", {"metric": "likes"}, 422, "metric"),
        ("/v1/leaderboard", {"limit": 1000}, 422, "limit"),
        ("/v1/accounts/myspace/acme-id/best-times", {}, 422, "platform"),
    ],
)
def test_bad_input_is_a_4xx_with_an_actionable_message(
    api: Api, path: str, params: dict[str, Any], status: int, fragment: str
) -> None:
    client, settings = api
    response = client.get(path, params=params, headers=auth(settings))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert fragment in error["message"] and error["code"] == "invalid_input"


def test_unknown_paths_and_methods_answer_in_the_error_shape(api: Api) -> None:
    client, settings = api
    response = client.get("/v1/nothing-here", headers=auth(settings))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = client.put("/v1/leaderboard", headers=auth(settings))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
