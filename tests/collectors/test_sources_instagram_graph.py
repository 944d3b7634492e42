"""Instagram Graph API source over real HTTP against the fake Graph API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.clock import ManualClock
from collectors.http import HttpUpstream
from collectors.sources.base import AccountRef, AccountState
from collectors.sources.instagram_graph import InstagramGraphSource
from collectors.upstream import ErrorClass, RateLimitedError
from socialpulse.contract import Platform
from tests.collectors.helpers import Wire, static_token
from tests.fakes.core import FakeUpstream, json_answer
from tests.fakes.fixtures import clock, outcomes
from tests.fakes.instagram_graph import TOKEN, VERSION, make_instagram_graph

ACME = "17841405822304914"
HARBOR = "17841463510077219"

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_instagram_graph()
    with fake.running() as url:
        yield fake, f"{url}/{VERSION}"


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


def graph(base_url: str, token: str = TOKEN, **options: int) -> InstagramGraphSource:
    return InstagramGraphSource(
        token_for=static_token(token), base_url=base_url, clock=clock, **options
    )


def acme() -> AccountRef:
    return AccountRef(Platform.INSTAGRAM, "acme.coffee", account_id=ACME)


def harbor() -> AccountRef:
    return AccountRef(Platform.INSTAGRAM, "harbor.bakery", account_id=HARBOR)


async def test_profile_and_cursor_paged_media(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    result = await graph(server[1], page_size=2).fetch([acme()], run_id="r", upstream=upstream)

    (profile,) = result.profiles
    assert (profile.account_id, profile.handle, profile.display_name) == (
        ACME,
        "acme.coffee",
        "Acme Coffee",
    )
    assert (profile.followers, profile.following, profile.posts_count) == (10_500, 120, 340)
    pages = fake.calls(f"/{VERSION}/{ACME}/media")
    assert [p.param("after") is None for p in pages] == [True, False, False]
    assert all(
        p.headers["authorization"] == f"Bearer {TOKEN}" and "access_token" not in p.query
        for p in pages
    )
    assert result.upstream_calls == 4
    posts = {p.post_id: p for p in result.posts}
    assert len(posts) == 5
    reel = posts["17895695668004550"]
    assert (reel.media_type, reel.likes, reel.comments, reel.views) == ("reel", 812, 33, None)
    assert reel.published_at == datetime(2024, 11, 19, 15, tzinfo=UTC)  # "+0000" offset
    assert reel.url == "https://www.instagram.com/reel/DCm1a2b3c4d/"
    hidden = posts["17895695668004551"]
    assert (hidden.media_type, hidden.likes, hidden.comments) == (
        "carousel",
        None,
        12,
    )  # likes hidden
    assert (posts["17895695668004552"].likes, posts["17895695668004552"].comments) == (0, 0)


async def test_max_posts_stops_paging(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    result = await graph(server[1], page_size=2, max_posts=3).fetch(
        [acme()], run_id="r", upstream=upstream
    )
    assert [p.param("limit") for p in fake.calls(f"/{VERSION}/{ACME}/media")] == ["2", "1"]
    assert len(result.posts) == 3


async def test_unknown_ids_handles_and_expired_tokens(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        AccountRef(Platform.INSTAGRAM, "gone", account_id="17840000000000000"),
        AccountRef(Platform.INSTAGRAM, "handle.only"),
        acme(),
    ]
    result = await graph(server[1]).fetch(accounts, run_id="r", upstream=upstream)
    by = outcomes(result)
    assert by["gone"].state is AccountState.NOT_FOUND  # code 100, subcode 33
    assert (
        by["handle.only"].error is not None
        and by["handle.only"].error.error_class is ErrorClass.AUTH
    )
    assert by["handle.only"].state is AccountState.AUTH_ERROR  # not readable with our tokens
    assert by["acme.coffee"].state is AccountState.ACTIVE
    assert len(fake.calls()) == 1 + 2  # nothing sent for the handle-only account

    expired = await graph(server[1], token="expired").fetch([acme()], run_id="r", upstream=upstream)
    (outcome,) = expired.outcomes
    assert outcome.error is not None and outcome.error.error_class is ErrorClass.AUTH  # code 190
    assert "190" in str(outcome.error) and outcome.state is AccountState.AUTH_ERROR


def limit_account(fake: FakeUpstream, account_id: str, minutes: int) -> None:
    """The account's next profile read answers Meta's per-IG-account limit (BUC, #80002)."""
    usage = json.dumps(
        {
            account_id: [
                {"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": minutes}
            ]
        }
    )
    body = {
        "error": {
            "message": "(#80002) There have been too many calls to this Instagram account.",
            "type": "OAuthException",
            "code": 80002,
        }
    }
    headers = {"x-business-use-case-usage": usage}
    fake.inject(f"/{VERSION}/{account_id}", json_answer(400, body, headers))


async def test_graph_rate_limits_wait_for_the_usage_header(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    limit_account(fake, ACME, minutes=15)
    result = await graph(server[1]).fetch([acme()], run_id="r", upstream=upstream)
    (outcome,) = result.outcomes
    assert isinstance(outcome.error, RateLimitedError) and outcome.error.retry_after_s == 15 * 60
    assert not outcome.error.app_wide


async def test_one_accounts_limit_leaves_the_other_accounts_free(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, wire: Wire
) -> None:
    """Meta counts calls per user: acme's limit must not hold back harbor's polls, while
    acme's own next poll is refused by its bucket without calling Meta."""
    assert isinstance(wire.clock, ManualClock)
    source = graph(server[1])
    limit_account(fake, ACME, minutes=15)
    limited = await source.fetch([acme()], run_id="r1", upstream=wire.upstream)
    assert isinstance(limited.outcomes[0].error, RateLimitedError)

    other = await source.fetch([harbor()], run_id="r2", upstream=wire.upstream)
    assert other.outcomes[0].error is None and other.profiles[0].followers == 2314
    assert len(other.posts) == 2
    assert wire.clock.sleeps == []  # harbor's bucket was free

    calls = len(fake.calls(f"/{VERSION}/{ACME}"))
    again = await source.fetch([acme()], run_id="r3", upstream=wire.upstream)
    error = again.outcomes[0].error
    assert isinstance(error, RateLimitedError) and error.retry_after_s > 14 * 60
    assert len(fake.calls(f"/{VERSION}/{ACME}")) == calls


async def test_the_apps_own_limit_holds_every_account(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, wire: Wire
) -> None:
    """Code 4 is the app's limit, not one user's: every account waits it out."""
    assert isinstance(wire.clock, ManualClock)
    body = {
        "error": {
            "message": "(#4) Application request limit reached",
            "type": "OAuthException",
            "is_transient": True,
            "code": 4,
            "fbtrace_id": "AzQ1xP0b7mR",
        }
    }
    fake.inject(f"/{VERSION}/{HARBOR}", json_answer(400, body))
    source = graph(server[1])
    limited = await source.fetch([harbor()], run_id="r1", upstream=wire.upstream)
    error = limited.outcomes[0].error
    assert isinstance(error, RateLimitedError) and error.app_wide and error.retry_after_s == 60

    other = await source.fetch([acme()], run_id="r2", upstream=wire.upstream)
    assert other.outcomes[0].error is None and other.profiles[0].followers == 10_500
    assert wire.clock.sleeps == [pytest.approx(60)]  # acme waited out the app's hold


async def test_transient_graph_errors_and_partial_media(
    server: tuple[FakeUpstream, str], fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    body = {
        "error": {
            "message": "An unexpected error has occurred.",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
        }
    }
    fake.inject(f"/{VERSION}/{ACME}/media", json_answer(500, body))
    result = await graph(server[1]).fetch([acme()], run_id="r", upstream=upstream)
    assert result.profiles[0].followers == 10_500 and not result.posts
    (outcome,) = result.outcomes
    assert outcome.state is AccountState.ACTIVE and outcome.error is not None
    assert outcome.error.error_class is ErrorClass.TRANSIENT and outcome.error.retryable
