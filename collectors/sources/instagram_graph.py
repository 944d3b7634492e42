"""Instagram Graph API: connected business and creator accounts, by ig-user-id.

``GET /{ig-user-id}?fields=id,username,name,followers_count,follows_count,
media_count`` and ``GET /{ig-user-id}/media?fields=id,timestamp,like_count,
comments_count,media_type,media_product_type,permalink`` paged with
``paging.cursors.after`` while ``paging.next`` exists. Only accounts that
granted the app access can be read this way, so an account without its
ig-user-id is refused here (Apify's profile scraper covers handles).
``like_count`` is left out when the owner hides likes. Errors are Graph API
errors ``{"error": {"code", "error_subcode", "is_transient", ...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import (
    Clock,
    Snapshots,
    dig,
    fetch_per_account,
    json_classifier,
    map_each,
    read_json,
    received_at,
    require,
    text,
    utc_now,
)
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    RateLimitedError,
    TransientError,
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from socialpulse.contract import Platform, PostSnapshot

UPSTREAM = "instagram_graph"
PROFILE_FIELDS = "id,username,name,followers_count,follows_count,media_count"
MEDIA_FIELDS = "id,timestamp,like_count,comments_count,media_type,media_product_type,permalink"
_RATE_CODES = {4, 17, 32, 613, 80002}  # app, user, page, custom and per-IG-account limits
_AUTH_CODES = {102, 190, 10, 200}  # session/token invalid, permission missing
_MEDIA_TYPES = {"IMAGE": "image", "VIDEO": "video", "CAROUSEL_ALBUM": "carousel"}


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    code, subcode = dig(body, "error", "code"), dig(body, "error", "error_subcode")
    message = f"({code}/{subcode}) {dig(body, 'error', 'message') or ''}"
    if code in _RATE_CODES:
        return RateLimitedError(UPSTREAM, message, retry_after_s=_regain_s(response), status=status)
    if code in _AUTH_CODES or (isinstance(code, int) and 200 <= code < 300):
        return PermanentError(UPSTREAM, message, error_class=ErrorClass.AUTH, status=status)
    if code == 100 and subcode == 33:  # "Object with ID ... does not exist"
        return PermanentError(UPSTREAM, message, error_class=ErrorClass.NOT_FOUND, status=status)
    if dig(body, "error", "is_transient") is True or code in (1, 2):
        return TransientError(UPSTREAM, message, status=status)
    return None


def _regain_s(response: UpstreamResponse) -> float:
    """Seconds until access returns, from X-Business-Use-Case-Usage (given in minutes)."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    try:
        usage = json.loads(headers.get("x-business-use-case-usage", "{}"))
    except ValueError:
        usage = {}
    minutes = [
        entry.get("estimated_time_to_regain_access") or 0
        for entries in (usage.values() if isinstance(usage, dict) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    return max([60.0, *(60.0 * m for m in minutes if isinstance(m, int | float))])


CLASSIFY = json_classifier(UPSTREAM, _read_error)


@dataclass(frozen=True)
class InstagramGraphSource:
    # The access token for an account: per-account OAuth tokens in production.
    token_for: Callable[[AccountRef], str]
    base_url: str = "https://graph.facebook.com/v21.0"
    max_posts: int = 25
    page_size: int = 25
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:instagram_graph"
    platform = Platform.INSTAGRAM
    batch_size = 1

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        return await fetch_per_account(
            self.name, self.platform, UPSTREAM, accounts, run_id, upstream, self._one
        )

    def _request(self, account: AccountRef, path: str, params: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            method="GET",
            url=f"{self.base_url}/{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token_for(account)}"},
            cache_ttl_s=self.cache_ttl_s,
            classify=CLASSIFY,
        )

    async def _one(
        self, account: AccountRef, snapshots: Snapshots, upstream: Upstream
    ) -> FetchResult:
        if not account.account_id:
            message = f"{account.handle}: the Graph API needs the connected account's ig-user-id"
            raise PermanentError(UPSTREAM, message, error_class=ErrorClass.AUTH)
        request = self._request(account, account.account_id, {"fields": PROFILE_FIELDS})
        response = await upstream.send(request)
        body = read_json(response, UPSTREAM)
        account_id = require(parse_id(body.get("id")), "id")
        profile = snapshots.profile(
            account_id=account_id,
            handle=text(body.get("username")) or account.handle,
            display_name=text(body.get("name")),
            observed_at=received_at(response, self.clock),
            followers=count(body.get("followers_count")),
            following=count(body.get("follows_count")),
            posts_count=count(body.get("media_count")),
        )
        result = FetchResult(profiles=[profile])
        pages: list[Any] = []
        error: UpstreamError | None = None
        try:
            await self._media(account, account_id, snapshots, upstream, result, pages)
        except UpstreamError as exc:  # the profile stands; the media wait
            error = exc
        raw = {"profile": body, "media": pages}
        result.outcomes.append(AccountOutcome(account, AccountState.ACTIVE, account_id, raw, error))
        return result

    async def _media(
        self,
        account: AccountRef,
        account_id: str,
        snapshots: Snapshots,
        upstream: Upstream,
        result: FetchResult,
        pages: list[Any],
    ) -> None:
        after: str | None = None
        seen = 0
        while seen < self.max_posts:
            params = {
                "fields": MEDIA_FIELDS,
                "limit": str(min(self.page_size, self.max_posts - seen)),
            }
            if after:
                params["after"] = after
            response = await upstream.send(self._request(account, f"{account_id}/media", params))
            page = read_json(response, UPSTREAM)
            pages.append(page)
            media = page.get("data") or []
            seen += len(media)
            observed_at = received_at(response, self.clock)
            mapper = partial(
                _post, account_id=account_id, snapshots=snapshots, observed_at=observed_at
            )
            result.posts.extend(map_each(media, account, mapper, result.item_errors))
            after = text(dig(page, "paging", "cursors", "after"))
            if not dig(page, "paging", "next") or not after or not media:
                return


def _post(
    media: dict[str, Any], *, account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    media_type = _MEDIA_TYPES.get(str(media.get("media_type")))
    if media.get("media_product_type") == "REELS":
        media_type = "reel"
    return snapshots.post(
        account_id=account_id,
        post_id=require(parse_id(media.get("id")), "id"),
        observed_at=observed_at,
        published_at=parse_timestamp(media.get("timestamp"), now=observed_at),
        url=text(media.get("permalink")),
        media_type=media_type,
        likes=count(media.get("like_count")),
        comments=count(media.get("comments_count")),
    )
