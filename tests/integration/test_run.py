"""`socialpulse run` on the simulator: follower changes reach the API within minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from api.tokens import mint
from collectors.simulator import SimAccount
from socialpulse.settings import REPO_ROOT, ApiSettings
from tests.conftest import Namespace, wait_until
from tests.http_server import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db, pytest.mark.slow]


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_serves_follower_changes_of_simulated_accounts(
    ns: Namespace, ch: Client, stop: signal.Signals
) -> None:
    """Then stops its three processes on Ctrl-C (even when started with SIGINT ignored, as a
    shell without job control starts background jobs) and on a supervisor's SIGTERM."""
    port = free_port()
    env = {
        **os.environ,
        **ns.env,
        "SOCIALPULSE_API_PORT": str(port),
        "SOCIALPULSE_SIMULATOR_ACCOUNTS": "3",
        "SOCIALPULSE_SIMULATOR_BACKFILL_HOURS": "3",
    }
    log = open(ns.tmp / "run.log", "wb")  # noqa: SIM115 - closed below
    run = subprocess.Popen(
        [sys.executable, "-m", "socialpulse.cli", "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        preexec_fn=ignore_sigint,
    )
    ns.children.append(run)
    account = SimAccount(42, 0).account_id
    token = mint(ApiSettings(), "t", "demo", "analyst")
    url = f"http://127.0.0.1:{port}/v1/accounts/simulated/{account}/follower-changes"
    items: list[dict[str, object]] = []

    def has_changes() -> bool:
        assert run.poll() is None, (ns.tmp / "run.log").read_text()[-3000:]
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        items[:] = response.json()["items"]
        return bool(items)

    try:
        wait_until(has_changes, 180, lambda: (ns.tmp / "run.log").read_text()[-3000:], interval_s=2)
        output = (ns.tmp / "run.log").read_text()
        assert f"http://127.0.0.1:{port}" in output and "export TOKEN=" in output
        first = items[0]
        assert first["delta"] == first["followers"] - first["previous_followers"]  # type: ignore[operator]
    finally:
        run.send_signal(stop)
        code = run.wait(timeout=60)
        log.close()
    output = (ns.tmp / "run.log").read_text()
    assert code == 0 and "stopped collect, worker and api" in output
    assert "did not stop" not in output  # each child stopped on its own SIGTERM
    with pytest.raises(httpx.ConnectError):  # the API child is gone with it
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
