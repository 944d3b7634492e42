"""The collector process's composition root: make every client once, run the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import httpx
from aiokafka import AIOKafkaConsumer
from prometheus_client import start_http_server
from redis.asyncio import Redis

from clickhouse.client import make_client
from collectors.clock import SystemClock
from collectors.emitter import SnapshotEmitter
from collectors.wiring import build_collector
from socialpulse.contract import Topics
from socialpulse.kafka import make_producer
from socialpulse.settings import CollectorSettings

log = logging.getLogger(__name__)
USER_AGENT = "socialpulse-collector/0.1"


async def run_collector_process(settings: CollectorSettings, *, once: bool = False) -> int:
    if settings.metrics_port and not once:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "collector %s: simulator mode %s, upstream tokens: %s",
        settings.replica_id, settings.simulator_mode, settings.upstream_tokens() or "none",
    )  # fmt: skip
    return await _run(settings, stop, once=once)


def _http_client(settings: CollectorSettings) -> httpx.AsyncClient:
    """The one HTTP client of the process, shared by every source and the webhook."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        timeout=settings.http_timeout_s,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


async def _run(settings: CollectorSettings, stop: asyncio.Event, *, once: bool) -> int:
    topics = Topics(settings.topic_prefix)
    redis = Redis.from_url(settings.redis_url, socket_timeout=10)
    http = _http_client(settings)
    producer = make_producer(settings)
    consumer = AIOKafkaConsumer(
        topics.sync_requests,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.topic_prefix}-collectors",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await producer.start()
    try:
        emitter = SnapshotEmitter(producer, topics, max_buffered=settings.emit_max_buffered)
        collector = build_collector(
            settings, clock=SystemClock(), redis=redis, http=http, emitter=emitter,
            clickhouse=lambda: make_client(settings),
        )  # fmt: skip
        await consumer.start()
        intake_task = asyncio.create_task(collector.intake.run(consumer, stop))
        try:
            await collector.service.run(stop, once=once)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(intake_task, timeout=5)
            if collector.webhooks:
                await collector.webhooks.drain()
    finally:
        await consumer.stop()
        await producer.stop()
        await http.aclose()
        await redis.aclose()
    return 0
