"""Issue 3 end to end: a fake Apify upstream -> `socialpulse collect --once` -> Kafka ->
the worker -> ClickHouse -> the read API, all real processes and services."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
import redis
from clickhouse_connect.driver.client import Client

from api.app import create_app
from api.resources import Resources
from api.tokens import mint
from clickhouse.accounts import track
from socialpulse.settings import REPO_ROOT, ApiSettings
from tests.conftest import Namespace
from tests.fakes.apify import TOKEN, ApifyWorld, make_apify
from tests.http_server import serve
from tests.integration.test_pipeline import wait_for_quiescence

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db, pytest.mark.slow]


def test_fake_apify_to_collector_to_worker_to_api(ns: Namespace, ch: Client) -> None:
    accounts = ns.tmp / "accounts.toml"
    accounts.write_text(
        "".join(
            f'[[accounts]]\nplatform = "instagram"\nhandle = "user{n}"\nworkspace = "ws"\n\n'
            for n in (1, 2, 3)
        )
        + '[[accounts]]\nplatform = "instagram"\nhandle = "ghost_account"\nworkspace = "ws"\n'
    )
    fake = make_apify(ApifyWorld())
    with fake.running() as base:
        env = {
            **os.environ,
            **ns.env,
            "SOCIALPULSE_APIFY_TOKEN": TOKEN,
            "SOCIALPULSE_UPSTREAM_BASE_URLS": json.dumps({"apify": base}),
            "SOCIALPULSE_ACCOUNTS_FILE": str(accounts),
            "SOCIALPULSE_REGISTRY_FROM_CLICKHOUSE": "false",
            "SOCIALPULSE_BATCH_LINGER_S": "0",
            "SOCIALPULSE_RATE_LIMITS": json.dumps({"apify": 100.0}),
        }
        done = subprocess.run(
            [sys.executable, "-m", "socialpulse.cli", "collect", "--once"],
            env=env, cwd=REPO_ROOT, capture_output=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        # Four accounts, one batch: one actor run.
        assert len(fake.calls("*/run-sync-get-dataset-items")) == 1

    ids = [str(9_000_000 + n) for n in (1, 2, 3)]
    track(ch, "ws", "instagram", ids, added_by="test")
    ns.start_worker()
    wait_for_quiescence(ns, ch, topics=[ns.topics.profile_snapshots, ns.topics.post_snapshots])

    settings = ns.settings(ApiSettings)
    assert isinstance(settings, ApiSettings)
    resources = Resources(ch, redis.Redis.from_url(ns.urls.redis_url))
    headers = {"Authorization": f"Bearer {mint(settings, 't', 'ws', 'analyst')}"}
    with serve(create_app(settings, resources)) as api:
        for n, account_id in zip((1, 2, 3), ids, strict=True):
            body = httpx.get(f"{api}/v1/accounts/instagram/{account_id}", headers=headers).json()
            assert body["followers"] == 1000 + n  # the fake's followersCount
            assert body["handle"] == f"user{n}"
        # The handle is never the id: looking the account up by handle finds nothing.
        by_handle = httpx.get(f"{api}/v1/accounts/instagram/user1", headers=headers)
        assert by_handle.status_code == 404
    stored = ch.query(
        "SELECT count(), uniqExact(sync_run_id) FROM profile_snapshots FINAL"
        " WHERE platform = 'instagram'"
    ).result_rows[0]
    assert stored[0] == 3 and stored[1] >= 1  # the not-found account produced no snapshot
