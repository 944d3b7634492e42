"""The FastAPI application factory; the process's composition root is :func:`create_app`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import (
    routes_account_list,
    routes_accounts,
    routes_dashboard,
    routes_leaderboard,
    routes_posts,
    routes_sync,
    routes_timeseries,
    routes_tracking,
)
from api.errors import RateLimited, error_response, install_error_handlers
from api.openapi import install_openapi
from api.resources import Resources
from api.schemas import Health, Readiness
from api.services import Services
from socialpulse.kafka import kafka_ready
from socialpulse.settings import ApiSettings

REQUESTS = Counter("socialpulse_api_requests_total", "API requests", ["method", "route", "status"])
LATENCY = Histogram("socialpulse_api_request_seconds", "API latency", ["method", "route"])


def create_app(settings: ApiSettings, resources: Resources | None = None) -> FastAPI:
    """Build the app; ``resources`` are made in the lifespan unless handed in."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = resources is None
        given = (
            resources
            if resources is not None
            else await asyncio.to_thread(Resources.connect, settings)
        )
        app.state.resources, close_async = await given.with_async_clients(settings)
        app.state.services = Services.build(settings, app.state.resources)
        try:
            yield
        finally:
            app.state.services.offload.close()
            await close_async()
            if owned:
                given.close()

    app = FastAPI(
        title="socialpulse read API",
        version="1",
        description="Follower and engagement metrics for tracked social-media accounts.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in (
        routes_account_list,
        routes_tracking,
        routes_accounts,
        routes_timeseries,
        routes_posts,
        routes_leaderboard,
        routes_sync,
        routes_dashboard,
    ):
        app.include_router(module.router)
    _add_operational_routes(app, settings)
    app.add_middleware(ResponseHooks)
    install_openapi(app)
    return app


def _add_operational_routes(app: FastAPI, settings: ApiSettings) -> None:
    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Readiness, tags=["operations"])
    async def readyz(request: Request) -> JSONResponse:
        resources: Resources = request.app.state.resources
        offload = request.app.state.services.offload
        checks = {
            "kafka": "ok" if await kafka_ready(settings.kafka_bootstrap) else "unavailable",
            "clickhouse": "ok" if await offload(_ping_clickhouse, resources) else "unavailable",
            "redis": "ok" if await offload(_ping_redis, resources) else "unavailable",
        }
        ready = all(v == "ok" for v in checks.values())
        body = Readiness(status="ready" if ready else "not_ready", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _ping_clickhouse(resources: Resources) -> bool:
    try:
        return bool(resources.clickhouse.ping())
    except Exception:  # readiness reports, it does not raise
        return False


def _ping_redis(resources: Resources) -> bool:
    try:
        return bool(resources.redis.ping())
    except Exception:  # readiness reports, it does not raise
        return False


class ResponseHooks:
    """Request metrics and the rate-limit headers, at the start of each response; for a
    read that started before its charge was answered, that answer (a 429 when refused).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
    runs every request through an extra task and memory streams, which cost about 1 ms of CPU
    per request and layer here (docs/benchmarks.md, read API).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        refused = False

        async def hooked(message: Message) -> None:
            nonlocal refused
            if refused:  # the app's answer to a refused read is dropped
                return
            if message["type"] == "http.response.start":
                state = scope.setdefault("state", {})
                # A read started before its charge was answered (api.auth): now it is.
                charge = state.pop("rate_charge", None)
                if charge is not None:
                    try:
                        state["rate_budget"] = await charge
                    except RateLimited as exc:
                        refused = True
                        await error_response(exc)(scope, receive, send)
                        self._observe(scope, started, 429)
                        return
                # Set by the auth dependency when the request was charged to a token's budget.
                budget = state.get("rate_budget")
                if budget is not None:
                    headers = MutableHeaders(scope=message)
                    headers["X-RateLimit-Limit"] = str(budget.limit_per_minute)
                    headers["X-RateLimit-Remaining"] = str(budget.remaining)
                self._observe(scope, started, message["status"])
            await send(message)

        await self.app(scope, receive, hooked)

    @staticmethod
    def _observe(scope: Scope, started: float, status: int) -> None:
        method, path = scope["method"], getattr(scope.get("route"), "path", "unmatched")
        LATENCY.labels(method, path).observe(time.perf_counter() - started)
        REQUESTS.labels(method, path, str(status)).inc()
