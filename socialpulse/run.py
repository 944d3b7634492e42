"""``socialpulse run``: everything on one machine, with the simulator as the source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from api.tokens import mint
from clickhouse.accounts import track
from clickhouse.client import make_client
from collectors.simulator import Simulator
from socialpulse import settings as cfg
from socialpulse.cli import main as cli_main
from socialpulse.services import manager

# In the demo the simulator observes every 10 s, so changes show up in minutes.
DEMO_INTERVAL_S = 10
DEMO_ENV = {"SOCIALPULSE_PROFILE_INTERVAL_S": str(DEMO_INTERVAL_S)}


def run_all() -> int:
    services = cfg.ServicesSettings()
    print(manager.format_table(manager.up(services)), flush=True)
    if cli_main(["migrate"]) != 0:
        return 1
    collector = cfg.CollectorSettings(profile_interval_s=float(DEMO_INTERVAL_S))
    simulated = Simulator(collector.simulator_accounts, collector.simulator_seed, 1)
    ids = [a.account_id for a in simulated.accounts]
    track(make_client(collector), "demo", "simulated", ids, added_by="run")

    env = {**os.environ, **DEMO_ENV}
    children = [
        _spawn("collect", env),
        _spawn("worker", env),
        _spawn("api", env),
    ]
    api = cfg.ApiSettings()
    base = f"http://{api.api_host}:{api.api_port}"
    try:
        _wait_for(f"{base}/healthz", children)
        _print_where_to_look(api, base, ids[0])
        while all(c.poll() is None for c in children):
            time.sleep(1)
        print("a child process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        print("stopped collect, worker and api; `socialpulse services down` stops the services")


def _spawn(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "socialpulse.cli", command], env=env)


def _wait_for(url: str, children: list[subprocess.Popen[bytes]], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            raise SystemExit("a process exited during start-up; see its log above")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f}s")


def _print_where_to_look(api: cfg.ApiSettings, base: str, account_id: str) -> None:
    token = mint(api, "demo-user", "demo", "editor")
    print(
        f"""
socialpulse is running (Ctrl-C stops collect, worker and api).

  dashboard     {base}/dashboard/#token={token}
                (signs in with the demo token; or open {base}/dashboard and paste it)
  read API      {base}   (OpenAPI docs: {base}/docs)
  readiness     {base}/readyz
  metrics       {base}/metrics, worker :9101/metrics, collector :9102/metrics
  demo token    export TOKEN={token}

  curl -s -H "Authorization: Bearer $TOKEN" {base}/v1/accounts/simulated/{account_id}
  curl -s -H "Authorization: Bearer $TOKEN" \\
       "{base}/v1/accounts/simulated/{account_id}/follower-changes?limit=5"
""",
        flush=True,
    )
