"""X API v2 source over real HTTP against the fake API."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.http import HttpUpstream
from collectors.sources.base import AccountRef, AccountState
from collectors.sources.x_api import XApiSource
from collectors.upstream import ErrorClass, RateLimitedError
from socialpulse.contract import Platform
from tests.fakes.core import FakeUpstream, json_answer
from tests.fakes.fixtures import NOW, clock, outcomes, refs
from tests.fakes.x_api import BEARER, make_x_api

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_x_api()
    with fake.running() as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


@pytest.fixture
def source(server: tuple[FakeUpstream, str]) -> XApiSource:
    return XApiSource(
        bearer_token=BEARER, base_url=server[1], max_posts=7, page_size=5, clock=clock
    )


async def test_users_with_partial_errors_and_paged_tweets(
    source: XApiSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    handles = ("XDevelopers", "locked_account", "banned_account", "ghost_user_123")
    result = await source.fetch(refs(Platform.X, *handles), run_id="r", upstream=upstream)

    (lookup,) = fake.calls("/2/users/by")
    assert lookup.param("usernames") == ",".join(handles)
    assert "public_metrics" in (lookup.param("user.fields") or "")
    assert lookup.headers["authorization"] == f"Bearer {BEARER}"
    profiles = {p.handle: p for p in result.profiles}
    dev = profiles["XDevelopers"]
    assert (dev.account_id, dev.followers, dev.following, dev.posts_count) == (
        "2244994945",
        698_354,
        1987,
        4123,
    )
    assert profiles["locked_account"].followers == 42  # protected: counts are public
    by = outcomes(result)
    assert by["locked_account"].state is AccountState.PRIVATE
    assert by["banned_account"].state is AccountState.SUSPENDED
    assert by["ghost_user_123"].state is AccountState.NOT_FOUND
    assert "Could not find user" in str(by["ghost_user_123"].error)

    pages = fake.calls("/2/users/*/tweets")
    assert [p.path for p in pages] == [
        "/2/users/2244994945/tweets"
    ] * 2  # none for the protected one
    assert [(p.param("max_results"), p.param("pagination_token")) for p in pages] == [
        ("5", None),
        ("5", "5"),
    ]
    assert result.upstream_calls == 3
    posts = {p.post_id: p for p in result.posts}
    assert len(posts) == 7
    top = posts["1855000000000000007"]
    assert (top.likes, top.comments, top.shares, top.saves, top.views) == (300, 12, 45, 9, 42_000)
    assert top.published_at == datetime(2024, 11, 16, 17, tzinfo=UTC) and top.media_type == "text"
    assert top.url == "https://x.com/XDevelopers/status/1855000000000000007"
    media = posts["1854000000000000006"]
    assert (media.likes, media.shares, media.views, media.media_type) == (0, 0, 0, "media")


async def test_known_ids_use_the_ids_lookup(
    source: XApiSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        AccountRef(Platform.X, "old_name", account_id="2244994945"),
        AccountRef(Platform.X, "x", account_id="1"),
    ]
    result = await XApiSource(
        bearer_token=BEARER, base_url=source.base_url, max_posts=0, clock=clock
    ).fetch(accounts, run_id="r", upstream=upstream)
    (lookup,) = fake.calls("/2/users")
    assert lookup.param("ids") == "2244994945,1"
    assert [p.handle for p in result.profiles] == ["XDevelopers"]  # renamed: same id
    assert outcomes(result)["x"].state is AccountState.NOT_FOUND


@pytest.mark.parametrize("count", [100, 101, 250])
async def test_users_go_100_to_a_call(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream, count: int
) -> None:
    source = XApiSource(bearer_token=BEARER, base_url=server[1], max_posts=0, clock=clock)
    result = await source.fetch(
        refs(Platform.X, *[f"user{i}" for i in range(count)]), run_id="r", upstream=upstream
    )
    assert result.upstream_calls == math.ceil(count / 100) == len(fake.calls())
    assert len(result.profiles) == count


async def test_429_waits_until_the_rate_limit_reset(
    source: XApiSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    reset = int(NOW.timestamp()) + 600
    fake.inject(
        "/2/users/by",
        json_answer(
            429,
            {"title": "Too Many Requests", "status": 429},
            {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
        ),
    )
    result = await source.fetch(refs(Platform.X, "XDevelopers"), run_id="r", upstream=upstream)
    (outcome,) = result.outcomes
    assert isinstance(outcome.error, RateLimitedError) and outcome.error.retry_after_s == 600.0
    assert outcome.state is AccountState.UNKNOWN


async def test_a_failing_timeline_keeps_the_profile(
    source: XApiSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    fake.inject("/2/users/*/tweets", json_answer(503, {"title": "Service Unavailable"}))
    result = await source.fetch(refs(Platform.X, "XDevelopers"), run_id="r", upstream=upstream)
    assert result.profiles[0].followers == 698_354 and not result.posts
    (outcome,) = result.outcomes
    assert outcome.state is AccountState.ACTIVE and outcome.error is not None
    assert outcome.error.error_class is ErrorClass.TRANSIENT
