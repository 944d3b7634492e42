"""Mastodon source over real HTTP against the fake server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.http import HttpUpstream
from collectors.sources.base import AccountRef, AccountState
from collectors.sources.mastodon import MastodonSource
from collectors.upstream import ErrorClass
from socialpulse.contract import Platform
from tests.collectors.helpers import Wire
from tests.fakes.core import FakeUpstream
from tests.fakes.fixtures import NOW, clock, outcomes, refs
from tests.fakes.mastodon import make_mastodon

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_mastodon()
    with fake.running() as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


@pytest.fixture
def source(server: tuple[FakeUpstream, str]) -> MastodonSource:
    return MastodonSource(
        server_urls={"mastodon.social": server[1]}, page_size=2, max_posts=10, clock=clock
    )


async def test_lookup_profile_and_max_id_paging(
    source: MastodonSource, fake: FakeUpstream, wire: Wire
) -> None:
    result = await source.fetch(
        refs(Platform.MASTODON, "@Gargron@mastodon.social"), run_id="r", upstream=wire.upstream
    )

    assert fake.calls("/api/v1/accounts/lookup")[0].param("acct") == "Gargron"
    (profile,) = result.profiles
    assert (profile.account_id, profile.handle, profile.display_name) == (
        "1@mastodon.social",
        "Gargron",
        "Eugen Rochko",
    )
    assert (profile.followers, profile.following, profile.posts_count) == (357_412, 731, 78_123)
    pages = fake.calls("/api/v1/accounts/1/statuses")
    assert [(p.param("limit"), p.param("max_id"), p.param("exclude_reblogs")) for p in pages] == [
        ("2", None, "true"),
        ("2", "113510000000000004", "true"),
        ("2", "113480000000000001", "true"),
    ]
    assert result.upstream_calls == 4
    posts = {p.post_id: p for p in result.posts}
    assert set(posts) == {
        "113520000000000005",
        "113510000000000004",
        "113490000000000002",
        "113480000000000001",
    }
    top = posts["113520000000000005"]
    assert (top.account_id, top.likes, top.comments, top.shares, top.saves, top.views) == (
        "1@mastodon.social",
        1200,
        120,
        340,
        None,
        None,
    )
    assert (top.media_type, top.published_at) == ("image", datetime(2024, 11, 20, 12, tzinfo=UTC))
    assert posts["113510000000000004"].media_type == "video"  # gifv
    assert (
        posts["113490000000000002"].url
        == "https://mastodon.social/users/Gargron/statuses/113490000000000002"
    )
    assert posts["113480000000000001"].published_at is None  # unreadable date: null, post kept
    assert {r.upstream for r in wire.sent} == {"mastodon:mastodon.social"}  # a bucket per server


async def test_rate_limit_headers_reach_the_upstream(source: MastodonSource, wire: Wire) -> None:
    await source.fetch(refs(Platform.MASTODON, "Gargron"), run_id="r", upstream=wire.upstream)

    limits = [r.rate_limit(NOW) for r in wire.received]
    assert all(limit is not None and limit.limit == 300 for limit in limits)
    remaining = [limit.remaining for limit in limits if limit]
    assert (
        remaining == sorted(remaining, reverse=True)
        and remaining[0] is not None
        and remaining[0] < 300
    )
    assert all(limit and limit.reset_at and limit.reset_at.tzinfo is not None for limit in limits)


async def test_known_ids_locked_hidden_suspended_and_missing(
    source: MastodonSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        AccountRef(
            Platform.MASTODON, "quietwriter", account_id="109348012345678901@mastodon.social"
        ),
        AccountRef(Platform.MASTODON, "spammer@mastodon.social"),
        AccountRef(Platform.MASTODON, "nobody@mastodon.social"),
    ]
    result = await source.fetch(accounts, run_id="r", upstream=upstream)

    assert fake.calls("/api/v1/accounts/109348012345678901")  # asked by id, not looked up
    (quiet,) = result.profiles
    # Hidden counts come as -1: null, never 0. The status count is still given.
    assert (quiet.followers, quiet.following, quiet.posts_count) == (None, None, 410)
    by = outcomes(result)
    assert by["quietwriter"].state is AccountState.PRIVATE  # locked
    assert by["spammer@mastodon.social"].state is AccountState.SUSPENDED
    assert not fake.calls("/api/v1/accounts/108000000000000042/statuses")  # no zeros emitted
    missing = by["nobody@mastodon.social"]
    assert missing.state is AccountState.NOT_FOUND and missing.error is not None
    assert missing.error.error_class is ErrorClass.NOT_FOUND
