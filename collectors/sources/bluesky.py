"""Bluesky through the public AppView (no auth): profile, then the author feed.

``app.bsky.actor.getProfile?actor=`` takes a handle or a DID; the DID is the
immutable id (handles are domains and change). ``app.bsky.feed.getAuthorFeed``
pages with ``cursor``. Errors are 400s with an XRPC error name:
``InvalidRequest`` "Profile not found", ``AccountTakedown``,
``AccountDeactivated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp, sum_counts
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
from socialpulse.contract import Platform, PostSnapshot

UPSTREAM = "bluesky"
_ACCOUNT_ERRORS = {
    "AccountTakedown": ErrorClass.SUSPENDED,
    "AccountDeactivated": ErrorClass.NOT_FOUND,  # the owner's choice; may come back
    "InvalidRequest": ErrorClass.NOT_FOUND,  # "Profile not found", or a malformed handle
}
_EMBED_TYPES = {
    "app.bsky.embed.images#view": "image",
    "app.bsky.embed.video#view": "video",
    "app.bsky.embed.external#view": "link",
    "app.bsky.embed.record#view": "quote",
    "app.bsky.embed.recordWithMedia#view": "quote",
}


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    name = dig(body, "error")
    if status == 400 and name in _ACCOUNT_ERRORS:
        message = f"{name}: {dig(body, 'message') or ''}"
        return PermanentError(UPSTREAM, message, error_class=_ACCOUNT_ERRORS[name], status=status)
    return None


CLASSIFY = json_classifier(UPSTREAM, _read_error)


@dataclass(frozen=True)
class BlueskySource:
    base_url: str = "https://public.api.bsky.app"
    max_posts: int = 50  # newest posts refreshed per fetch; 0: profile only
    page_size: int = 50  # getAuthorFeed allows 1-100
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:bluesky"
    platform = Platform.BLUESKY
    batch_size = 1

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        return await fetch_per_account(
            self.name, self.platform, UPSTREAM, accounts, run_id, upstream, self._one
        )

    def _request(self, method: str, params: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            method="GET",
            url=f"{self.base_url}/xrpc/{method}",
            params=params,
            cache_ttl_s=self.cache_ttl_s,
            classify=CLASSIFY,
        )

    async def _one(
        self, account: AccountRef, snapshots: Snapshots, upstream: Upstream
    ) -> FetchResult:
        actor = account.account_id or account.handle.lstrip("@")
        response = await upstream.send(self._request("app.bsky.actor.getProfile", {"actor": actor}))
        body = read_json(response, UPSTREAM)
        did = require(parse_id(body.get("did")), "did")
        observed_at = received_at(response, self.clock)
        profile = snapshots.profile(
            account_id=did,
            handle=text(body.get("handle")) or account.handle,
            display_name=text(body.get("displayName")),
            observed_at=observed_at,
            followers=count(body.get("followersCount")),
            following=count(body.get("followsCount")),
            posts_count=count(body.get("postsCount")),
        )
        result = FetchResult(profiles=[profile])
        paging = Paging(
            upstream_name=UPSTREAM,
            request=partial(self._feed_request, did),
            read=lambda page: (page.get("feed") or [], text(page.get("cursor"))),
            post=partial(_post, did=did, snapshots=snapshots),
        )
        feed = await page_posts(paging, self, upstream, account, result)
        raw = {"profile": body, "feed": feed.pages}
        result.outcomes.append(AccountOutcome(account, AccountState.ACTIVE, did, raw, feed.error))
        return result

    def _feed_request(self, did: str, limit: int, cursor: str | None) -> UpstreamRequest:
        params = {"actor": did, "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return self._request("app.bsky.feed.getAuthorFeed", params)


def _is_own_post(item: Any, did: str) -> bool:
    # Reposts carry a "reason" and someone else's post: not this account's content.
    return (
        isinstance(item, dict)
        and not item.get("reason")
        and dig(item, "post", "author", "did") == did
    )


def _post(
    item: dict[str, Any], *, did: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot | None:
    if not _is_own_post(item, did):
        return None
    post = item["post"]
    uri = require(parse_id(post.get("uri")), "post.uri")  # at://did/app.bsky.feed.post/rkey
    created = parse_timestamp(dig(post, "record", "createdAt"), now=observed_at)
    indexed = parse_timestamp(post.get("indexedAt"), now=observed_at)
    # createdAt is what the client claims; a claim later than the AppView saw the post is wrong.
    published = min(created, indexed) if created and indexed else created or indexed
    return snapshots.post(
        account_id=did,
        post_id=uri,
        observed_at=observed_at,
        published_at=published,
        url=f"https://bsky.app/profile/{did}/post/{uri.rsplit('/', 1)[-1]}",
        media_type=_EMBED_TYPES.get(str(dig(post, "embed", "$type")), "text"),
        likes=count(post.get("likeCount")),
        comments=count(post.get("replyCount")),
        shares=sum_counts(count(post.get("repostCount")), count(post.get("quoteCount"))),
        saves=count(post.get("bookmarkCount")),
    )
