"""`socialpulse services up|down|status` against real processes on loopback.

Runs its own Kafka and Redis (and ClickHouse, once ``clickhouse/server.py``
exists) on ports of its own, in a temporary ``var_dir``, and stops them again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from socialpulse.services import manager
from socialpulse.services.clickhouse import SERVER_MODULE
from socialpulse.services.process import is_alive, port_open
from socialpulse.settings import ServicesSettings

KAFKA = "127.0.0.1:29092"
KAFKA_CONTROLLER_PORT = 29093
REDIS = "redis://127.0.0.1:26379/0"
CLICKHOUSE = "http://127.0.0.1:28123"
PARTITIONS = 3  # not the default, so the broker's num.partitions is seen to follow settings

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.redis_db]


@pytest.fixture(scope="module")
def var_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sp-services-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def settings(var_dir: Path) -> Iterator[ServicesSettings]:
    base = ServicesSettings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=var_dir,
        kafka_controller_port=KAFKA_CONTROLLER_PORT,
        topic_partitions=PARTITIONS,
        startup_timeout_s=120.0,
    )
    local = manager.with_local_urls(
        base, kafka_bootstrap=KAFKA, redis_url=REDIS, clickhouse_url=CLICKHOUSE
    )
    assert not local.is_external("kafka_bootstrap")
    assert not local.is_external("redis_url")
    yield local
    manager.down(local)  # whatever a failed test left running


@pytest.fixture(scope="module")
def running(settings: ServicesSettings) -> list[manager.ServiceStatus]:
    return manager.up(settings, ["kafka", "redis"])


def by_name(statuses: list[manager.ServiceStatus]) -> dict[str, manager.ServiceStatus]:
    return {s.name: s for s in statuses}


def test_up_reports_running_with_pids(running: list[manager.ServiceStatus]) -> None:
    assert [s.name for s in running] == ["kafka", "redis"]
    for s in running:
        assert s.state == "running", s
        assert s.pid is not None and is_alive(s.pid)
    table = manager.format_table(running)
    assert "kafka" in table and "running" in table and KAFKA in table


def test_redis_round_trip(running: list[manager.ServiceStatus]) -> None:
    client = redis.Redis.from_url(REDIS)
    try:
        assert client.set("sp-services:key", "value")
        assert client.get("sp-services:key") == b"value"
    finally:
        client.close()


async def test_kafka_round_trip(running: list[manager.ServiceStatus]) -> None:
    topic = f"sp-services-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"simulated:1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KAFKA, group_id="sp-services-test", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        partitions = consumer.partitions_for_topic(topic)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"simulated:1", b"hello")
    assert partitions is not None and len(partitions) == PARTITIONS


def test_status_and_idempotent_up(
    settings: ServicesSettings, running: list[manager.ServiceStatus]
) -> None:
    pids = {s.name: s.pid for s in running}
    current = by_name(manager.status(settings))
    assert current["kafka"].state == current["redis"].state == "running"
    assert {name: current[name].pid for name in pids} == pids
    assert "metadata OK" in current["kafka"].detail
    assert current["clickhouse"].state == "stopped"
    again = manager.up(settings, ["kafka", "redis"])
    assert {s.name: (s.state, s.pid) for s in again} == {
        name: ("running", pid) for name, pid in pids.items()
    }


async def test_status_from_inside_an_event_loop(
    settings: ServicesSettings, running: list[manager.ServiceStatus]
) -> None:
    current = by_name(manager.status(settings, ["kafka"]))
    assert current["kafka"].state == "running"
    assert "metadata OK" in current["kafka"].detail


def test_explicit_url_is_external_and_left_alone(
    settings: ServicesSettings,
    running: list[manager.ServiceStatus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCIALPULSE_REDIS_URL", REDIS)
    explicit = ServicesSettings(_env_file=None, var_dir=settings.var_dir)  # type: ignore[call-arg]
    assert explicit.is_external("redis_url")
    [seen] = manager.status(explicit, ["redis"])
    assert (seen.state, seen.pid) == ("external", None)
    assert "answers" in seen.detail and "PONG" in seen.detail
    [after_down] = manager.down(explicit, ["redis"])
    assert after_down.state == "external"
    [after_up] = manager.up(explicit, ["redis"])
    assert after_up.state == "external"
    redis_pid = by_name(running)["redis"].pid
    assert redis_pid is not None and is_alive(redis_pid)
    [still] = manager.status(settings, ["redis"])
    assert (still.state, still.pid) == ("running", redis_pid)


def test_redis_data_survives_a_restart(
    settings: ServicesSettings, running: list[manager.ServiceStatus]
) -> None:
    client = redis.Redis.from_url(REDIS)
    try:
        client.set("sp-services:lease", "worker-1")
        manager.down(settings, ["redis"])
        assert not port_open("127.0.0.1", 26379)
        [restarted] = manager.up(settings, ["redis"])
        assert restarted.state == "running"
        assert client.get("sp-services:lease") == b"worker-1"
    finally:
        client.close()


def test_port_taken_by_someone_else_fails_clearly(settings: ServicesSettings) -> None:
    other = manager.with_local_urls(
        settings.model_copy(update={"var_dir": settings.var_dir / "other"}), redis_url=REDIS
    )
    with pytest.raises(manager.ServicesError) as caught:
        manager.up(other, ["redis"])
    [failed] = caught.value.statuses
    assert failed.state == "starting-failed"
    assert "127.0.0.1:26379 is already in use" in str(caught.value)


def test_down_stops_everything(
    settings: ServicesSettings, running: list[manager.ServiceStatus]
) -> None:
    pids = [s.pid for s in manager.status(settings) if s.pid is not None]
    assert len(pids) == 2
    stopped = manager.down(settings)
    assert {s.name: s.state for s in stopped} == dict.fromkeys(manager.SERVICE_NAMES, "stopped")
    assert all(not is_alive(pid) for pid in pids)
    after = manager.status(settings)
    assert {s.name: (s.state, s.pid) for s in after} == dict.fromkeys(
        manager.SERVICE_NAMES, ("stopped", None)
    )
    assert not port_open("127.0.0.1", 29092)
    assert not port_open("127.0.0.1", KAFKA_CONTROLLER_PORT)
    assert not port_open("127.0.0.1", 26379)
    assert not os.path.exists(settings.var_dir / "kafka" / "kafka.pid")
    assert (settings.var_dir / "kafka" / "data" / ".kafka_cleanshutdown").exists()


@pytest.mark.clickhouse_db
def test_clickhouse_up_and_down(settings: ServicesSettings) -> None:
    if not SERVER_MODULE.exists():
        pytest.skip(f"{SERVER_MODULE} is not written yet")
    [started] = manager.up(settings, ["clickhouse"])
    try:
        assert started.state == "running" and started.pid is not None
        assert httpx.get(f"{CLICKHOUSE}/ping", timeout=5).text.strip() == "Ok."
    finally:
        [stopped] = manager.down(settings, ["clickhouse"])
    assert stopped.state == "stopped"
    assert not is_alive(started.pid)
