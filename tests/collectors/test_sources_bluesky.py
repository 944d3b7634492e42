"""Bluesky AppView source over real HTTP against the fake AppView."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.clock import ManualClock
from collectors.http import HttpUpstream
from collectors.sources.base import AccountRef, AccountState
from collectors.sources.bluesky import BlueskySource
from collectors.upstream import ErrorClass, RateLimitedError
from socialpulse.contract import Platform
from tests.collectors.helpers import Wire
from tests.fakes.bluesky import make_bluesky
from tests.fakes.core import FakeUpstream, json_answer, malformed, rate_limited, server_error
from tests.fakes.fixtures import NOW, clock, outcomes, refs

DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
PROFILE = "/xrpc/app.bsky.actor.getProfile"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_bluesky()
    with fake.running() as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


@pytest.fixture
def source(server: tuple[FakeUpstream, str]) -> BlueskySource:
    return BlueskySource(base_url=server[1], page_size=2, clock=clock)


async def test_profile_and_cursor_paged_feed(
    source: BlueskySource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    result = await source.fetch(refs(Platform.BLUESKY, "bsky.app"), run_id="r", upstream=upstream)

    (profile,) = result.profiles
    assert (profile.account_id, profile.handle, profile.display_name) == (
        DID,
        "bsky.app",
        "Bluesky",
    )
    assert (profile.followers, profile.following, profile.posts_count) == (31_456_789, 6, 712)
    assert profile.observed_at == NOW and profile.source == "api:bluesky"
    pages = fake.calls(FEED)
    assert [(p.param("actor"), p.param("limit"), p.param("cursor")) for p in pages] == [
        (DID, "2", None),
        (DID, "2", "2"),
        (DID, "2", "4"),
    ]
    assert result.upstream_calls == 4

    posts = {p.post_id.rsplit("/", 1)[-1]: p for p in result.posts}
    assert set(posts) == {"3lbjy2ocqxk2a", "3lbfuture00aa", "3lbdupdate0bb"}  # repost skipped
    welcome = posts["3lbjy2ocqxk2a"]
    assert welcome.post_id == f"at://{DID}/app.bsky.feed.post/3lbjy2ocqxk2a"
    assert welcome.url == f"https://bsky.app/profile/{DID}/post/3lbjy2ocqxk2a"
    assert welcome.published_at == datetime(2024, 11, 20, 18, 1, 2, 123000, tzinfo=UTC)
    assert (welcome.likes, welcome.comments, welcome.shares, welcome.saves) == (
        120_000,
        4100,
        11_300,
        None,
    )
    assert (welcome.media_type, welcome.views) == ("image", None)
    future = posts["3lbfuture00aa"]
    # createdAt says 2030: the AppView's indexedAt is the better publication time.
    assert future.published_at == datetime(2024, 11, 18, 9, 30, tzinfo=UTC)
    assert (future.likes, future.shares, future.media_type) == (0, 0, "video")  # real zeros
    assert (posts["3lbdupdate0bb"].saves, posts["3lbdupdate0bb"].media_type) == (55, "link")
    (item_error,) = result.item_errors  # the feed item without a uri
    assert item_error.raw["post"]["cid"] == "bafyreinouri"
    (outcome,) = result.outcomes
    assert outcome.state is AccountState.ACTIVE and outcome.error is None
    assert outcome.raw["profile"]["did"] == DID and len(outcome.raw["feed"]) == 3


async def test_a_known_did_is_asked_for_directly(
    source: BlueskySource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    account = AccountRef(Platform.BLUESKY, "old-handle.example.com", account_id=DID)
    result = await BlueskySource(base_url=source.base_url, max_posts=0, clock=clock).fetch(
        [account], run_id="r", upstream=upstream
    )
    assert [c.param("actor") for c in fake.calls()] == [DID]  # max_posts=0: no feed call
    assert result.profiles[0].handle == "bsky.app"  # today's handle, same account


async def test_account_states_and_one_failure_does_not_stop_the_others(
    source: BlueskySource, upstream: HttpUpstream
) -> None:
    handles = (
        "nobody.bsky.social",
        "spam-bot.bsky.social",
        "gone-fishing.bsky.social",
        "quiet.bsky.social",
    )
    result = await source.fetch(refs(Platform.BLUESKY, *handles), run_id="r", upstream=upstream)

    by = outcomes(result)
    assert by["nobody.bsky.social"].state is AccountState.NOT_FOUND
    assert by["spam-bot.bsky.social"].state is AccountState.SUSPENDED
    assert "AccountTakedown" in str(by["spam-bot.bsky.social"].error)
    assert by["gone-fishing.bsky.social"].state is AccountState.NOT_FOUND
    assert by["quiet.bsky.social"].state is AccountState.ACTIVE
    (quiet,) = result.profiles
    assert (quiet.followers, quiet.posts_count, quiet.display_name) == (
        0,
        0,
        None,
    )  # 0 is real; "" is none


async def test_a_failing_feed_keeps_the_profile(
    source: BlueskySource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    fake.inject(FEED, server_error(503))
    result = await source.fetch(refs(Platform.BLUESKY, "bsky.app"), run_id="r", upstream=upstream)

    assert result.profiles[0].followers == 31_456_789 and not result.posts
    (outcome,) = result.outcomes
    assert outcome.state is AccountState.ACTIVE  # a partial success
    assert outcome.error is not None and outcome.error.error_class is ErrorClass.TRANSIENT


async def test_rate_limits_and_malformed_answers_are_per_account(
    source: BlueskySource, fake: FakeUpstream, wire: Wire
) -> None:
    fake.inject(PROFILE, rate_limited("30"), malformed())
    handles = ("bsky.app", "quiet.bsky.social", "bsky.app")
    result = await BlueskySource(base_url=source.base_url, max_posts=0, clock=clock).fetch(
        refs(Platform.BLUESKY, *handles), run_id="r", upstream=wire.upstream
    )
    # The 429's Retry-After paused the shared bucket: the next account waited for it.
    assert isinstance(wire.clock, ManualClock) and sum(wire.clock.sleeps) == pytest.approx(
        30, abs=0.01
    )

    first, second, third = result.outcomes
    assert isinstance(first.error, RateLimitedError) and first.error.retry_after_s == 30.0
    assert first.state is AccountState.UNKNOWN
    assert second.error is not None and second.error.error_class is ErrorClass.MALFORMED
    assert third.error is None and [p.handle for p in result.profiles] == ["bsky.app"]


async def test_an_answer_that_cannot_be_mapped_is_kept_as_the_accounts_raw_item(
    source: BlueskySource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    """A profile without its did cannot become a snapshot; what Bluesky said is kept (the
    item a fixed parser would read again), and the next account is read as usual."""
    broken = {"handle": "bsky.app", "followersCount": 12, "displayName": "no did"}
    fake.inject(PROFILE, json_answer(200, broken))
    result = await BlueskySource(base_url=source.base_url, max_posts=0, clock=clock).fetch(
        refs(Platform.BLUESKY, "bsky.app", "quiet.bsky.social"), run_id="r", upstream=upstream
    )
    first, second = result.outcomes
    assert first.error is not None and first.error.error_class is ErrorClass.MALFORMED
    assert "missing did" in str(first.error)
    assert first.raw == {
        "answers": [
            {"url": f"{source.base_url}{PROFILE}", "status": 200, "body": broken},
        ]
    }
    assert second.error is None and second.raw["profile"]["handle"] == "quiet.bsky.social"
    assert [p.handle for p in result.profiles] == ["quiet.bsky.social"]
