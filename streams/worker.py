"""The worker process's composition root: make the clients, build the app, run it."""

from __future__ import annotations

import faust
from prometheus_client import start_http_server

from clickhouse.client import make_client
from socialpulse.settings import WorkerSettings
from streams.app import create_app
from streams.sink import ClickHouseSink


def run_worker(settings: WorkerSettings) -> None:
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    (settings.var_dir / "worker" / settings.worker_id).mkdir(parents=True, exist_ok=True)
    client = make_client(settings)
    app = create_app(settings, ClickHouseSink(client))
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
