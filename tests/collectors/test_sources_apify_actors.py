"""Each Apify actor's rows mapped to snapshots, over real HTTP against the fake Apify API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collectors.clock import ManualClock
from collectors.http import HttpUpstream
from collectors.sources.apify import ApifyClient
from collectors.sources.apify_actor import ApifyActorSource
from collectors.sources.apify_facebook import FacebookPagesScraper, FacebookPostsScraper
from collectors.sources.apify_instagram import InstagramProfileScraper
from collectors.sources.apify_tiktok import TikTokScraper
from collectors.sources.apify_x import TweetScraper
from collectors.sources.apify_youtube import YouTubeScraper
from collectors.sources.base import AccountRef, AccountState, FetchResult
from collectors.upstream import ErrorClass
from socialpulse.contract import Platform
from tests.collectors.helpers import Wire, Wires
from tests.fakes.apify import TOKEN, ApifyWorld, make_apify
from tests.fakes.core import (
    FakeUpstream,
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


async def test_instagram_profiles_posts_private_and_not_found(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    source = ApifyActorSource(InstagramProfileScraper(), client(server))
    accounts = refs(Platform.INSTAGRAM, "natgeo", "quiet.garden", "ghost_account_xyz")
    result = await source.fetch(accounts, run_id="run-1", upstream=upstream)

    assert result.upstream_calls == 1
    (call,) = fake.calls()
    assert (
        call.method == "POST"
        and call.path == "/v2/acts/apify~instagram-profile-scraper/run-sync-get-dataset-items"
    )
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.json() == {"usernames": ["natgeo", "quiet.garden", "ghost_account_xyz"]}

    profiles = {p.handle: p for p in result.profiles}
    natgeo = profiles["natgeo"]
    assert (natgeo.account_id, natgeo.display_name) == ("787132", "National Geographic")
    assert (natgeo.followers, natgeo.following, natgeo.posts_count) == (283_503_744, 168, 30_342)
    assert natgeo.observed_at == NOW and natgeo.sync_run_id == "run-1"
    assert natgeo.source == "apify:apify/instagram-profile-scraper"
    # A private profile still shows its counts: a snapshot and the PRIVATE state.
    assert profiles["quiet.garden"].followers == 1834
    outcomes = by_handle(result)
    assert outcomes["natgeo"].state is AccountState.ACTIVE  # type: ignore[attr-defined]
    assert outcomes["natgeo"].raw["id"] == "787132"  # type: ignore[attr-defined]
    assert outcomes["quiet.garden"].state is AccountState.PRIVATE  # type: ignore[attr-defined]
    ghost = outcomes["ghost_account_xyz"]
    assert ghost.state is AccountState.NOT_FOUND and ghost.error.error_class is ErrorClass.NOT_FOUND  # type: ignore[attr-defined]
    assert "ghost_account_xyz" not in profiles

    posts = {p.post_id: p for p in result.posts}
    assert len(posts) == 3  # the fourth has no id: an item error, not a failure
    (item_error,) = result.item_errors
    assert item_error.raw["shortCode"] == "DA1brokenNoId" and "id" in item_error.reason
    reel = posts["3476185562937582283"]
    assert (reel.media_type, reel.likes, reel.comments, reel.views) == (
        "reel",
        98431,
        412,
        1_234_567,
    )
    assert reel.published_at == datetime(2024, 10, 9, 16, 0, 12, tzinfo=UTC)
    assert reel.url == "https://www.instagram.com/p/DA-tEUSRs7L/"
    hidden = posts["3475500131246011392"]
    assert (hidden.media_type, hidden.likes, hidden.comments) == (
        "carousel",
        None,
        230,
    )  # -1: hidden
    image = posts["3474129955110331910"]
    assert (image.likes, image.comments, image.views, image.shares) == (51234, 0, None, None)


async def test_snapshot_ids_are_deterministic(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, wires: Wires
) -> None:
    source = ApifyActorSource(InstagramProfileScraper(), client(server))
    accounts = refs(Platform.INSTAGRAM, "natgeo")
    now = NOW.timestamp()
    here = await wires.make(ManualClock(now))
    first = await source.fetch(accounts, run_id="r", upstream=here.upstream)
    # Another cache space: the same answer at the same time, asked for upstream again.
    elsewhere = await wires.make(ManualClock(now), cache="elsewhere")
    again = await source.fetch(accounts, run_id="r", upstream=elsewhere.upstream)
    assert len(fake.calls(SYNC)) == 2
    ids = [s.snapshot_id for s in (*first.profiles, *first.posts)]
    assert ids == [s.snapshot_id for s in (*again.profiles, *again.posts)]
    assert len(set(ids)) == len(ids)
    later = await wires.make(ManualClock(now + 15 * 60), cache="later")
    other = await source.fetch(accounts, run_id="r", upstream=later.upstream)
    assert other.profiles[0].observed_at == NOW + timedelta(minutes=15)
    assert other.profiles[0].snapshot_id != first.profiles[0].snapshot_id


async def test_a_cached_answer_repeats_its_observation(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, wire: Wire
) -> None:
    source = ApifyActorSource(InstagramProfileScraper(), client(server))
    accounts = refs(Platform.INSTAGRAM, "natgeo")
    first = await source.fetch(accounts, run_id="r", upstream=wire.upstream)
    assert isinstance(wire.clock, ManualClock)
    wire.clock.advance(60)  # inside the cache TTL: no new run, the same observation
    again = await source.fetch(accounts, run_id="r", upstream=wire.upstream)
    assert len(fake.calls(SYNC)) == 1 and again.upstream_calls == 1  # one call, from the cache
    assert [p.snapshot_id for p in again.profiles] == [p.snapshot_id for p in first.profiles]
    assert again.profiles[0].observed_at == NOW


async def test_tiktok_videos_become_one_profile_and_posts(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    source = ApifyActorSource(TikTokScraper(videos_per_profile=10), client(server))
    accounts = refs(
        Platform.TIKTOK, "khaby.lame", "locked.cats", "deleted.user.404", "no.videos.yet"
    )
    result = await source.fetch(accounts, run_id="r", upstream=upstream)

    actor_input = fake.calls()[0].json()
    assert (
        actor_input["profiles"] == [a.handle for a in accounts]
        and actor_input["resultsPerPage"] == 10
    )
    assert actor_input["shouldDownloadVideos"] is False
    khaby = next(p for p in result.profiles if p.handle == "khaby.lame")
    assert (khaby.account_id, khaby.display_name) == ("127905465618821121", "Khabane lame")
    assert (khaby.followers, khaby.following, khaby.posts_count) == (162_300_000, 79, 1291)
    posts = {p.post_id: p for p in result.posts if p.account_id == khaby.account_id}
    video = posts["7433206215489309985"]
    assert (video.likes, video.comments, video.shares, video.saves, video.views) == (
        1_200_000,
        9876,
        15400,
        40211,
        20_400_000,
    )
    assert video.media_type == "video" and video.published_at == datetime(
        2024, 11, 4, 19, 45, 2, tzinfo=UTC
    )
    slideshow = posts["7431002291742805280"]
    assert slideshow.media_type == "slideshow"
    assert slideshow.published_at == datetime(
        2024, 10, 29, 21, 12, 53, tzinfo=UTC
    )  # epoch createTime
    assert (slideshow.shares, slideshow.saves) == (0, None)  # a real zero; collectCount absent
    states = {o.account.handle: o.state for o in result.outcomes}
    assert states == {
        "khaby.lame": AccountState.ACTIVE,
        "locked.cats": AccountState.PRIVATE,
        "deleted.user.404": AccountState.NOT_FOUND,
        "no.videos.yet": AccountState.UNKNOWN,  # no row at all: missing, not "zero videos"
    }
    assert len(by_handle(result)["khaby.lame"].raw) == 2  # type: ignore[attr-defined]


async def test_facebook_pages_and_posts(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    pages = ApifyActorSource(FacebookPagesScraper(), client(server))
    result = await pages.fetch(
        refs(Platform.FACEBOOK, "nasa", "this.page.is.gone"), run_id="r", upstream=upstream
    )
    assert fake.calls()[0].json() == {
        "startUrls": [
            {"url": "https://www.facebook.com/nasa"},
            {"url": "https://www.facebook.com/this.page.is.gone"},
        ]
    }
    (page,) = result.profiles
    assert (page.account_id, page.handle, page.followers, page.following, page.posts_count) == (
        "54971236771",
        "NASA",
        27_812_345,
        62,
        None,
    )
    assert by_handle(result)["this.page.is.gone"].state is AccountState.NOT_FOUND  # type: ignore[attr-defined]

    posts_source = ApifyActorSource(FacebookPostsScraper(posts_per_page=5), client(server))
    known = AccountRef(Platform.FACEBOOK, "nasa", account_id="54971236771")
    posts = await posts_source.fetch([known], run_id="r", upstream=upstream)
    assert fake.calls()[-1].json()["resultsLimit"] == 5
    assert not posts.profiles
    by_id = {p.post_id: p for p in posts.posts}
    photo, video = by_id["1054987372666578"], by_id["1054212012744114"]
    assert {p.account_id for p in posts.posts} == {"54971236771"}
    assert (photo.media_type, photo.likes, photo.comments, photo.shares, photo.views) == (
        "photo",
        15321,
        811,
        1204,
        None,
    )
    assert photo.published_at == datetime(2024, 11, 4, 17, 30, 1, tzinfo=UTC)
    assert (video.media_type, video.views) == ("video", 190_234)
    assert video.published_at == datetime(2024, 11, 3, 17, 30, tzinfo=UTC)  # epoch timestamp


async def test_x_tweet_scraper_skips_retweets_and_placeholder_rows(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    source = ApifyActorSource(TweetScraper(tweets_per_account=10), client(server))
    result = await source.fetch(
        refs(Platform.X, "NASA", "nobody_tweets_here"), run_id="r", upstream=upstream
    )

    assert fake.calls()[0].json() == {
        "twitterHandles": ["NASA", "nobody_tweets_here"],
        "maxItems": 20,
        "sort": "Latest",
    }
    (nasa,) = result.profiles
    assert (nasa.account_id, nasa.followers, nasa.following, nasa.posts_count) == (
        "11348282",
        89_012_345,
        181,
        72_345,
    )
    posts = {p.post_id: p for p in result.posts}
    assert set(posts) == {
        "1853541234567890123",
        "1853100000000000001",
    }  # the retweet is someone else's
    launch = posts["1853541234567890123"]
    assert (launch.likes, launch.comments, launch.shares, launch.saves, launch.views) == (
        18000,
        410,
        2420,
        340,
        1_500_000,
    )
    assert (
        launch.published_at == datetime(2024, 11, 4, 18, 2, 11, tzinfo=UTC)
        and launch.media_type == "video"
    )
    quiet = posts["1853100000000000001"]
    assert (quiet.shares, quiet.saves, quiet.views) == (0, None, None)
    assert not result.item_errors  # the noResults placeholder is neither data nor an error
    assert by_handle(result)["nobody_tweets_here"].state is AccountState.UNKNOWN  # type: ignore[attr-defined]


async def test_youtube_scraper_rounds_subscribers_with_a_precision(
    server: tuple[ApifyWorld, FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    source = ApifyActorSource(YouTubeScraper(videos_per_channel=5), client(server))
    result = await source.fetch(refs(Platform.YOUTUBE, "@mkbhd"), run_id="r", upstream=upstream)

    assert fake.calls()[0].json()["startUrls"] == [{"url": "https://www.youtube.com/@mkbhd"}]
    (channel,) = result.profiles
    assert (channel.account_id, channel.followers, channel.posts_count) == (
        "UCBJycsmduvYEL83R_U4JriQ",
        19_600_000,
        1724,
    )
    (outcome,) = result.outcomes
    assert outcome.precision == {"followers": 100_000}
    posts = {p.post_id: p for p in result.posts}
    assert (posts["hx2Q9ZcL9nU"].likes, posts["hx2Q9ZcL9nU"].views) == (150_000, 5_123_456)
    dope = posts["aBcD3fGh1jK"]
    assert (dope.likes, dope.comments, dope.views) == (None, None, 2_100_000)  # hidden, not zero
    assert dope.published_at == NOW - timedelta(weeks=3)  # "3 weeks ago" against the clock
