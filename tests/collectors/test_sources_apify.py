"""The Apify API client over real HTTP: batching, run states, 408 continuation, failures."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.clock import ManualClock, SystemClock
from collectors.http import HttpUpstream
from collectors.sources.apify import ApifyClient
from collectors.sources.apify_actor import ApifyActorSource
from collectors.sources.apify_instagram import InstagramProfileScraper
from collectors.sources.base import AccountRef, AccountState, FetchResult
from collectors.sources.common import MalformedResponse
from collectors.upstream import ErrorClass, RateLimitedError
from socialpulse.contract import Platform
from tests.collectors.helpers import Wires
from tests.fakes.apify import TOKEN, ApifyWorld, make_apify
from tests.fakes.core import (
    FakeUpstream,
    http_date,
    json_answer,
    malformed,
    rate_limited,
    server_error,
    slow,
)

NOW = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)
SYNC = "/v2/acts/*/run-sync-get-dataset-items"

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


def clock() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ApifyWorld, FakeUpstream, str]]:
    world = ApifyWorld(clock=clock)
    fake = make_apify(world)
    with fake.running() as url:
        yield world, fake, url


@pytest.fixture
def world(server: tuple[ApifyWorld, FakeUpstream, str]) -> ApifyWorld:
    server[0].reset()
    server[1].reset()
    return server[0]


@pytest.fixture
def fake(server: tuple[ApifyWorld, FakeUpstream, str], world: ApifyWorld) -> FakeUpstream:
    return server[1]


def client(server: tuple[ApifyWorld, FakeUpstream, str], **options: object) -> ApifyClient:
    return ApifyClient(token=TOKEN, base_url=server[2], clock=clock, **options)  # type: ignore[arg-type]


def refs(platform: Platform, *handles: str) -> list[AccountRef]:
    return [AccountRef(platform, handle) for handle in handles]


def by_handle(result: FetchResult) -> dict[str, object]:
    return {o.account.handle: o for o in result.outcomes}


@pytest.mark.parametrize(
    ("accounts", "batch_size"), [(23, 5), (10, 10), (11, 10), (1, 50), (120, 50)]
)
async def test_one_run_per_batch(
    server: tuple[ApifyWorld, FakeUpstream, str],
    fake: FakeUpstream,
    upstream: HttpUpstream,
    accounts: int,
    batch_size: int,
) -> None:
    source = ApifyActorSource(InstagramProfileScraper(), client(server), batch_size=batch_size)
    handles = [f"user{i}" for i in range(accounts)]
    result = await source.fetch(refs(Platform.INSTAGRAM, *handles), run_id="r", upstream=upstream)

    assert result.upstream_calls == math.ceil(accounts / batch_size) == len(fake.calls())
    assert all(len(c.json()["usernames"]) <= batch_size for c in fake.calls())
    assert sorted(p.followers or 0 for p in result.profiles) == [1000 + i for i in range(accounts)]
    assert {p.account_id for p in result.profiles} == {str(9_000_000 + i) for i in range(accounts)}
    assert all(o.state is AccountState.ACTIVE for o in result.outcomes)


async def test_a_408_sync_timeout_continues_the_same_run_asynchronously(
    server: tuple[ApifyWorld, FakeUpstream, str],
    world: ApifyWorld,
    fake: FakeUpstream,
    upstream: HttpUpstream,
) -> None:
    world.behave("apify/instagram-profile-scraper", mode="sync_timeout", polls=2)
    source = ApifyActorSource(InstagramProfileScraper(), client(server))
    result = await source.fetch(
        refs(Platform.INSTAGRAM, "natgeo", "user1"), run_id="r", upstream=upstream
    )

    assert len(world.runs) == 1  # found again, not started a second time (and paid twice)
    assert len(fake.calls("/v2/acts/*/runs", "POST")) == 0
    assert len(fake.calls("/v2/acts/*/runs", "GET")) == 1
    assert len(fake.calls("/v2/key-value-stores/*/records/INPUT")) == 1
    polls = fake.calls("/v2/actor-runs/*")
    assert len(polls) == 3 and all(p.param("waitForFinish") == "60" for p in polls)
    assert result.upstream_calls == 1 + 1 + 1 + 3 + 1  # sync, list, input, polls, one page
    assert {p.handle: p.followers for p in result.profiles} == {
        "natgeo": 283_503_744,
        "user1": 1001,
    }


async def test_async_run_is_polled_and_its_dataset_paged(
    server: tuple[ApifyWorld, FakeUpstream, str],
    world: ApifyWorld,
    fake: FakeUpstream,
    upstream: HttpUpstream,
) -> None:
    world.behave("apify/instagram-profile-scraper", polls=1)
    source = ApifyActorSource(InstagramProfileScraper(), client(server, sync=False, page_limit=2))
    result = await source.fetch(
        refs(Platform.INSTAGRAM, *[f"user{i}" for i in range(5)]), run_id="r", upstream=upstream
    )

    assert len(fake.calls("/v2/acts/*/runs", "POST")) == 1
    assert len(fake.calls("/v2/actor-runs/*")) == 2  # RUNNING, then SUCCEEDED
    pages = fake.calls("/v2/datasets/*/items")
    assert [(p.param("offset"), p.param("limit")) for p in pages] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "2"),
    ]
    assert result.upstream_calls == 6
    assert len(result.profiles) == 5 and not [o for o in result.outcomes if o.error]


@pytest.mark.parametrize("sync", [False, True])
async def test_timed_out_run_keeps_its_partial_dataset_and_marks_the_rest(
    server: tuple[ApifyWorld, FakeUpstream, str],
    world: ApifyWorld,
    upstream: HttpUpstream,
    sync: bool,
) -> None:
    # Async: polled until TIMED-OUT. Sync: the endpoint's 400 run-failed names the run.
    mode = "run_failed" if sync else "sync"
    world.behave(
        "apify/instagram-profile-scraper", mode=mode, final_status="TIMED-OUT", keep_items=3
    )
    source = ApifyActorSource(InstagramProfileScraper(), client(server, sync=sync))
    handles = [f"user{i}" for i in range(5)]
    result = await source.fetch(refs(Platform.INSTAGRAM, *handles), run_id="r", upstream=upstream)

    assert sorted(p.handle for p in result.profiles) == ["user0", "user1", "user2"]
    missing = [o for o in result.outcomes if o.error is not None]
    assert sorted(o.account.handle for o in missing) == ["user3", "user4"]
    for outcome in missing:
        assert outcome.state is AccountState.UNKNOWN  # says nothing about the account itself
        assert outcome.error is not None and outcome.error.retryable
        assert "TIMED-OUT" in str(outcome.error) and "HG7ML7M8z78Y00001" in str(outcome.error)


async def test_a_run_still_going_after_max_polls_is_aborted_and_its_items_kept(
    server: tuple[ApifyWorld, FakeUpstream, str],
    world: ApifyWorld,
    fake: FakeUpstream,
    upstream: HttpUpstream,
) -> None:
    world.behave("apify/instagram-profile-scraper", polls=50, final_status="ABORTED", keep_items=1)
    source = ApifyActorSource(InstagramProfileScraper(), client(server, sync=False, max_polls=2))
    result = await source.fetch(
        refs(Platform.INSTAGRAM, "user1", "user2"), run_id="r", upstream=upstream
    )

    assert len(fake.calls("/v2/actor-runs/*", "GET")) == 2
    assert len(fake.calls("/v2/actor-runs/*/abort", "POST")) == 1
    assert [p.handle for p in result.profiles] == ["user1"]
    (missing,) = [o for o in result.outcomes if o.error]
    assert missing.account.handle == "user2" and "ABORTING" in str(missing.error)


@pytest.mark.parametrize(
    ("status", "kind", "error_class"),
    [
        (402, "not-enough-usage-to-run-paid-actor", ErrorClass.QUOTA),
        (403, "platform-feature-disabled", ErrorClass.QUOTA),  # monthly hard limit
        (403, "actor-is-not-rented", ErrorClass.QUOTA),
        (401, "user-or-token-not-found", ErrorClass.AUTH),
        (403, "insufficient-permissions", ErrorClass.AUTH),
    ],
)
async def test_credit_and_auth_errors_fail_the_batch_without_retry(
    server: tuple[ApifyWorld, FakeUpstream, str],
    fake: FakeUpstream,
    upstream: HttpUpstream,
    status: int,
    kind: str,
    error_class: ErrorClass,
) -> None:
    fake.inject(SYNC, json_answer(status, {"error": {"type": kind, "message": "no"}}))
    source = ApifyActorSource(InstagramProfileScraper(), client(server))
    result = await source.fetch(
        refs(Platform.INSTAGRAM, "natgeo", "user1"), run_id="r", upstream=upstream
    )

    assert not result.profiles and len(result.outcomes) == 2
    for outcome in result.outcomes:
        assert outcome.state is AccountState.UNKNOWN
        assert outcome.error is not None and outcome.error.error_class is error_class
        assert not outcome.error.retryable and kind in str(outcome.error)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_429_surfaces_as_rate_limited_with_the_wait(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, wires: Wires, form: str
) -> None:
    retry_after = "7" if form == "seconds" else http_date(7)
    body = {
        "error": {"type": "rate-limit-exceeded", "message": "You have exceeded the rate limit."}
    }
    fake.inject(SYNC, rate_limited(retry_after, body))
    real_clock = await wires.make(SystemClock())  # an HTTP-date is relative to the real now
    source = ApifyActorSource(InstagramProfileScraper(), client(server))
    result = await source.fetch(
        refs(Platform.INSTAGRAM, "natgeo"), run_id="r", upstream=real_clock.upstream
    )
    (outcome,) = result.outcomes
    assert isinstance(outcome.error, RateLimitedError)
    assert 5.0 <= outcome.error.retry_after_s <= 7.0


async def test_5xx_malformed_json_and_slow_answers_fail_only_that_batch(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, wires: Wires
) -> None:
    fake.inject(SYNC, server_error(502), malformed(), slow(1.5))
    source = ApifyActorSource(InstagramProfileScraper(), client(server), batch_size=1)
    accounts = refs(Platform.INSTAGRAM, "user1", "user2", "user3", "user4")
    timing_out = await wires.make(ManualClock(NOW.timestamp()), timeout_cap_s=0.3)
    result = await source.fetch(accounts, run_id="r", upstream=timing_out.upstream)

    errors = {o.account.handle: o.error for o in result.outcomes}
    assert errors["user1"] is not None and errors["user1"].error_class is ErrorClass.TRANSIENT
    assert isinstance(errors["user2"], MalformedResponse) and errors["user2"].retryable
    assert errors["user3"] is not None and "timed out" in str(errors["user3"])
    assert errors["user4"] is None
    assert [p.handle for p in result.profiles] == ["user4"]
    assert result.upstream_calls == 4
