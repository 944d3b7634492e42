"""Mastodon (and API-compatible servers) through each account's home server.

``GET /api/v1/accounts/lookup?acct=`` resolves a handle, ``GET
/api/v1/accounts/:id`` reads a known one, ``GET /api/v1/accounts/:id/statuses``
pages with ``max_id``. Account ids are only unique on one server, so the
immutable id is ``"<id>@<server>"``. Servers send ``X-RateLimit-Limit``,
``-Remaining`` and an ISO 8601 ``-Reset``, which stay on the response for the
Upstream to honour (``UpstreamResponse.rate_limit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import (
    Clock,
    Paging,
    Snapshots,
    dig,
    fetch_per_account,
    json_classifier,
    page_posts,
    read_json,
    received_at,
    require,
    text,
    utc_now,
)
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from socialpulse.contract import Platform, PostSnapshot, ProfileSnapshot

UPSTREAM = "mastodon"
_MEDIA_TYPES = {"image": "image", "video": "video", "gifv": "video", "audio": "audio"}


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    message = str(dig(body, "error") or f"HTTP {status}")
    if status == 404:
        return PermanentError(UPSTREAM, message, error_class=ErrorClass.NOT_FOUND, status=status)
    if status == 410:  # servers answer Gone for suspended or deleted accounts
        return PermanentError(UPSTREAM, message, error_class=ErrorClass.SUSPENDED, status=status)
    return None


CLASSIFY = json_classifier(UPSTREAM, _read_error)


@dataclass(frozen=True)
class Server:
    """Where an account lives: its server's name and the base URL to call."""

    host: str
    base_url: str


@dataclass(frozen=True)
class _Target:
    server: Server
    local_id: str

    @property
    def account_id(self) -> str:
        return f"{self.local_id}@{self.server.host}"


@dataclass(frozen=True)
class MastodonSource:
    default_server: str = "mastodon.social"  # for bare handles ("gargron")
    # Server name -> base URL, where it is not https://<server> (tests, proxies).
    server_urls: Mapping[str, str] = field(default_factory=dict)
    max_posts: int = 40
    page_size: int = 40  # the API's maximum
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:mastodon"
    platform = Platform.MASTODON
    batch_size = 1

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        return await fetch_per_account(
            self.name, self.platform, UPSTREAM, accounts, run_id, upstream, self._one
        )

    def server(self, host: str) -> Server:
        host = host.lower()
        return Server(host, self.server_urls.get(host, f"https://{host}"))

    def _request(self, server: Server, path: str, params: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=f"{UPSTREAM}:{server.host}",  # each server has its own rate limit
            method="GET",
            url=f"{server.base_url}/api/v1/{path}",
            params=params,
            cache_ttl_s=self.cache_ttl_s,
            classify=CLASSIFY,
        )

    async def _one(
        self, account: AccountRef, snapshots: Snapshots, upstream: Upstream
    ) -> FetchResult:
        if account.account_id:
            local_id, _, host = account.account_id.partition("@")
            server = self.server(host or self.default_server)
            request = self._request(server, f"accounts/{local_id}", {})
        else:
            user, _, host = account.handle.lstrip("@").partition("@")
            server = self.server(host or self.default_server)
            request = self._request(server, "accounts/lookup", {"acct": user})
        response = await upstream.send(request)
        body = read_json(response, UPSTREAM)
        target = _Target(server, require(parse_id(body.get("id")), "id"))
        account_id = target.account_id
        if body.get("suspended") is True:
            # Suspended accounts answer with zeroed counts: no snapshot, just the state.
            return FetchResult(
                outcomes=[AccountOutcome(account, AccountState.SUSPENDED, account_id, raw=body)]
            )
        observed_at = received_at(response, self.clock)
        result = FetchResult(
            profiles=[self._profile(body, account, account_id, observed_at, snapshots)]
        )
        paging = Paging(
            upstream_name=UPSTREAM,
            request=partial(self._statuses_request, target),
            read=_statuses_page,
            post=partial(_post, account_id=account_id, snapshots=snapshots),
        )
        statuses = await page_posts(paging, self, upstream, account, result)
        # A locked account approves its followers; its counts are still public.
        state = AccountState.PRIVATE if body.get("locked") is True else AccountState.ACTIVE
        raw = {"account": body, "statuses": statuses.pages}
        result.outcomes.append(AccountOutcome(account, state, account_id, raw, statuses.error))
        return result

    def _profile(
        self,
        body: dict[str, Any],
        account: AccountRef,
        account_id: str,
        observed_at: datetime,
        snapshots: Snapshots,
    ) -> ProfileSnapshot:
        return snapshots.profile(
            account_id=account_id,
            handle=text(body.get("acct")) or account.handle,
            display_name=text(body.get("display_name")),
            observed_at=observed_at,
            # Some servers (and forks) send -1 for counts the owner chose to hide.
            followers=count(body.get("followers_count")),
            following=count(body.get("following_count")),
            posts_count=count(body.get("statuses_count")),
        )

    def _statuses_request(self, target: _Target, limit: int, max_id: str | None) -> UpstreamRequest:
        params = {"limit": str(limit), "exclude_reblogs": "true"}
        if max_id:
            params["max_id"] = max_id
        return self._request(target.server, f"accounts/{target.local_id}/statuses", params)


def _statuses_page(page: Any) -> tuple[list[Any], str | None]:
    # A bare list; the next page is below its last id (what the Link rel="next" says).
    return (page, parse_id(dig(page, -1, "id"))) if isinstance(page, list) else ([], None)


def _post(
    status: dict[str, Any], *, account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot | None:
    if status.get("reblog"):
        return None  # a boost of someone else's post
    media = _MEDIA_TYPES.get(str(dig(status, "media_attachments", 0, "type")), "text")
    return snapshots.post(
        account_id=account_id,
        post_id=require(parse_id(status.get("id")), "id"),
        observed_at=observed_at,
        published_at=parse_timestamp(status.get("created_at"), now=observed_at),
        url=text(status.get("url")) or text(status.get("uri")),
        media_type=media,
        likes=count(status.get("favourites_count")),
        comments=count(status.get("replies_count")),
        shares=count(status.get("reblogs_count")),
    )
