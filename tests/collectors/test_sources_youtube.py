"""YouTube Data API v3 source over real HTTP against the fake API."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.http import HttpUpstream
from collectors.sources.base import AccountRef, AccountState
from collectors.sources.youtube import YouTubeSource
from collectors.upstream import ErrorClass, RateLimitedError
from socialpulse.contract import Platform
from tests.fakes.core import FakeUpstream
from tests.fakes.fixtures import clock, outcomes
from tests.fakes.youtube import API_KEY, google_error, make_youtube

MKBHD = "UCBJycsmduvYEL83R_U4JriQ"

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_youtube()
    with fake.running() as url:
        yield fake, f"{url}/youtube/v3"


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


@pytest.fixture
def source(server: tuple[FakeUpstream, str]) -> YouTubeSource:
    return YouTubeSource(api_key=API_KEY, base_url=server[1], max_posts=10, clock=clock)


def channel(channel_id: str | None, handle: str = "") -> AccountRef:
    return AccountRef(Platform.YOUTUBE, handle or str(channel_id), account_id=channel_id)


async def test_statistics_precision_hidden_counts_and_uploads(
    source: YouTubeSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        channel(MKBHD),
        channel("UChiddenSubs00000000000A"),
        channel("UCsmallChannel0000000000"),
    ]
    result = await source.fetch(accounts, run_id="r", upstream=upstream)

    (listing,) = fake.calls("/youtube/v3/channels")  # three known ids: one call
    assert listing.param("id") == ",".join(a.account_id or "" for a in accounts)
    assert listing.headers["x-goog-api-key"] == API_KEY and "key" not in listing.query
    profiles = {p.account_id: p for p in result.profiles}
    mkbhd = profiles[MKBHD]
    assert (mkbhd.handle, mkbhd.display_name, mkbhd.followers, mkbhd.posts_count) == (
        "mkbhd",
        "Marques Brownlee",
        19_600_000,
        1724,
    )
    assert profiles["UChiddenSubs00000000000A"].followers is None  # hidden: null, not the "0" sent
    assert profiles["UCsmallChannel0000000000"].followers == 987
    by = {o.account_id: o for o in result.outcomes}
    assert by[MKBHD].precision == {"followers": 100_000}  # 3 significant figures
    assert by["UCsmallChannel0000000000"].precision == {}  # under 1000: exact
    assert by["UCsmallChannel0000000000"].error is None  # no uploads yet is not an error
    assert by["UChiddenSubs00000000000A"].error is None  # 404 playlistNotFound: never uploaded

    posts = {p.post_id: p for p in result.posts}
    assert set(posts) == {"hx2Q9ZcL9nU", "aBcD3fGh1jK", "zZ9yY8xX7wW"}
    review = posts["hx2Q9ZcL9nU"]
    assert (review.views, review.likes, review.comments, review.shares) == (
        5_123_456,
        150_000,
        12_000,
        None,
    )
    assert review.published_at == datetime(2024, 9, 17, 13, 0, 5, tzinfo=UTC)
    assert review.url == "https://www.youtube.com/watch?v=hx2Q9ZcL9nU"
    hidden = posts["aBcD3fGh1jK"]
    assert (hidden.views, hidden.likes, hidden.comments) == (2_100_000, None, None)
    fresh = posts["zZ9yY8xX7wW"]
    assert (fresh.views, fresh.likes, fresh.comments) == (0, 0, 0)  # real zeros stay zeros
    assert (
        fake.calls("/youtube/v3/playlistItems")[0].param("playlistId") == "UUBJycsmduvYEL83R_U4JriQ"
    )


@pytest.mark.parametrize("count", [50, 51, 120])
async def test_known_channels_go_50_to_a_call(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream, count: int
) -> None:
    source = YouTubeSource(api_key=API_KEY, base_url=server[1], max_posts=0, clock=clock)
    accounts = [channel(f"UCsynth{i}") for i in range(count)]
    result = await source.fetch(accounts, run_id="r", upstream=upstream)

    assert result.upstream_calls == math.ceil(count / 50) == len(fake.calls())
    assert sorted(p.followers or 0 for p in result.profiles) == sorted(
        1000 * (i + 1) for i in range(count)
    )


async def test_handles_resolve_one_by_one_and_unknown_is_not_found(
    source: YouTubeSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        channel(None, "mkbhd"),
        channel(None, "@nosuchchannel"),
        channel("UCdeletedChannel00000000"),
    ]
    result = await YouTubeSource(
        api_key=API_KEY, base_url=source.base_url, max_posts=0, clock=clock
    ).fetch(accounts, run_id="r", upstream=upstream)

    handles = [
        c.param("forHandle") for c in fake.calls("/youtube/v3/channels") if c.param("forHandle")
    ]
    assert handles == ["@mkbhd", "@nosuchchannel"]
    assert [p.account_id for p in result.profiles] == [MKBHD]
    by = outcomes(result)
    assert by["@nosuchchannel"].state is AccountState.NOT_FOUND
    assert by["UCdeletedChannel00000000"].state is AccountState.NOT_FOUND


@pytest.mark.parametrize(
    ("reason", "error_class"),
    [
        ("quotaExceeded", ErrorClass.QUOTA),
        ("dailyLimitExceeded", ErrorClass.QUOTA),
        ("rateLimitExceeded", ErrorClass.RATE_LIMITED),
    ],
)
async def test_quota_and_rate_errors(
    source: YouTubeSource,
    fake: FakeUpstream,
    upstream: HttpUpstream,
    reason: str,
    error_class: ErrorClass,
) -> None:
    response = google_error(
        403, reason, "The request cannot be completed because you have exceeded your quota."
    )
    fake.inject("/youtube/v3/channels", _as_injected(response))
    result = await source.fetch(
        [channel(MKBHD), channel("UCsmallChannel0000000000")], run_id="r", upstream=upstream
    )

    assert not result.profiles
    for outcome in result.outcomes:
        assert outcome.error is not None and outcome.error.error_class is error_class
        assert outcome.state is AccountState.UNKNOWN
    if error_class is ErrorClass.RATE_LIMITED:
        assert isinstance(result.outcomes[0].error, RateLimitedError)


async def test_a_wrong_key_is_an_auth_error(
    server: tuple[FakeUpstream, str], upstream: HttpUpstream
) -> None:
    source = YouTubeSource(api_key="wrong", base_url=server[1], clock=clock)
    result = await source.fetch([channel(MKBHD)], run_id="r", upstream=upstream)
    (outcome,) = result.outcomes
    assert outcome.error is not None and outcome.error.error_class is ErrorClass.AUTH


async def test_failing_uploads_keep_the_statistics(
    source: YouTubeSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    fake.inject(
        "/youtube/v3/videos",
        _as_injected(google_error(500, "backendError", "Backend Error", "global")),
    )
    result = await source.fetch([channel(MKBHD)], run_id="r", upstream=upstream)
    assert result.profiles[0].followers == 19_600_000 and not result.posts
    (outcome,) = result.outcomes
    assert outcome.state is AccountState.ACTIVE and outcome.error is not None
    assert outcome.error.error_class is ErrorClass.TRANSIENT


def _as_injected(response: object) -> object:
    from tests.fakes.core import Injected

    return Injected(response.status_code, response.body, {"content-type": "application/json"})  # type: ignore[attr-defined]
