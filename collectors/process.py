"""The collector process's composition root: make the clients, run the collector."""

from __future__ import annotations

import asyncio
import signal

from prometheus_client import start_http_server

from collectors.emitter import SnapshotEmitter
from collectors.main import run_collector
from socialpulse.contract import Topics
from socialpulse.kafka import make_producer
from socialpulse.settings import CollectorSettings


async def run_collector_process(settings: CollectorSettings, *, once: bool = False) -> int:
    if settings.metrics_port and not once:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    producer = make_producer(settings)
    await producer.start()
    try:
        emitter = SnapshotEmitter(producer, Topics(settings.topic_prefix))
        await run_collector(settings, emitter, once=once, stop=stop)
    finally:
        await producer.stop()
    return 0
