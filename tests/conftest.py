"""Fixtures: real services once per session, an isolated namespace per test."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.client import make_client
from clickhouse.migrations import runner
from socialpulse.contract import Topics
from socialpulse.kafka import ensure_topics
from socialpulse.settings import REPO_ROOT, CommonSettings, WorkerSettings
from tests.services import ServiceUrls, provide_services

NEEDS_SERVICES = {"kafka", "clickhouse_db", "redis_db"}


@pytest.fixture(scope="session")
def services() -> Iterator[ServiceUrls]:
    with provide_services() as urls:
        yield urls


@dataclass
class Namespace:
    """One test's own topics, consumer group and ClickHouse database on shared services."""

    urls: ServiceUrls
    name: str
    tmp: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **self.urls.env(),
            "SOCIALPULSE_TOPIC_PREFIX": self.name,
            "SOCIALPULSE_CLICKHOUSE_DATABASE": self.name,
            "SOCIALPULSE_CONSUMER_GROUP": f"{self.name}-worker",
            "SOCIALPULSE_VAR_DIR": str(self.tmp),
            "SOCIALPULSE_METRICS_PORT": "0",
            "SOCIALPULSE_SINK_BATCH_SECONDS": "0.2",
        }

    def settings(
        self, cls: type[CommonSettings] = CommonSettings, **extra: object
    ) -> CommonSettings:
        values = {k.removeprefix("SOCIALPULSE_").lower(): v for k, v in self.env.items()}
        return cls(**{**values, **extra})

    @property
    def topics(self) -> Topics:
        return Topics(self.name)

    def start_worker(self, worker_id: str = "w1", **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"worker-{worker_id}.log", "ab")  # noqa: SIM115 - closed with the process
        child = subprocess.Popen(
            [sys.executable, "-m", "socialpulse.cli", "worker"],
            env={**os.environ, **self.env, "SOCIALPULSE_WORKER_ID": worker_id, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        self.children.append(child)
        return child

    def worker_log(self, worker_id: str = "w1") -> str:
        return (self.tmp / f"worker-{worker_id}.log").read_text(errors="replace")

    def worker_logs(self, tail: int = 3000) -> str:
        """The end of every worker's log of this namespace, whatever their ids."""
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}"
            for log in sorted(self.tmp.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _namespace(services: ServiceUrls, tmp: Path, request: pytest.FixtureRequest) -> Namespace:
    # A test that uses the services must say which (snuba's rule): fail loudly otherwise.
    if not NEEDS_SERVICES & {m.name for m in request.node.iter_markers()}:
        pytest.fail(
            f"{request.node.nodeid} uses services without a kafka/clickhouse_db/redis_db mark"
        )
    return Namespace(services, f"t{uuid.uuid4().hex[:12]}", tmp)


@contextmanager
def _migrated(namespace: Namespace) -> Iterator[Client]:
    settings = namespace.settings()
    asyncio.run(ensure_topics(settings))
    client = make_client(settings)
    runner.migrate(client, settings.clickhouse_database)
    try:
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
        client.close()


@pytest.fixture
def ns(
    services: ServiceUrls, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Namespace]:
    namespace = _namespace(services, tmp_path, request)
    yield namespace
    namespace.stop_all()


@pytest.fixture
def ch(ns: Namespace) -> Iterator[Client]:
    """A ClickHouse client on the test's own migrated database (and its topics made)."""
    with _migrated(ns) as client:
        yield client


@pytest.fixture(scope="module")
def module_ns(
    services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Namespace, Client]]:
    """One namespace (migrated) shared by a module's tests, for read-only checks."""
    namespace = _namespace(services, tmp_path_factory.mktemp("module"), request)
    with _migrated(namespace) as client:
        yield namespace, client
    namespace.stop_all()


def worker_settings(ns: Namespace) -> WorkerSettings:
    settings = ns.settings(WorkerSettings)
    assert isinstance(settings, WorkerSettings)
    return settings


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    what: str | Callable[[], str],
    interval_s: float = 0.5,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {described}")
