"""Build the collector from settings and clients handed in by the process.

The clients (Redis, httpx, the Kafka emitter, ClickHouse for reading the
registry) are made in one place, ``collectors.process``, or by a test or the
benchmark, and passed down; nothing here opens a connection of its own.
Which source serves a platform: the platform's own API when its app token is
set, else the Apify actor when ``SOCIALPULSE_APIFY_TOKEN`` is set; Bluesky,
Mastodon and Reddit work without a token; ``simulated`` is always served.
Instagram Graph and LinkedIn read with each account's own OAuth token from
the encrypted token store: LinkedIn always (an account without a token fails
its runs as ``auth``, so the gap shows); Instagram for the accounts that have
a token, the Apify actor (when configured) for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

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
from collectors.normalize import urn_id
from collectors.polling import BatchPoller
from collectors.ratelimit import RateLimiter
from collectors.registry import Registry, TrackedAccount, clickhouse_loader
from collectors.schedule import DAY_S, Policy
from collectors.secrets import SecretsError, SecretToken, TokenVault, fernet_from
from collectors.service import CollectorService, ServiceConfig
from collectors.simulator_source import SimulatorSource, simulated_ids
from collectors.sources.apify import ApifyClient
from collectors.sources.apify_actor import ActorMapping, ApifyActorSource
from collectors.sources.apify_facebook import FacebookPagesScraper
from collectors.sources.apify_instagram import InstagramProfileScraper
from collectors.sources.apify_tiktok import TikTokScraper
from collectors.sources.apify_x import TweetScraper
from collectors.sources.apify_youtube import YouTubeScraper
from collectors.sources.base import AccountRef, Source, TokenLookup
from collectors.sources.bluesky import BlueskySource
from collectors.sources.instagram_graph import InstagramGraphSource
from collectors.sources.linkedin import LinkedInSource
from collectors.sources.mastodon import MastodonSource
from collectors.sources.reddit import RedditSource
from collectors.sources.routing import TokenRouted
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


def build_sources(
    settings: CollectorSettings, clock: Clock, tokens: TokenLookup | None = None
) -> dict[Platform, Source]:
    """Every platform's source; ``tokens`` is the per-account token store (None: none set up)."""
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
    sources.update(_token_sources(settings, now, tokens, apify=sources.get(Platform.INSTAGRAM)))
    return sources


def _token_sources(
    settings: CollectorSettings,
    now: Callable[[], datetime],
    tokens: TokenLookup | None,
    *,
    apify: Source | None,
) -> dict[Platform, Source]:
    """LinkedIn, and Instagram's Graph API beside (or instead of) its Apify actor."""
    urls, ttl = settings.upstream_base_urls, settings.cache_ttl_s
    lookup = tokens or _no_token_store
    linkedin = LinkedInSource(
        lookup, base_url=urls.get("linkedin", LinkedInSource.base_url), cache_ttl_s=ttl, clock=now
    )
    graph = InstagramGraphSource(
        lookup,
        base_url=urls.get("instagram_graph", InstagramGraphSource.base_url),
        cache_ttl_s=ttl,
        clock=now,
    )
    if apify is None:  # the only way to read Instagram: its accounts' runs say what is missing
        instagram: Source = graph
    elif tokens is None:  # no token store: nobody has a Graph token, Apify reads them all
        instagram = apify
    else:
        instagram = TokenRouted(graph, apify, partial(_graph_token_stored, tokens))
    return {Platform.LINKEDIN: linkedin, Platform.INSTAGRAM: instagram}


def token_lookup(settings: CollectorSettings, redis: Redis) -> TokenLookup | None:
    """Each account's OAuth token from the encrypted store (``socialpulse accounts set-token``).

    Tried under the account's id, the bare id of an URN id, then its handle (an
    account tracked by handle has no id before its first poll, which needs the token).
    None when no store is set up (no ``SOCIALPULSE_SECRETS_KEY``).
    """
    if settings.secrets_key is None:
        return None
    vault = TokenVault(
        redis, settings.topic_prefix, fernet_from(settings.secrets_key.get_secret_value())
    )

    async def token_for(account: AccountRef) -> SecretToken | None:
        names = [account.account_id, urn_id(account.account_id), account.handle.lstrip("@")]
        for name in dict.fromkeys(n for n in names if n):
            if (token := await vault.get(account.platform.value, name)) is not None:
                return token
        return None

    return token_for


async def _no_token_store(account: AccountRef) -> SecretToken | None:
    raise SecretsError(
        "no token store: set SOCIALPULSE_SECRETS_KEY, then "
        f"`socialpulse accounts set-token {account.platform.value} ID`"
    )


async def _graph_token_stored(tokens: TokenLookup, account: AccountRef) -> bool:
    if not account.account_id:  # the Graph API reads connected accounts by id only
        return False
    try:
        return await tokens(account) is not None
    except SecretsError:
        return True  # stored but unreadable: the Graph source reports it as the account's


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
        timeout_s=settings.http_timeout_s,
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
        sources=(
            sources
            if sources is not None
            else build_sources(settings, clock, token_lookup(settings, redis))
        ),
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
