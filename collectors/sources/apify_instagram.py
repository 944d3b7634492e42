"""``apify/instagram-profile-scraper``: profiles plus their ~12 latest posts.

Input ``{"usernames": [...]}``. One row per profile: ``id``, ``username``,
``fullName``, ``followersCount``, ``followsCount``, ``postsCount``,
``private``, ``latestPosts[]``; or an error row ``{"username"|"url",
"error": "not_found"|..., "errorDescription": ...}``. A private profile
still shows its counts, so it yields a snapshot *and* the PRIVATE state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp
from collectors.sources.apify_actor import RowKey
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import Snapshots, map_each, require, text
from socialpulse.contract import Platform, PostSnapshot

_MEDIA_TYPES = {"image": "image", "video": "video", "sidecar": "carousel"}


@dataclass(frozen=True)
class InstagramProfileScraper:
    actor_id = "apify/instagram-profile-scraper"
    platform = Platform.INSTAGRAM

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]:
        return {"usernames": [account.handle.lstrip("@") for account in accounts]}

    def locate(self, row: dict[str, Any]) -> RowKey:
        handles = (row.get("username"), row.get("inputUrl"), row.get("url"), row.get("input"))
        return parse_id(row.get("id")), handles

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        row = rows[0]  # one row per profile
        account_id = require(parse_id(row.get("id")), "id")
        profile = snapshots.profile(
            account_id=account_id,
            handle=text(row.get("username")) or account.handle,
            display_name=text(row.get("fullName")),
            observed_at=observed_at,
            followers=count(row.get("followersCount")),
            following=count(row.get("followsCount")),
            posts_count=count(row.get("postsCount")),
        )
        result = FetchResult(profiles=[profile])
        result.posts = map_each(
            row.get("latestPosts") or [],
            account,
            lambda post: _post(post, account_id, snapshots, observed_at),
            result.item_errors,
        )
        state = AccountState.PRIVATE if row.get("private") is True else AccountState.ACTIVE
        result.outcomes.append(AccountOutcome(account, state, account_id, raw=row))
        return result


def _post(
    post: dict[str, Any], account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    short_code = text(post.get("shortCode"))
    media_type = _MEDIA_TYPES.get(str(post.get("type") or "").lower())
    if post.get("productType") == "clips":
        media_type = "reel"
    views = post.get("videoViewCount")
    return snapshots.post(
        account_id=account_id,
        post_id=require(parse_id(post.get("id")), "post id"),
        observed_at=observed_at,
        published_at=parse_timestamp(post.get("timestamp"), now=observed_at),
        url=text(post.get("url")) or (short_code and f"https://www.instagram.com/p/{short_code}/"),
        media_type=media_type,
        likes=count(post.get("likesCount")),  # -1 when the owner hides like counts
        comments=count(post.get("commentsCount")),
        views=count(views if views is not None else post.get("videoPlayCount")),
    )
