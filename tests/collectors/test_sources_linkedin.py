"""LinkedIn organisation followers over real HTTP against the fake REST API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.http import HttpUpstream
from collectors.sources.base import AccountRef, AccountState
from collectors.sources.linkedin import LinkedInSource, seconds_to_utc_midnight
from collectors.upstream import ErrorClass, RateLimitedError
from socialpulse.contract import Platform
from tests.collectors.helpers import static_token
from tests.fakes.core import FakeUpstream, json_answer
from tests.fakes.fixtures import NOW, clock, outcomes
from tests.fakes.linkedin import TOKEN, make_linkedin

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_linkedin()
    with fake.running() as url:
        yield fake, f"{url}/rest"


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


@pytest.fixture
def source(server: tuple[FakeUpstream, str]) -> LinkedInSource:
    return LinkedInSource(token_for=static_token(TOKEN), base_url=server[1], clock=clock)


async def test_followers_by_id_and_by_vanity_name(
    source: LinkedInSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        AccountRef(Platform.LINKEDIN, "linkedin", account_id="urn:li:organization:2414183"),
        AccountRef(Platform.LINKEDIN, "LinkedIn"),
    ]
    result = await source.fetch(accounts, run_id="r", upstream=upstream)

    by_id, by_vanity = result.profiles
    assert (by_id.account_id, by_id.followers, by_id.following, by_id.posts_count) == (
        "2414183",
        27_554_815,
        None,
        None,
    )
    assert (by_vanity.account_id, by_vanity.handle, by_vanity.display_name) == (
        "2414183",
        "linkedin",
        "LinkedIn",
    )
    # Both name one organisation: its follower count is asked for once, then cached.
    sizes = fake.calls("/rest/networkSizes/*")
    assert [s.raw_path for s in sizes] == ["/rest/networkSizes/urn%3Ali%3Aorganization%3A2414183"]
    assert all(s.param("edgeType") == "COMPANY_FOLLOWED_BY_MEMBER" for s in sizes)
    assert all(s.headers["linkedin-version"] == source.version for s in fake.calls())
    assert all(s.headers["x-restli-protocol-version"] == "2.0.0" for s in fake.calls())
    assert fake.calls("/rest/organizations")[0].param("vanityName") == "LinkedIn"
    assert result.upstream_calls == 3  # requests made, the cache's answer among them


async def test_not_admin_unknown_and_daily_limit(
    source: LinkedInSource, fake: FakeUpstream, upstream: HttpUpstream
) -> None:
    accounts = [
        AccountRef(Platform.LINKEDIN, "microsoft", account_id="1035"),
        AccountRef(Platform.LINKEDIN, "no-such-company-xyz"),
        AccountRef(Platform.LINKEDIN, "ghost", account_id="999999"),
    ]
    result = await source.fetch(accounts, run_id="r", upstream=upstream)
    by = outcomes(result)
    assert (
        by["microsoft"].error is not None and by["microsoft"].error.error_class is ErrorClass.AUTH
    )
    assert (
        by["microsoft"].state is AccountState.AUTH_ERROR
    )  # our token's problem, not the company's
    assert by["no-such-company-xyz"].state is AccountState.NOT_FOUND
    assert by["ghost"].state is AccountState.NOT_FOUND
    assert not result.profiles

    fake.inject(
        "/rest/networkSizes/*",
        json_answer(
            429,
            {
                "status": 429,
                "message": "Resource level throttle APPLICATION DAY limit "
                "for calls to this resource is reached.",
            },
        ),
    )
    limited = await source.fetch(accounts[:1], run_id="r", upstream=upstream)
    (outcome,) = limited.outcomes
    assert isinstance(outcome.error, RateLimitedError)
    assert outcome.error.retry_after_s == seconds_to_utc_midnight(NOW) == (13 * 60 + 45) * 60


def test_seconds_to_midnight() -> None:
    assert seconds_to_utc_midnight(datetime(2026, 11, 21, 23, 59, 30, tzinfo=UTC)) == 30
