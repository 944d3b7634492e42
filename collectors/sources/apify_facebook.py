"""Facebook pages through two actors: ``apify/facebook-pages-scraper`` (page
counts) and ``apify/facebook-posts-scraper`` (posts), each a source of its own.

Both take ``{"startUrls": [{"url": "https://www.facebook.com/<page>"}]}``.
Pages rows: ``pageId``, ``pageName`` (the vanity name), ``title``, ``likes``
(page likes, kept only in the raw row: the contract has no field for it),
``followers``, ``followings``. Posts rows: ``postId``, ``url``, ``time``
(ISO) or ``timestamp`` (epoch s), ``likes``, ``comments``, ``shares``,
``viewsCount`` (video posts only), ``facebookUrl`` (the page asked for) and
``user.id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp
from collectors.sources.apify_actor import RowKey
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import Snapshots, dig, map_each, require, text
from socialpulse.contract import Platform, PostSnapshot


def _start_urls(accounts: Sequence[AccountRef]) -> list[dict[str, str]]:
    return [{"url": f"https://www.facebook.com/{a.handle.lstrip('@')}"} for a in accounts]


@dataclass(frozen=True)
class FacebookPagesScraper:
    actor_id = "apify/facebook-pages-scraper"
    platform = Platform.FACEBOOK

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]:
        return {"startUrls": _start_urls(accounts)}

    def locate(self, row: dict[str, Any]) -> RowKey:
        handles = (row.get("pageName"), row.get("facebookUrl"), row.get("pageUrl"), row.get("url"))
        return parse_id(row.get("pageId")), handles

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        row = rows[0]
        account_id = require(parse_id(row.get("pageId")), "pageId")
        profile = snapshots.profile(
            account_id=account_id,
            handle=text(row.get("pageName")) or account.handle,
            display_name=text(row.get("title")),
            observed_at=observed_at,
            followers=count(row.get("followers")),
            following=count(row.get("followings")),
        )
        outcome = AccountOutcome(account, AccountState.ACTIVE, account_id, raw=row)
        return FetchResult(profiles=[profile], outcomes=[outcome])


@dataclass(frozen=True)
class FacebookPostsScraper:
    actor_id = "apify/facebook-posts-scraper"
    platform = Platform.FACEBOOK
    posts_per_page: int = 20

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]:
        return {"startUrls": _start_urls(accounts), "resultsLimit": self.posts_per_page}

    def locate(self, row: dict[str, Any]) -> RowKey:
        page_id = parse_id(row.get("facebookId")) or parse_id(dig(row, "user", "id"))
        return page_id, (row.get("facebookUrl"), row.get("pageName"), row.get("inputUrl"))

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        # The page's immutable id: known from the pages source, else the posts' author.
        page_id = account.account_id or parse_id(dig(rows[0], "user", "id"))
        page_id = page_id or parse_id(rows[0].get("facebookId"))
        account_id = require(page_id, "page id (facebookId / user.id)")
        result = FetchResult()
        result.posts = map_each(
            rows,
            account,
            lambda row: _post(row, account_id, snapshots, observed_at),
            result.item_errors,
        )
        result.outcomes.append(AccountOutcome(account, AccountState.ACTIVE, account_id, raw=rows))
        return result


def _post(
    row: dict[str, Any], account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    published = row.get("time") or row.get("timestamp")
    media = row.get("media") or []
    kind = dig(media, 0, "__typename") or dig(media, 0, "type")
    return snapshots.post(
        account_id=account_id,
        post_id=require(parse_id(row.get("postId")), "postId"),
        observed_at=observed_at,
        published_at=parse_timestamp(published, now=observed_at),
        url=text(row.get("url")),
        media_type=str(kind).lower() if kind else "text",
        likes=count(row.get("likes")),
        comments=count(row.get("comments")),
        shares=count(row.get("shares")),
        views=count(row.get("viewsCount")),
    )
