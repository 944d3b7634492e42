"""What every source shares: the clock, JSON reading, snapshot building, isolation.

Isolation is the rule that matters most here: one account's failure becomes
that account's :class:`AccountOutcome`, and one unreadable post becomes an
:class:`ItemError`; neither stops the others.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from collectors.secrets import SecretsError, SecretToken
from collectors.sources.base import (
    AccountOutcome,
    AccountRef,
    AccountState,
    FetchResult,
    ItemError,
    TokenLookup,
)
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from socialpulse.contract import (
    Platform,
    PostSnapshot,
    ProfileSnapshot,
    from_ms,
    snapshot_id,
    to_ms,
)

Clock = Callable[[], datetime]
T = TypeVar("T")

# What a surprising answer shape raises while mapping (pydantic's ValidationError
# is a ValueError): caught per account or per item, never past the source.
MAPPING_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)

_STATE_BY_CLASS = {
    ErrorClass.AUTH: AccountState.AUTH_ERROR,
    ErrorClass.NOT_FOUND: AccountState.NOT_FOUND,
    ErrorClass.PRIVATE: AccountState.PRIVATE,
    ErrorClass.SUSPENDED: AccountState.SUSPENDED,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class MalformedResponse(UpstreamError):
    """The upstream answered something unreadable (truncated JSON, an HTML error page).

    Retryable: these are usually a proxy's or a deploy's hiccup, gone on the next try.
    """

    error_class, retryable = ErrorClass.MALFORMED, True


ErrorReader = Callable[[int, Any, UpstreamResponse], UpstreamError | None]


def json_classifier(
    upstream: str, on_error: ErrorReader | None = None
) -> Callable[[UpstreamResponse], UpstreamError | None]:
    """An ``UpstreamRequest.classify`` for JSON APIs.

    A 2xx whose body is not JSON is an error (so it is neither cached nor
    mapped); a non-2xx goes to ``on_error(status, parsed_body_or_None, response)``.
    """

    def classify(response: UpstreamResponse) -> UpstreamError | None:
        if 200 <= response.status < 300:
            try:
                json.loads(response.body)
            except ValueError:
                return MalformedResponse(upstream, "2xx answer is not JSON", status=response.status)
            return None
        if on_error is None:
            return None
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        return on_error(response.status, body, response)

    return classify


def read_json(response: UpstreamResponse, upstream: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise MalformedResponse(upstream, f"answer is not JSON: {exc}") from exc


def received_at(response: UpstreamResponse, clock: Clock) -> datetime:
    """When the answer arrived, to the millisecond (what the records can carry)."""
    return from_ms(to_ms(response.received_at or clock()))


def dig(value: Any, *path: str | int) -> Any:
    """``value[p0][p1]...`` or ``None`` when any step is missing or of another type."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


class CountingUpstream:
    """Counts the calls a source makes (``FetchResult.upstream_calls``) and keeps the
    answers of the account at hand (:meth:`answers_of_account`)."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self.calls = 0
        self._answers: list[tuple[UpstreamRequest, UpstreamResponse]] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.calls += 1
        response = await self._upstream.send(request)
        self._answers.append((request, response))
        return response

    def next_account(self) -> None:
        self._answers.clear()

    def answers_of_account(self) -> dict[str, Any]:
        """What the upstream said since :meth:`next_account`, as an item's raw: each answer's
        URL, status and body (JSON when it parses, else text). Not the query parameters:
        some upstreams take the access token there."""
        return {
            "answers": [
                {"url": request.url, "status": response.status, "body": _body(response)}
                for request, response in self._answers
            ]
        }


def _body(response: UpstreamResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class Snapshots:
    """Builds contract records with deterministic ids for one source and run."""

    platform: Platform
    source: str
    run_id: str | None

    def profile(
        self,
        *,
        account_id: str,
        handle: str,
        observed_at: datetime,
        display_name: str | None = None,
        followers: int | None = None,
        following: int | None = None,
        posts_count: int | None = None,
    ) -> ProfileSnapshot:
        observed_ms = to_ms(observed_at)
        return ProfileSnapshot(
            snapshot_id=snapshot_id(self.platform.value, account_id, observed_ms, self.source),
            platform=self.platform,
            account_id=account_id,
            handle=handle,
            display_name=display_name,
            observed_at=from_ms(observed_ms),
            followers=followers,
            following=following,
            posts_count=posts_count,
            source=self.source,
            sync_run_id=self.run_id,
        )

    def post(
        self, *, account_id: str, post_id: str, observed_at: datetime, **fields: Any
    ) -> PostSnapshot:
        """``fields``: published_at, url, media_type, likes, comments, shares, saves, views."""
        observed_ms = to_ms(observed_at)
        return PostSnapshot(
            snapshot_id=snapshot_id(
                self.platform.value, account_id, post_id, observed_ms, self.source
            ),
            platform=self.platform,
            account_id=account_id,
            post_id=post_id,
            observed_at=from_ms(observed_ms),
            source=self.source,
            sync_run_id=self.run_id,
            **fields,
        )


def failed(
    account: AccountRef, error: UpstreamError, *, raw: Any = None, batch: bool = False
) -> AccountOutcome:
    """The outcome of an account that got no snapshot.

    An account-level answer (404 for this handle) says what state the account
    is in; a batch-level failure (the Apify run died) says nothing about it.
    """
    state = AccountState.UNKNOWN if batch else _STATE_BY_CLASS.get(error.error_class)
    return AccountOutcome(
        account=account,
        state=state or AccountState.UNKNOWN,
        account_id=account.account_id,
        raw=raw,
        error=error,
    )


def malformed(upstream: str, exc: BaseException) -> MalformedResponse:
    return MalformedResponse(upstream, f"unexpected answer shape: {type(exc).__name__}: {exc}")


async def each_account(
    accounts: Sequence[AccountRef],
    upstream: str,
    fetch_one: Callable[[AccountRef], Awaitable[FetchResult]],
) -> FetchResult:
    """Fetch accounts one by one; a failure becomes that account's outcome only."""
    result = FetchResult()
    for account in accounts:
        try:
            result.extend(await fetch_one(account))
        except UpstreamError as exc:
            result.outcomes.append(failed(account, exc))
        except MAPPING_ERRORS as exc:
            result.outcomes.append(failed(account, malformed(upstream, exc)))
    return result


async def fetch_per_account(
    name: str,
    platform: Platform,
    upstream_name: str,
    accounts: Sequence[AccountRef],
    run_id: str,
    upstream: Upstream,
    fetch_one: Callable[[AccountRef, Snapshots, CountingUpstream], Awaitable[FetchResult]],
) -> FetchResult:
    """The ``fetch`` of a per-account API: one call chain per account, calls counted."""
    counting = CountingUpstream(upstream)
    snapshots = Snapshots(platform, name, run_id)

    async def one(account: AccountRef) -> FetchResult:
        counting.next_account()
        try:
            return await fetch_one(account, snapshots, counting)
        except MAPPING_ERRORS as exc:
            # The upstream answered and the answer could not be mapped: it is kept as the
            # account's raw item (raw.upstream-items), for a fixed parser to read again.
            error = malformed(upstream_name, exc)
            raw = counting.answers_of_account()
            return FetchResult(outcomes=[failed(account, error, raw=raw)])

    result = await each_account(accounts, upstream_name, one)
    result.upstream_calls = counting.calls
    return result


def map_each(
    items: Iterable[Any],
    account: AccountRef | None,
    map_one: Callable[[Any], T | None],
    errors: list[ItemError],
) -> list[T]:
    """Map items one by one; an unreadable item becomes an ``ItemError``, not a failure."""
    mapped: list[T] = []
    for raw in items:
        try:
            value = map_one(raw)
        except MAPPING_ERRORS as exc:
            errors.append(ItemError(account, f"{type(exc).__name__}: {exc}", raw))
            continue
        if value is not None:
            mapped.append(value)
    return mapped


def require(value: T | None, what: str) -> T:
    """A field a snapshot cannot exist without (an immutable id, above all)."""
    if value is None:
        raise ValueError(f"missing {what}")
    return value


async def access_token(token_for: TokenLookup, account: AccountRef, upstream: str) -> SecretToken:
    """The account's OAuth token; none stored (or none readable) fails that account as AUTH."""
    try:
        token = await token_for(account)
    except SecretsError as exc:
        raise PermanentError(upstream, str(exc), error_class=ErrorClass.AUTH) from exc
    if token is None:
        name = account.account_id or account.handle
        message = (
            f"no access token stored for {account.platform.value}:{name}; store one with "
            f"`socialpulse accounts set-token {account.platform.value} {name}`"
        )
        raise PermanentError(upstream, message, error_class=ErrorClass.AUTH)
    return token


class PostMapper(Protocol):
    def __call__(self, item: Any, *, observed_at: datetime) -> PostSnapshot | None: ...


class PostLimits(Protocol):
    """A source's paging settings: its ``max_posts`` newest posts, ``page_size`` per call."""

    @property
    def max_posts(self) -> int: ...

    @property
    def page_size(self) -> int: ...

    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True)
class Paging:
    """How one account's posts are paged: the call for a page, and how a page reads.

    ``request(limit, cursor)`` makes the call for up to ``limit`` items after
    ``cursor`` (None: the newest); ``read(page)`` answers the page's items and
    the next cursor (None: no more); ``post`` maps one item (None: not a post of
    this account, e.g. a repost).
    """

    upstream_name: str
    request: Callable[[int, str | None], UpstreamRequest]
    read: Callable[[Any], tuple[Sequence[Any], str | None]]
    post: PostMapper


@dataclass(frozen=True)
class Paged:
    """What a posts pass read: every page as answered, and the error that ended it early."""

    pages: list[Any]
    error: UpstreamError | None = None


async def page_posts(
    paging: Paging,
    limits: PostLimits,
    upstream: Upstream,
    account: AccountRef,
    result: FetchResult,
) -> Paged:
    """Page the newest ``limits.max_posts`` posts into ``result.posts``.

    A failure ends the pass, not the fetch: the profile already read stands and
    the posts wait for the next poll (a partial success, ``Paged.error``).
    """
    pages: list[Any] = []
    seen, cursor = 0, None
    try:
        while seen < limits.max_posts:
            wanted = min(limits.page_size, limits.max_posts - seen)
            response = await upstream.send(paging.request(wanted, cursor))
            page = read_json(response, paging.upstream_name)
            pages.append(page)
            found, cursor = paging.read(page)
            items = list(found)[: limits.max_posts - seen]
            seen += len(items)
            observed_at = received_at(response, limits.clock)
            result.posts.extend(
                map_each(
                    items,
                    account,
                    lambda item: paging.post(item, observed_at=observed_at),  # noqa: B023 - called here
                    result.item_errors,
                )
            )
            if not cursor or not items:
                break
    except UpstreamError as exc:
        return Paged(pages, exc)
    except MAPPING_ERRORS as exc:  # a page of another shape than documented
        return Paged(pages, malformed(paging.upstream_name, exc))
    return Paged(pages)
