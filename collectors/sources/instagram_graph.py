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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp
from collectors.secrets import SecretToken
from collectors.sources.base import (
    AccountOutcome,
    AccountRef,
    AccountState,
    FetchResult,
    TokenLookup,
)
from collectors.sources.common import (
    Clock,
    Paging,
    Snapshots,
    access_token,
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
_APP_RATE_CODE = 4  # the app's own limit: every account's requests wait it out
_AUTH_CODES = {102, 190, 10, 200}  # session/token invalid, permission missing
_MEDIA_TYPES = {"IMAGE": "image", "VIDEO": "video", "CAROUSEL_ALBUM": "carousel"}


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    code, subcode = dig(body, "error", "code"), dig(body, "error", "error_subcode")
    message = f"({code}/{subcode}) {dig(body, 'error', 'message') or ''}"
    if code in _RATE_CODES:
        return RateLimitedError(
            UPSTREAM,
            message,
            retry_after_s=_regain_s(response),
            status=status,
            app_wide=code == _APP_RATE_CODE,
        )
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
    token_for: TokenLookup  # each account's OAuth token, from the encrypted token store
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

    def _request(
        self, token: SecretToken, account_id: str, path: str, params: dict[str, str]
    ) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            # Meta limits calls per user (BUC: per IG account), so each account has its
            # own bucket at the family's rate; an app-wide limit (code 4) holds them all.
            rate_key=f"{UPSTREAM}:{account_id}",
            method="GET",
            url=f"{self.base_url}/{path}",
            params=params,
            # In a header, not ?access_token=: URLs end up in logs.
            headers={"Authorization": f"Bearer {token.reveal()}"},
            cache_ttl_s=self.cache_ttl_s,
            classify=CLASSIFY,
        )

    async def _one(
        self, account: AccountRef, snapshots: Snapshots, upstream: Upstream
    ) -> FetchResult:
        if not account.account_id:
            message = f"{account.handle}: the Graph API needs the connected account's ig-user-id"
            raise PermanentError(UPSTREAM, message, error_class=ErrorClass.AUTH)
        token = await access_token(self.token_for, account, UPSTREAM)
        request = self._request(
            token, account.account_id, account.account_id, {"fields": PROFILE_FIELDS}
        )
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
        paging = Paging(
            upstream_name=UPSTREAM,
            request=partial(self._media_request, token, account_id),
            read=_media_page,
            post=partial(_post, account_id=account_id, snapshots=snapshots),
        )
        media = await page_posts(paging, self, upstream, account, result)
        raw = {"profile": body, "media": media.pages}
        outcome = AccountOutcome(account, AccountState.ACTIVE, account_id, raw, media.error)
        result.outcomes.append(outcome)
        return result

    def _media_request(
        self, token: SecretToken, account_id: str, limit: int, after: str | None
    ) -> UpstreamRequest:
        params = {"fields": MEDIA_FIELDS, "limit": str(limit)}
        if after:
            params["after"] = after
        return self._request(token, account_id, f"{account_id}/media", params)


def _media_page(page: Any) -> tuple[list[Any], str | None]:
    # ``paging.next`` is absent on the last page, though ``cursors.after`` is still there.
    after = text(dig(page, "paging", "cursors", "after")) if dig(page, "paging", "next") else None
    return page.get("data") or [], after


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
