"""The read API on real services: data fed through Kafka and the worker, read over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from clickhouse_connect.driver.client import Client
from httpx import Client as HttpClient

from api.app import create_app
from api.resources import Resources
from api.tokens import mint
from clickhouse.accounts import track
from socialpulse.contract import format_ts
from socialpulse.settings import ApiSettings
from tests.conftest import Namespace
from tests.http_server import serve
from tests.integration.test_pipeline import NOW, snap, wait_for_quiescence
from tests.pipeline import expected_from, produce_snapshots

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

SNAPS = [snap("acme", m, 1000 + (m // 15) * 3 * (-1) ** (m // 45)) for m in range(0, 24 * 60, 15)]
SNAPS += [snap("other", m, 50 + m) for m in range(0, 60, 15)]


@pytest.fixture(scope="module")
def api(module_ns: tuple[Namespace, Client]) -> Iterator[tuple[HttpClient, ApiSettings]]:
    ns, ch = module_ns
    produce_snapshots(ns.settings(), ns.topics.profile_snapshots, SNAPS)
    track(ch, "ws-a", "simulated", ["acme"], added_by="test")
    track(ch, "ws-b", "simulated", ["other"], added_by="test")
    ns.start_worker()
    wait_for_quiescence(ns, ch)
    settings = ns.settings(ApiSettings)
    assert isinstance(settings, ApiSettings)
    resources = Resources(ch, redis.Redis.from_url(ns.urls.redis_url))
    with serve(create_app(settings, resources)) as base, HttpClient(base_url=base) as client:
        yield client, settings


def auth(settings: ApiSettings, workspace: str = "ws-a", role: str = "analyst") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(settings, 'tester', workspace, role)}"}


def test_overview_shows_the_latest_applied_snapshot(api: tuple[HttpClient, ApiSettings]) -> None:
    client, settings = api
    body = client.get("/v1/accounts/simulated/acme", headers=auth(settings)).json()
    last = SNAPS[24 * 4 - 1]
    assert body["followers"] == last.followers
    assert body["observed_at"] == format_ts(last.observed_at)
    assert body["handle"] == "acme" and body["platform"] == "simulated"
    assert set(body["growth"]) == {"1d", "7d", "30d"}
    assert body["growth"]["1d"]["change"] is None  # one day of history: F(t - 1d) undefined
    assert body["posts_30d"] == 0 and body["engagement_rate_30d"] is None
    assert body["score"] is not None and 0 <= body["score"] <= 100
    assert body["sync"] == {"state": None, "last_success_at": None, "last_error": None}


def test_follower_changes_page_through_every_row_newest_first(
    api: tuple[HttpClient, ApiSettings],
) -> None:
    client, settings = api
    expected = expected_from([s for s in SNAPS if s.account_id == "acme"])[("simulated", "acme")]
    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get(
            "/v1/accounts/simulated/acme/follower-changes", params=params, headers=auth(settings)
        ).json()
        seen.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == -(-len(expected) // 7)
    observed = [item["observed_at"] for item in seen]
    assert observed == sorted(observed, reverse=True)
    assert len(seen) == len(expected)
    first = seen[-1]
    assert first["delta"] == first["followers"] - first["previous_followers"]  # type: ignore[operator]


def test_follower_changes_time_range(api: tuple[HttpClient, ApiSettings]) -> None:
    client, settings = api
    start, end = NOW + timedelta(hours=2), NOW + timedelta(hours=4)
    page = client.get(
        "/v1/accounts/simulated/acme/follower-changes",
        params={"from": format_ts(start), "to": format_ts(end), "limit": 1000},
        headers=auth(settings),
    ).json()
    assert page["items"]
    assert all(format_ts(start) <= i["observed_at"] < format_ts(end) for i in page["items"])


def test_tenancy_hides_other_workspaces_accounts(api: tuple[HttpClient, ApiSettings]) -> None:
    client, settings = api
    for path in ("/v1/accounts/simulated/other", "/v1/accounts/simulated/other/follower-changes"):
        response = client.get(path, headers=auth(settings, "ws-a"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert (
        client.get("/v1/accounts/simulated/other", headers=auth(settings, "ws-b")).status_code
        == 200
    )
    admin = auth(settings, "ws-a", role="admin")
    assert client.get("/v1/accounts/simulated/other", headers=admin).json()["followers"] == 95


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-jwt"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ],
)
def test_requests_without_a_valid_token_are_refused(
    api: tuple[HttpClient, ApiSettings], headers: dict[str, str], status: int
) -> None:
    client, _ = api
    response = client.get("/v1/accounts/simulated/acme", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_and_foreign_tokens_are_refused(api: tuple[HttpClient, ApiSettings]) -> None:
    client, settings = api
    import jwt

    expired = jwt.encode(
        {"sub": "x", "workspace": "ws-a", "role": "admin", "exp": 1}, settings.jwt_secret
    )
    forged = jwt.encode(
        {"sub": "x", "workspace": "ws-a", "role": "admin", "exp": 4102444800},
        "another-secret-that-is-long-enough-for-hs256",
    )
    for token, words in ((expired, "expired"), (forged, "invalid token")):
        response = client.get(
            "/v1/accounts/simulated/acme", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        assert words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/v1/accounts/myspace/acme", {}, "platform"),
        ("/v1/accounts/simulated/acme/follower-changes", {"limit": 0}, "limit"),
        ("/v1/accounts/simulated/acme/follower-changes", {"cursor": "garbage!"}, "cursor"),
        ("/v1/accounts/simulated/acme/follower-changes", {"from": "yesterday"}, "from"),
        (
            "/v1/accounts/simulated/acme/follower-changes",
            {"from": "2026-11-22T00:00:00Z", "to": "2026-11-21T00:00:00Z"},
            "earlier",
        ),
    ],
)
def test_bad_input_is_a_4xx_with_an_actionable_message(
    api: tuple[HttpClient, ApiSettings], path: str, params: dict[str, object], fragment: str
) -> None:
    client, settings = api
    response = client.get(path, params=params, headers=auth(settings))
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert fragment in error["message"]


def test_health_and_readiness_report_each_service(api: tuple[HttpClient, ApiSettings]) -> None:
    client, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": "ok", "clickhouse": "ok", "redis": "ok"}
    metrics = client.get("/metrics").text
    assert "socialpulse_api_requests_total" in metrics
