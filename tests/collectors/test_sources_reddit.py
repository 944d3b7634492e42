"""Reddit about.json source over real HTTP against the fake Reddit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from collectors.http import HttpUpstream
from collectors.sources.base import AccountState
from collectors.sources.reddit import RedditSource, split_handle
from collectors.upstream import ErrorClass
from socialpulse.contract import Platform
from tests.collectors.helpers import Wire
from tests.fakes.core import FakeUpstream
from tests.fakes.fixtures import NOW, clock, outcomes, refs
from tests.fakes.reddit import make_reddit

# The real HttpUpstream (cache, token bucket, circuit) keeps its state in Redis.
pytestmark = pytest.mark.redis_db


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeUpstream, str]]:
    fake = make_reddit()
    with fake.running() as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeUpstream, str]) -> FakeUpstream:
    server[0].reset()
    return server[0]


@pytest.fixture
def source(server: tuple[FakeUpstream, str]) -> RedditSource:
    return RedditSource(base_url=server[1], token="reddit-app-token", clock=clock)


@pytest.mark.parametrize(
    ("handle", "expected"),
    [
        ("r/python", ("r", "python")),
        ("/r/Python/", ("r", "Python")),
        ("u/spez", ("user", "spez")),
        ("user/spez", ("user", "spez")),
        ("python", ("r", "python")),
    ],
)
def test_handles(handle: str, expected: tuple[str, str]) -> None:
    assert split_handle(handle) == expected


async def test_subreddits_and_users(source: RedditSource, fake: FakeUpstream, wire: Wire) -> None:
    result = await source.fetch(
        refs(Platform.REDDIT, "r/python", "u/spez"), run_id="r", upstream=wire.upstream
    )

    python, spez = result.profiles
    assert (python.account_id, python.handle, python.display_name, python.followers) == (
        "t5_2qh0y",
        "r/Python",
        "Python",
        1_400_000,
    )
    assert (python.following, python.posts_count) == (None, None)
    assert (spez.account_id, spez.handle, spez.followers) == ("t2_1w72", "u/spez", 31_000)
    calls = fake.calls()
    assert [c.path for c in calls] == ["/r/python/about.json", "/user/spez/about.json"]
    assert all(c.headers["user-agent"].startswith("server:socialpulse") for c in calls)
    assert all(c.headers["authorization"] == "Bearer reddit-app-token" for c in calls)
    limit = wire.received[0].rate_limit(NOW)
    assert limit is not None and (limit.limit, limit.remaining) == (100, 99)
    assert limit.reset_at == NOW + timedelta(seconds=540)


async def test_private_banned_missing_and_suspended(
    source: RedditSource, upstream: HttpUpstream
) -> None:
    handles = (
        "r/secretclub",
        "r/bannedsub",
        "r/doesnotexist",
        "u/suspendeduser",
        "u/nobody_here",
        "r/python",
    )
    result = await source.fetch(refs(Platform.REDDIT, *handles), run_id="r", upstream=upstream)

    by = outcomes(result)
    assert by["r/secretclub"].state is AccountState.PRIVATE
    assert by["r/bannedsub"].state is AccountState.SUSPENDED
    assert by["r/doesnotexist"].state is AccountState.NOT_FOUND  # the search-listing redirect
    assert by["u/suspendeduser"].state is AccountState.SUSPENDED
    assert by["u/nobody_here"].state is AccountState.NOT_FOUND
    assert (
        by["u/nobody_here"].error is not None
        and by["u/nobody_here"].error.error_class is ErrorClass.NOT_FOUND
    )
    assert [p.handle for p in result.profiles] == ["r/Python"]  # the rest never stop it
