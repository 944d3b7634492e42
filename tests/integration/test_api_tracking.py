"""POST/DELETE /v1/accounts on real services: roles, workspaces, idempotence and the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from clickhouse_connect.driver.client import Client
from httpx import Client as HttpClient
from httpx import Response

from api.app import create_app
from api.resources import Resources
from api.tokens import mint
from clickhouse import audit
from socialpulse.contract import Platform, ProfileSnapshot, snapshot_id
from socialpulse.settings import ApiSettings
from tests.conftest import Namespace
from tests.http_server import serve
from tests.integration.test_pipeline import NOW, wait_for_quiescence
from tests.pipeline import produce_raw

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

Api = tuple[HttpClient, ApiSettings, Client]
OBSERVED = {"alpha": "AlphaHandle", "beta": "BetaHandle"}  # simulated accounts with data


@pytest.fixture(scope="module")
def api(module_ns: tuple[Namespace, Client]) -> Iterator[Api]:
    ns, ch = module_ns
    snaps = [
        ProfileSnapshot(
            snapshot_id=snapshot_id(account, k),
            platform=Platform.SIMULATED,
            account_id=account,
            handle=handle,
            observed_at=NOW.replace(minute=k),
            followers=100 + k,
            source="test",
        )  # fmt: skip
        for account, handle in OBSERVED.items()
        for k in range(4)
    ]
    feed = [(s.key.encode(), s.to_json_bytes()) for s in snaps]
    asyncio.run(produce_raw(ns.settings(), ns.topics.profile_snapshots, feed))
    ns.start_worker()
    wait_for_quiescence(ns, ch)
    settings = ns.settings(ApiSettings)
    assert isinstance(settings, ApiSettings)
    resources = Resources(ch, redis.Redis.from_url(ns.urls.redis_url))
    with serve(create_app(settings, resources)) as base, HttpClient(base_url=base) as client:
        yield client, settings, ch


def call(
    api: Api, method: str, path: str, ws: str, role: str, json: Any = None, sub: str = "someone"
) -> Response:
    client, settings, _ = api
    headers = {"Authorization": f"Bearer {mint(settings, sub, ws, role)}"}
    return client.request(method, path, headers=headers, json=json)


def track(api: Api, ws: str, account: str, role: str = "editor", **extra: Any) -> Response:
    body = {"platform": "simulated", "account_id": account, **extra}
    return call(api, "POST", "/v1/accounts", ws, role, body, sub=f"{role}@{ws}")


def untrack(api: Api, ws: str, account: str, role: str = "editor") -> Response:
    return call(api, "DELETE", f"/v1/accounts/simulated/{account}", ws, role, sub=f"{role}@{ws}")


def listed(api: Api, ws: str) -> dict[str, str]:
    body = call(api, "GET", "/v1/accounts", ws, "analyst").json()
    return {i["account_id"]: i["label"] for i in body["items"]}


def overview_status(api: Api, ws: str, account: str) -> int:
    return call(api, "GET", f"/v1/accounts/simulated/{account}", ws, "analyst").status_code


def test_analyst_cannot_write(api: Api) -> None:
    for response in (
        track(api, "ws-r", "alpha", "analyst"),
        untrack(api, "ws-r", "alpha", "analyst"),
    ):
        assert response.status_code == 403
        assert response.json() == {
            "error": {"code": "forbidden", "message": "the analyst role can read but not write"}
        }
    assert listed(api, "ws-r") == {}
    assert audit.recent(api[2], "ws-r") == []


def test_editor_tracks_and_untracks_within_its_workspace(api: Api) -> None:
    assert overview_status(api, "ws-e", "alpha") == 404
    created = track(api, "ws-e", "alpha")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["workspace"] == "ws-e" and body["label"] == "own"
    assert body["handle"] == "AlphaHandle"  # taken from the account's observations
    assert body["added_by"] == "editor@ws-e" and body["changed_at"].endswith("Z")
    assert overview_status(api, "ws-e", "alpha") == 200
    assert listed(api, "ws-e") == {"alpha": "own"}
    assert overview_status(api, "ws-other", "alpha") == 404  # nobody else gained access

    deleted = untrack(api, "ws-e", "alpha")
    assert deleted.status_code == 204 and deleted.content == b""
    assert overview_status(api, "ws-e", "alpha") == 404
    assert listed(api, "ws-e") == {}


def test_writes_are_idempotent_and_reversible_at_once(api: Api) -> None:
    _, _, ch = api
    assert track(api, "ws-i", "beta").status_code == 201
    rows = ch.query("SELECT count() FROM accounts WHERE workspace = 'ws-i'").result_rows[0][0]
    again = track(api, "ws-i", "beta")
    assert again.status_code == 200 and again.json()["label"] == "own"
    assert (
        ch.query("SELECT count() FROM accounts WHERE workspace = 'ws-i'").result_rows[0][0] == rows
    )
    relabelled = track(api, "ws-i", "beta", label="competitor", handle="Beta Inc")
    assert relabelled.status_code == 200
    assert (relabelled.json()["label"], relabelled.json()["handle"]) == ("competitor", "Beta Inc")
    assert listed(api, "ws-i") == {"beta": "competitor"}
    for _ in range(3):  # stop/start in quick succession: each write orders after the last
        assert untrack(api, "ws-i", "beta").status_code == 204
        assert untrack(api, "ws-i", "beta").status_code == 204
        assert listed(api, "ws-i") == {}
        assert track(api, "ws-i", "beta").status_code == 201
        assert listed(api, "ws-i") == {"beta": "own"}


def test_no_workspace_writes_into_another(api: Api) -> None:
    assert track(api, "ws-x", "alpha", label="competitor").status_code == 201
    assert untrack(api, "ws-y", "alpha").status_code == 204  # not tracked in ws-y: nothing to do
    assert track(api, "ws-y", "alpha").status_code == 201  # its own, separate tracking
    assert listed(api, "ws-x") == {"alpha": "competitor"}
    assert listed(api, "ws-y") == {"alpha": "own"}
    assert untrack(api, "ws-y", "alpha").status_code == 204
    assert (
        listed(api, "ws-x") == {"alpha": "competitor"}
        and overview_status(api, "ws-x", "alpha") == 200
    )


def test_admin_writes_into_its_own_workspace(api: Api) -> None:
    response = track(api, "ws-admin", "not-observed-yet", role="admin")
    assert response.status_code == 201
    assert response.json()["handle"] == "not-observed-yet"  # no observation: the id stands in
    assert listed(api, "ws-admin").get("not-observed-yet") == "own"
    assert "not-observed-yet" not in listed(api, "ws-z")


def test_every_write_is_audited(api: Api) -> None:
    track(api, "ws-audit", "alpha", label="competitor")
    track(api, "ws-audit", "alpha", label="competitor")
    untrack(api, "ws-audit", "alpha")
    untrack(api, "ws-audit", "alpha")
    rows = list(reversed(audit.recent(api[2], "ws-audit")))
    assert [(r.entry.action, r.entry.detail["changed"]) for r in rows] == [
        ("track", True), ("track", False), ("untrack", True), ("untrack", False),
    ]  # fmt: skip
    for r in rows:
        assert (r.entry.subject, r.entry.workspace, r.entry.role) == (
            "editor@ws-audit",
            "ws-audit",
            "editor",
        )
        assert r.entry.target == "simulated:alpha"
    assert rows[0].entry.detail == {"changed": True, "handle": "AlphaHandle", "label": "competitor"}
    assert [r.at for r in rows] == sorted(r.at for r in rows)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"platform": "myspace", "account_id": "a"}, "platform"),
        ({"platform": "simulated"}, "account_id"),
        ({"platform": "simulated", "account_id": ""}, "account_id"),
        ({"platform": "simulated", "account_id": "  padded "}, "surrounding spaces"),
        ({"platform": "simulated", "account_id": "a/b"}, "no '/'"),
        ({"platform": "simulated", "account_id": "a\u0000b"}, "control characters"),
        ({"platform": "simulated", "account_id": "a", "handle": " h"}, "handle"),
        ({"platform": "simulated", "account_id": "a", "label": "friend"}, "label"),
        ({"platform": "simulated", "account_id": "a", "colour": "red"}, "colour"),
        ("not an object", "object"),
        (None, "required"),  # no body at all
    ],
)
def test_bad_bodies_are_a_422_with_an_actionable_message(
    api: Api, body: Any, fragment: str
) -> None:
    response = call(api, "POST", "/v1/accounts", "ws-bad", "editor", body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["error"]["message"]
    assert listed(api, "ws-bad") == {}


def test_bad_paths_on_delete(api: Api) -> None:
    response = call(api, "DELETE", "/v1/accounts/myspace/a", "ws-bad", "editor")
    assert response.status_code == 422 and "platform" in response.json()["error"]["message"]
    response = call(api, "DELETE", "/v1/accounts/simulated", "ws-bad", "editor")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
