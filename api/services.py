"""What handlers use beyond raw clients: cache, rate limiter, sync control and status.

Built once per app in the lifespan from the :class:`~api.resources.Resources`, so every
request shares the same objects (and their registered Redis scripts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from api.cache import ResponseCache
from api.freshness import FreshnessRule
from api.offload import Offload
from api.ratelimit import RateLimiter
from api.resources import Resources
from api.sync_control import RequestPublisher, SyncControl
from api.sync_status import SyncStatus
from collectors.emitter import SnapshotEmitter
from collectors.sync_runs import SyncRuns
from socialpulse.contract import Topics
from socialpulse.settings import ApiSettings


@dataclass(frozen=True)
class Services:
    cache: ResponseCache
    limiter: RateLimiter
    sync: SyncControl
    status: SyncStatus
    offload: Offload

    @classmethod
    def build(cls, settings: ApiSettings, resources: Resources) -> Services:
        if resources.redis_async is None or resources.kafka is None:
            raise ValueError("the async clients are made first (Resources.with_async_clients)")
        prefix, topics = settings.topic_prefix, Topics(settings.topic_prefix)
        # The collectors' own run store, so keys and transitions are theirs; the emitter is
        # what SyncRuns requires, the API never announces events through it.
        runs = SyncRuns(
            resources.redis_async,
            prefix,
            SnapshotEmitter(resources.kafka, topics),
            ttl_s=settings.sync_run_ttl_s,
        )
        publisher = RequestPublisher(
            resources.kafka, topics.sync_requests, settings.sync_publish_timeout_s
        )
        rule = FreshnessRule(
            stale_after=timedelta(seconds=settings.freshness_stale_after_s),
            grace=timedelta(seconds=settings.freshness_grace_s),
        )
        ttls = {
            "overview": settings.cache_ttl_overview_s,
            "accounts": settings.cache_ttl_accounts_s,
            "timeseries": settings.cache_ttl_timeseries_s,
        }
        offload = Offload(settings.api_threads)
        return cls(
            cache=ResponseCache(resources.redis, resources.redis_async, prefix, ttls),
            limiter=RateLimiter(
                resources.redis_async,
                prefix,
                settings.rate_limit_per_minute,
                settings.rate_limit_burst,
            ),
            sync=SyncControl(
                runs,
                resources.redis_async,
                publisher,
                prefix=prefix,
                ttl_s=settings.sync_run_ttl_s,
            ),
            status=SyncStatus(
                resources.redis_async,
                runs.status_key,
                resources.clickhouse,
                rule,
                offload,
            ),
            offload=offload,
        )


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function in the thread pool (a thread hop per request).
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
