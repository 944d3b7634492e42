"""Rate limiting, the response cache and the error contract in OpenAPI, on real services.

Two apps serve one namespace's data: ``limited`` with a tiny rate budget (and no cache),
``cached`` with the default budget and long cache TTLs (entries outlive each test, so a
hit is a hit). Each cache test uses its own ``limit`` value, hence its own entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from clickhouse_connect.driver.client import Client
from httpx import Client as HttpClient
from httpx import Response
from pydantic import BaseModel

from api import schemas, schemas_sync
from api.app import create_app
from api.resources import Resources
from api.tokens import mint
from clickhouse import queries_tracking
from socialpulse.contract import Platform, ProfileSnapshot, snapshot_id
from socialpulse.settings import ApiSettings
from tests.conftest import Namespace
from tests.http_server import serve
from tests.integration.test_pipeline import NOW, wait_for_quiescence
from tests.pipeline import produce_raw

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

TRACKED = {  # (workspace, account) -> label
    ("ws-a", "x-a"): "own",
    ("ws-a", "x-shared"): "own",
    ("ws-b", "x-b"): "own",
    ("ws-b", "x-shared"): "competitor",
}
CACHE_TTL_S = 120.0
# One request per 10 s, three at once: slow enough that no slot refills during a burst,
# however loaded the machine.
RATE, BURST = 6, 3


def serve_app(
    ns: Namespace, ch: Client, **settings: Any
) -> Iterator[tuple[HttpClient, ApiSettings]]:
    api_settings = ns.settings(ApiSettings, **settings)
    assert isinstance(api_settings, ApiSettings)
    resources = Resources(ch, redis.Redis.from_url(ns.urls.redis_url))
    with serve(create_app(api_settings, resources)) as base, HttpClient(base_url=base) as client:
        yield client, api_settings


@pytest.fixture(scope="module")
def data(module_ns: tuple[Namespace, Client]) -> tuple[Namespace, Client]:
    ns, ch = module_ns
    snaps = [
        ProfileSnapshot(
            snapshot_id=snapshot_id(account, k),
            platform=Platform.SIMULATED,
            account_id=account,
            handle=account,
            observed_at=NOW + timedelta(hours=k),
            followers=100 + k,
            source="test",
        )  # fmt: skip
        for account in ("x-a", "x-b", "x-shared")
        for k in range(3)
    ]
    feed: list[tuple[bytes | None, bytes]] = [(s.key.encode(), s.to_json_bytes()) for s in snaps]
    asyncio.run(produce_raw(ns.settings(), ns.topics.profile_snapshots, feed))
    for (ws, account), label in TRACKED.items():
        row = queries_tracking.TrackedAccount(ws, "simulated", account, account, label, "test")
        queries_tracking.write(ch, row, None)
    ns.start_worker()
    wait_for_quiescence(ns, ch)
    return ns, ch


@pytest.fixture(scope="module")
def limited(data: tuple[Namespace, Client]) -> Iterator[tuple[HttpClient, ApiSettings]]:
    yield from serve_app(
        *data,
        rate_limit_per_minute=RATE,
        rate_limit_burst=BURST,
        cache_ttl_overview_s=0,
        cache_ttl_accounts_s=0,
        cache_ttl_timeseries_s=0,
    )


@pytest.fixture(scope="module")
def cached(data: tuple[Namespace, Client]) -> Iterator[tuple[HttpClient, ApiSettings]]:
    yield from serve_app(
        *data,
        cache_ttl_overview_s=CACHE_TTL_S,
        cache_ttl_accounts_s=CACHE_TTL_S,
        cache_ttl_timeseries_s=CACHE_TTL_S,
    )


def get(
    api: tuple[HttpClient, ApiSettings],
    path: str,
    ws: str,
    role: str = "analyst",
    sub: str | None = None,
    hours: float = 24.0,
    **params: Any,
) -> Response:
    client, settings = api
    token = mint(settings, sub or f"{role}@{ws}", ws, role, hours=hours)
    return client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


# --- rate limiting -------------------------------------------------------------------------


def test_a_token_over_its_budget_gets_429_with_retry_after(
    limited: tuple[HttpClient, ApiSettings],
) -> None:
    def hit(**kw: Any) -> Response:
        return get(limited, "/v1/accounts", "ws-a", **{"sub": "burst", **kw})

    answers = [hit() for _ in range(BURST)]
    assert [r.status_code for r in answers] == [200] * BURST
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == str(RATE)

    refused = hit()
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60 // RATE
    assert refused.json() == {
        "error": {
            "code": "rate_limited",
            "message": f"too many requests for this token: {RATE} per minute with bursts of"
            f" {BURST}; retry in {retry_after} s",
        }
    }
    # The budget is the identity's (workspace + subject): a fresh token does not reset it.
    assert hit(hours=2.0).status_code == 429

    # Other identities have budgets of their own.
    assert get(limited, "/v1/accounts", "ws-a", sub="someone-else").status_code == 200
    assert get(limited, "/v1/accounts", "ws-b", sub="burst").status_code == 200

    time.sleep(retry_after + 0.05)
    again = hit()
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "0"


def test_a_read_started_ahead_of_its_charge_still_gets_the_429(
    data: tuple[Namespace, Client],
) -> None:
    """Two replicas share a budget. A replica whose last charge left plenty starts a read
    before Redis answers its charge; when another replica has spent the budget meanwhile,
    the answer is still the 429, not the data."""
    burst = 40
    limits = {"rate_limit_per_minute": RATE, "rate_limit_burst": burst, "cache_ttl_accounts_s": 0}
    with contextlib.ExitStack() as replicas:
        one = replicas.enter_context(contextlib.contextmanager(serve_app)(*data, **limits))
        two = replicas.enter_context(contextlib.contextmanager(serve_app)(*data, **limits))
        first = get(one, "/v1/accounts", "ws-a", sub="shared")
        assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == str(burst - 1)
        spent = [get(two, "/v1/accounts", "ws-a", sub="shared").status_code for _ in range(burst)]
        assert spent == [200] * (burst - 1) + [429]
        refused = get(one, "/v1/accounts", "ws-a", sub="shared")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited" and "items" not in refused.json()
        assert 1 <= int(refused.headers["Retry-After"]) <= 60 // RATE
        # The refusal is remembered: the next read waits for its charge (and is refused).
        assert get(one, "/v1/accounts", "ws-a", sub="shared").status_code == 429


def test_the_limit_covers_writes_and_spares_unauthenticated_and_operations(
    limited: tuple[HttpClient, ApiSettings],
) -> None:
    client, settings = limited
    headers = {"Authorization": f"Bearer {mint(settings, 'writer', 'ws-a', 'editor')}"}
    body = {"accounts": [{"platform": "simulated", "account_id": "x-a"}]}
    statuses = [client.post("/v1/sync", json=body, headers=headers).status_code for _ in range(5)]
    assert statuses[:BURST] == [202] * BURST and statuses[BURST:] == [429, 429]
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))
    assert all(client.get("/v1/accounts").status_code == 401 for _ in range(10))


# --- response cache ------------------------------------------------------------------------


def ids_and_labels(response: Response) -> dict[str, str]:
    return {i["account_id"]: i["label"] for i in response.json()["items"]}


def test_cached_lists_never_cross_workspaces(cached: tuple[HttpClient, ApiSettings]) -> None:
    first = get(cached, "/v1/accounts", "ws-a", limit=41)
    second = get(cached, "/v1/accounts", "ws-a", limit=41)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert second.content == first.content
    assert ids_and_labels(first) == {"x-a": "own", "x-shared": "own"}

    # Same query, other workspace: its own entry, its own accounts and labels.
    other = get(cached, "/v1/accounts", "ws-b", limit=41)
    assert other.headers["X-Cache"] == "miss"
    assert ids_and_labels(other) == {"x-b": "own", "x-shared": "competitor"}
    assert get(cached, "/v1/accounts", "ws-b", limit=41).headers["X-Cache"] == "hit"

    # An admin of ws-a sees every account: it must not get the editor's cached page.
    admin = get(cached, "/v1/accounts", "ws-a", role="admin", limit=41)
    assert admin.headers["X-Cache"] == "miss"
    assert set(ids_and_labels(admin)) == {"x-a", "x-b", "x-shared"}
    # Analysts and editors of one workspace see the same accounts: they share entries.
    assert get(cached, "/v1/accounts", "ws-a", role="editor", limit=41).headers["X-Cache"] == "hit"


@pytest.mark.parametrize("tail", ["", "/timeseries"])
def test_cached_account_answers_are_not_served_to_other_workspaces(
    cached: tuple[HttpClient, ApiSettings], tail: str
) -> None:
    path = f"/v1/accounts/simulated/x-a{tail}"
    params: dict[str, Any] = {
        "interval": "1h",
        "from": "2026-11-21T00:00:00Z",
        "to": "2026-11-22T00:00:00Z",
    }
    query = params if tail else {}
    assert get(cached, path, "ws-a", **query).headers["X-Cache"] == "miss"
    hit = get(cached, path, "ws-a", **query)
    assert hit.status_code == 200 and hit.headers["X-Cache"] == "hit"
    refused = get(cached, path, "ws-b", **query)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert "X-Cache" not in refused.headers
    if tail:
        assert [p["last"] for p in hit.json()["points"]] == [100, 101, 102]


def test_a_tracking_change_shows_at_once(cached: tuple[HttpClient, ApiSettings]) -> None:
    client, settings = cached
    editor = {"Authorization": f"Bearer {mint(settings, 'ed', 'ws-a', 'editor')}"}
    get(cached, "/v1/accounts", "ws-a", limit=42)
    get(cached, "/v1/accounts", "ws-b", limit=42)
    assert get(cached, "/v1/accounts/simulated/x-shared", "ws-a").status_code == 200
    assert get(cached, "/v1/accounts", "ws-a", limit=42).headers["X-Cache"] == "hit"

    assert client.delete("/v1/accounts/simulated/x-shared", headers=editor).status_code == 204
    try:
        after = get(cached, "/v1/accounts", "ws-a", limit=42)
        assert after.headers["X-Cache"] == "miss" and set(ids_and_labels(after)) == {"x-a"}
        assert get(cached, "/v1/accounts/simulated/x-shared", "ws-a").status_code == 404
        # Another workspace's entries are untouched by ws-a's change.
        assert get(cached, "/v1/accounts", "ws-b", limit=42).headers["X-Cache"] == "hit"
    finally:
        body = {"platform": "simulated", "account_id": "x-shared"}
        assert client.post("/v1/accounts", json=body, headers=editor).status_code == 201
    assert set(ids_and_labels(get(cached, "/v1/accounts", "ws-a", limit=42))) == {
        "x-a",
        "x-shared",
    }


def test_cache_entries_expire_after_their_ttl(
    data: tuple[Namespace, Client], cached: tuple[HttpClient, ApiSettings]
) -> None:
    ns, _ = data
    get(cached, "/v1/accounts", "ws-a", limit=43)
    r = redis.Redis.from_url(ns.urls.redis_url)
    try:
        keys = list(r.scan_iter(f"{ns.name}:api:cache:accounts:*"))
        ttls = [r.pttl(k) for k in keys]
    finally:
        r.close()
    assert keys and all(0 < ttl <= CACHE_TTL_S * 1000 for ttl in ttls)


# --- OpenAPI: the error body as sent -------------------------------------------------------


def test_openapi_documents_the_error_body_actually_sent(
    cached: tuple[HttpClient, ApiSettings],
) -> None:
    client, _ = cached
    doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    assert "HTTPValidationError" not in components and "ValidationError" not in components
    assert set(components["ErrorBody"]["properties"]) == {"error"}
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    operations = [
        (path, method, op)
        for path, ops in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    ]
    assert {("/v1/sync", "post"), ("/v1/sync/runs/{run_id}", "delete")} <= {
        (p, m) for p, m, _ in operations
    }
    for path, method, op in operations:
        expected = {"401", "422", "429"}
        expected |= {"403"} if method in ("post", "delete") else set()
        expected |= {"404"} if "{" in path else set()
        assert expected <= set(op["responses"]), (path, method)
        for status in expected:
            content = op["responses"][status]["content"]["application/json"]
            assert content["schema"] == ref, (path, method, status)
            assert set(content["example"]["error"]) == {"code", "message"}
        assert "Retry-After" in op["responses"]["429"]["headers"]

    # What the API really sends for a 422 has exactly that shape.
    sent = get(cached, "/v1/accounts", "ws-a", limit=0).json()
    assert set(sent) == {"error"} and set(sent["error"]) == {"code", "message"}


@pytest.mark.parametrize(
    "model",
    [
        schemas.Overview, schemas.AccountPage, schemas.Timeseries, schemas.FollowerChangePage,
        schemas.PostPage, schemas.BestTimes, schemas.Leaderboard, schemas.TrackedAccount,
        schemas_sync.SyncAccepted, schemas_sync.SyncRun, schemas_sync.SyncStatusPage,
        schemas_sync.SyncTrigger,
    ],
)  # fmt: skip
def test_every_documented_example_is_a_valid_body(
    cached: tuple[HttpClient, ApiSettings], model: type[BaseModel]
) -> None:
    client, _ = cached
    documented = client.get("/openapi.json").json()["components"]["schemas"][model.__name__]
    [example] = documented["examples"]
    model.model_validate(example)
