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
    api = cfg.ApiSettings()
    base = f"http://{api.api_host}:{api.api_port}"
    children: dict[str, subprocess.Popen[bytes]] = {}
    # Ctrl-C and a supervisor's SIGTERM (docker stop, systemd, kill) both stop the children
    # first. Set here, not inherited: a shell without job control starts background jobs
    # with SIGINT ignored, and Python then never raises KeyboardInterrupt (a CI run that
    # was started that way timed out in tests/integration/test_run.py); SIGTERM's default
    # ended this process and left the three children running.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for command in ("collect", "worker", "api"):
            children[command] = _spawn(command, env)
        _wait_for(f"{base}/healthz", list(children.values()))
        _print_where_to_look(api, base, ids[0])
        while all(c.poll() is None for c in children.values()):
            time.sleep(1)
        print("a child process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for each in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C does not cut this short
            signal.signal(each, signal.SIG_IGN)
        _stop(children)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop(children: dict[str, subprocess.Popen[bytes]], grace_s: float = 25) -> None:
    """SIGTERM to every child, then SIGKILL to those still running after ``grace_s`` in all."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within {grace_s:.0f}s: killed", file=sys.stderr)
            child.kill()
            child.wait()
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
