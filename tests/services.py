"""Real Kafka, ClickHouse and Redis for the test session (DESIGN.md's order).

1. A URL set in the environment (``SOCIALPULSE_KAFKA_BOOTSTRAP``,
   ``SOCIALPULSE_CLICKHOUSE_URL``, ``SOCIALPULSE_REDIS_URL``) is used as is.
2. Otherwise, when a Docker engine answers, testcontainers starts one.
3. Otherwise the project's own local processes run on test ports under
   ``var/test`` (``socialpulse services up`` with other ports).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from socialpulse.services import manager
from socialpulse.settings import REPO_ROOT, ServicesSettings

LOCAL_TEST_URLS = {
    "kafka_bootstrap": "127.0.0.1:19092",
    "clickhouse_url": "http://127.0.0.1:18123",
    "redis_url": "redis://127.0.0.1:16379/0",
}
ENV_NAMES = {
    "kafka_bootstrap": "SOCIALPULSE_KAFKA_BOOTSTRAP",
    "clickhouse_url": "SOCIALPULSE_CLICKHOUSE_URL",
    "redis_url": "SOCIALPULSE_REDIS_URL",
}


@dataclass(frozen=True)
class ServiceUrls:
    kafka_bootstrap: str
    clickhouse_url: str
    redis_url: str
    # The URL settings whose service this session runs as a local process
    # (so a test may stop and restart it); the others are external.
    local: frozenset[str] = frozenset()

    def env(self) -> dict[str, str]:
        return {ENV_NAMES[k]: getattr(self, k) for k in ENV_NAMES}


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # no engine, no socket, no permission: use local processes
        return False


@contextmanager
def _containers(names: list[str]) -> Iterator[dict[str, str]]:
    from testcontainers.clickhouse import ClickHouseContainer
    from testcontainers.kafka import KafkaContainer
    from testcontainers.redis import RedisContainer

    urls: dict[str, str] = {}
    with ExitStack() as stack:
        if "kafka_bootstrap" in names:
            kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
            urls["kafka_bootstrap"] = kafka.get_bootstrap_server()
        if "clickhouse_url" in names:
            ch = stack.enter_context(ClickHouseContainer("clickhouse/clickhouse-server:25.8"))
            port = ch.get_exposed_port(8123)
            urls["clickhouse_url"] = (
                f"http://{ch.username}:{ch.password}@{ch.get_container_host_ip()}:{port}"
            )
        if "redis_url" in names:
            redis = stack.enter_context(RedisContainer("redis:7"))
            urls["redis_url"] = (
                f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
            )
        yield urls


def local_test_settings(urls: list[str] | None = None) -> ServicesSettings:
    """Settings of the local test services (var/test, test ports), as not user-set."""
    base = ServicesSettings(var_dir=REPO_ROOT / "var" / "test", kafka_controller_port=19093)
    names = list(ENV_NAMES) if urls is None else urls
    return manager.with_local_urls(base, **{k: LOCAL_TEST_URLS[k] for k in names})


@contextmanager
def provide_services() -> Iterator[ServiceUrls]:
    explicit = {k: os.environ[v] for k, v in ENV_NAMES.items() if os.environ.get(v)}
    missing = [k for k in ENV_NAMES if k not in explicit]
    if missing and _docker_answers() and os.environ.get("SOCIALPULSE_TEST_CONTAINERS", "1") == "1":
        with _containers(missing) as started:
            urls = {**explicit, **started}
            yield ServiceUrls(urls["kafka_bootstrap"], urls["clickhouse_url"], urls["redis_url"])
        return
    local = local_test_settings(missing)
    names = [service.name for service in manager.SERVICES if service.setting in missing]
    manager.up(local, names)
    try:
        yield ServiceUrls(**{**LOCAL_TEST_URLS, **explicit}, local=frozenset(missing))
    finally:
        if os.environ.get("SOCIALPULSE_TEST_KEEP_SERVICES") != "1":
            manager.down(local, names)
