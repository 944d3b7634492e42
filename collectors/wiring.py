"""Build the collector from settings and clients handed in by the process.

The clients (Redis, httpx, the Kafka emitter, ClickHouse for reading the
registry) are made in one place, ``collectors.process``, or by a test or the
benchmark, and passed down; nothing here opens a connection of its own.
Which source serves a platform: the platform's own API when its app token is
set, else the Apify actor when ``SOCIALPULSE_APIFY_TOKEN`` is set; Bluesky,
Mastodon and Reddit work without a token; ``simulated`` is always served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from clickhouse_connect.driver.client import Client
from redis.asyncio import Redis

from collectors.apify_metrics import observe_apify
from collectors.cache import ResponseCache
from collectors.circuit import CircuitBreaker
from collectors.clock import Clock
from collectors.emitter import SnapshotEmitter
from collectors.http import HttpUpstream, RetryPolicy
from collectors.leases import ShardLeases
from collectors.polling import BatchPoller
from collectors.ratelimit import RateLimiter
from collectors.registry import Registry, TrackedAccount, clickhouse_loader
from collectors.schedule import DAY_S, Policy
from collectors.secrets import SecretToken
from collectors.service import CollectorService, ServiceConfig
from collectors.simulator_source import SimulatorSource, simulated_ids
from collectors.sources.apify import ApifyClient
from collectors.sources.apify_actor import ActorMapping, ApifyActorSource
from collectors.sources.apify_facebook import FacebookPagesScraper
from collectors.sources.apify_instagram import InstagramProfileScraper
from collectors.sources.apify_tiktok import TikTokScraper
from collectors.sources.apify_x import TweetScraper
from collectors.sources.apify_youtube import YouTubeScraper
from collectors.sources.base import Source
from collectors.sources.bluesky import BlueskySource
from collectors.sources.mastodon import MastodonSource
from collectors.sources.reddit import RedditSource
from collectors.sources.x_api import XApiSource
from collectors.sources.youtube import YouTubeSource
from collectors.state import ScheduleStore
from collectors.sync_requests import OnDemandQueue, RequestIntake
from collectors.sync_runs import SyncRuns
from collectors.webhook import Webhook, WebhookDispatcher
from socialpulse.contract import Platform
from socialpulse.settings import CollectorSettings


@dataclass
class Collector:
    service: CollectorService
    upstream: HttpUpstream
    runs: SyncRuns
    queue: OnDemandQueue
    registry: Registry
    leases: ShardLeases
    intake: RequestIntake
    webhooks: WebhookDispatcher | None


def policy_from(settings: CollectorSettings) -> Policy:
    return Policy(
        profile_every_s=settings.profile_interval_s,
        posts_every_s=settings.posts_interval_s,
        top_content_every_s=settings.top_content_interval_s,
        inactive_every_s=max(DAY_S, settings.profile_interval_s),
    )


def datetime_clock(clock: Clock) -> Callable[[], datetime]:
    """The sources' clock (datetimes) over the injected one (epoch seconds)."""
    return lambda: datetime.fromtimestamp(clock.time(), UTC)


def build_sources(settings: CollectorSettings, clock: Clock) -> dict[Platform, Source]:
    now = datetime_clock(clock)
    urls, ttl = settings.upstream_base_urls, settings.cache_ttl_s
    sources: dict[Platform, Source] = {
        Platform.SIMULATED: SimulatorSource(
            clock,
            interval_ms=int(settings.profile_interval_s * 1000),
            backfill_hours=settings.simulator_backfill_hours,
        ),
        Platform.BLUESKY: BlueskySource(
            base_url=urls.get("bluesky", BlueskySource.base_url), cache_ttl_s=ttl, clock=now
        ),
        Platform.MASTODON: MastodonSource(cache_ttl_s=ttl, clock=now),
    }
    reddit = settings.reddit_token.get_secret_value() if settings.reddit_token else None
    default_reddit = RedditSource.base_url if reddit else "https://www.reddit.com"
    sources[Platform.REDDIT] = RedditSource(
        base_url=urls.get("reddit", default_reddit), token=reddit, cache_ttl_s=ttl, clock=now
    )
    sources.update(_apify_sources(settings, clock))
    if settings.youtube_api_key:
        sources[Platform.YOUTUBE] = YouTubeSource(
            settings.youtube_api_key.get_secret_value(),
            base_url=urls.get("youtube", YouTubeSource.base_url), cache_ttl_s=ttl, clock=now,
        )  # fmt: skip
    if settings.x_bearer_token:
        sources[Platform.X] = XApiSource(
            settings.x_bearer_token.get_secret_value(),
            base_url=urls.get("x", XApiSource.base_url), cache_ttl_s=ttl, clock=now,
        )  # fmt: skip
    return sources


def _apify_sources(settings: CollectorSettings, clock: Clock) -> dict[Platform, Source]:
    if settings.apify_token is None:
        return {}
    client = ApifyClient(
        settings.apify_token.get_secret_value(),
        base_url=settings.upstream_base_urls.get("apify", ApifyClient.base_url),
        cache_ttl_s=settings.cache_ttl_s,
        clock=datetime_clock(clock),
    )
    mappings: list[ActorMapping] = [
        InstagramProfileScraper(), TikTokScraper(), FacebookPagesScraper(),
        TweetScraper(), YouTubeScraper(),
    ]  # fmt: skip
    return {
        m.platform: ApifyActorSource(m, client, batch_size=settings.apify_batch_size)
        for m in mappings
    }


def build_upstream(
    settings: CollectorSettings, *, clock: Clock, redis: Redis, http: httpx.AsyncClient
) -> HttpUpstream:
    prefix = settings.topic_prefix
    return HttpUpstream(
        http,
        limiter=RateLimiter(redis, prefix, clock, settings.rate_limits),
        breaker=CircuitBreaker(
            redis,
            prefix,
            clock,
            threshold=settings.circuit_failure_threshold,
            open_s=settings.circuit_open_s,
        ),  # fmt: skip
        cache=ResponseCache(redis, prefix),
        clock=clock,
        policy=RetryPolicy(
            max_retries=settings.http_max_retries,
            base_s=settings.http_backoff_base_s,
            max_retry_after_s=settings.http_max_retry_after_s,
        ),
        observers=[observe_apify],
    )


def build_collector(
    settings: CollectorSettings,
    *,
    clock: Clock,
    redis: Redis,
    http: httpx.AsyncClient,
    emitter: SnapshotEmitter,
    clickhouse: Callable[[], Client] | None = None,
    sources: Mapping[Platform, Source] | None = None,
    static_accounts: Sequence[TrackedAccount] = (),
) -> Collector:
    prefix = settings.topic_prefix
    upstream = build_upstream(settings, clock=clock, redis=redis, http=http)
    runs = SyncRuns(redis, prefix, emitter, ttl_s=settings.sync_run_ttl_s)
    queue = OnDemandQueue(redis, prefix, settings.shards)
    policy = policy_from(settings)
    store = ScheduleStore(redis, prefix, settings.shards, posts_ttl_s=policy.post_max_age_s + DAY_S)
    webhooks = _webhooks(settings, http, clock)
    poller = BatchPoller(
        upstream=upstream, emitter=emitter, runs=runs, store=store, policy=policy, clock=clock,
        cache_ttl_s=settings.cache_ttl_s,
        on_finished=webhooks.notify if webhooks else lambda runs: None,
    )  # fmt: skip
    registry = registry_for(settings, clock, clickhouse, static_accounts)
    leases = ShardLeases(
        redis, prefix, settings.replica_id, clock,
        shards=settings.shards, ttl_s=settings.lease_ttl_s,
    )  # fmt: skip
    service = CollectorService(
        config=ServiceConfig(
            cycle_s=settings.cycle_s, max_in_flight=settings.max_in_flight,
            max_batches=settings.max_batches, batch_linger_s=settings.batch_linger_s,
        ),
        policy=policy, registry=registry,
        sources=sources if sources is not None else build_sources(settings, clock),
        poller=poller,
        leases=leases,
        store=store, queue=queue, runs=runs, clock=clock,
    )  # fmt: skip
    intake = RequestIntake(runs, queue, store, emitter, clock)
    return Collector(service, upstream, runs, queue, registry, leases, intake, webhooks)


def registry_for(
    settings: CollectorSettings,
    clock: Clock,
    clickhouse: Callable[[], Client] | None,
    static_accounts: Sequence[TrackedAccount] = (),
) -> Registry:
    """The accounts to poll: static ones, simulated ones in simulator mode, file, ClickHouse."""
    static = list(static_accounts)
    if settings.simulator_mode:
        ids = simulated_ids(settings.simulator_accounts, settings.simulator_seed)
        static += [TrackedAccount(Platform.SIMULATED, i, i, frozenset({"demo"})) for i in ids]
    loader = (
        clickhouse_loader(clickhouse) if clickhouse and settings.registry_from_clickhouse else None
    )
    return Registry(
        clock, static=static, file=settings.accounts_file, loader=loader,
        refresh_s=settings.registry_refresh_s,
    )  # fmt: skip


def _webhooks(
    settings: CollectorSettings, http: httpx.AsyncClient, clock: Clock
) -> WebhookDispatcher | None:
    if not settings.webhook_url or settings.webhook_secret is None:
        return None
    secret = SecretToken(settings.webhook_secret.get_secret_value())
    webhook = Webhook(
        http, settings.webhook_url, secret, clock, max_attempts=settings.webhook_max_attempts
    )
    return WebhookDispatcher(webhook, only_requested=settings.webhook_scope == "requested")
