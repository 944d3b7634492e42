"""``apidojo/tweet-scraper`` (Tweet Scraper V2): one row per tweet, author on each.

Input ``{"twitterHandles": [...], "maxItems": n, "sort": "Latest"}``. Rows:
``id``, ``url``, ``createdAt`` (Twitter's legacy "Fri Nov 24 17:46:59 +0000
2023"), ``likeCount``, ``retweetCount``, ``replyCount``, ``quoteCount``,
``viewCount``, ``bookmarkCount``, ``isRetweet``, ``author.id/userName/name/
followers/following/statusesCount``. When nothing is found the actor writes
``{"noResults": true}`` rows, which are skipped. Retweets are the original
author's tweets and are skipped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.normalize import count, parse_id, parse_timestamp, sum_counts
from collectors.sources.apify_actor import RowKey
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import Snapshots, dig, map_each, require, text
from socialpulse.contract import Platform, PostSnapshot


@dataclass(frozen=True)
class TweetScraper:
    actor_id = "apidojo/tweet-scraper"
    platform = Platform.X
    tweets_per_account: int = 20

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]:
        return {
            "twitterHandles": [account.handle.lstrip("@") for account in accounts],
            "maxItems": self.tweets_per_account * len(accounts),  # a total, not per handle
            "sort": "Latest",
        }

    def locate(self, row: dict[str, Any]) -> RowKey:
        author = row.get("author") or {}
        return parse_id(author.get("id")), (author.get("userName"), author.get("url"))

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        author = rows[0].get("author") or {}
        account_id = require(parse_id(author.get("id")), "author.id")
        profile = snapshots.profile(
            account_id=account_id,
            handle=text(author.get("userName")) or account.handle,
            display_name=text(author.get("name")),
            observed_at=observed_at,
            followers=count(author.get("followers")),
            following=count(author.get("following")),
            posts_count=count(author.get("statusesCount")),
        )
        own = [row for row in rows if not row.get("isRetweet")]
        result = FetchResult(profiles=[profile])
        result.posts = map_each(
            own,
            account,
            lambda row: _post(row, account_id, snapshots, observed_at),
            result.item_errors,
        )
        protected = author.get("protected") is True or author.get("isProtected") is True
        state = AccountState.PRIVATE if protected else AccountState.ACTIVE
        result.outcomes.append(AccountOutcome(account, state, account_id, raw=rows))
        return result


def _post(
    row: dict[str, Any], account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    media_kind = dig(row, "extendedEntities", "media", 0, "type")  # photo, video, animated_gif
    return snapshots.post(
        account_id=account_id,
        post_id=require(parse_id(row.get("id")), "id"),
        observed_at=observed_at,
        published_at=parse_timestamp(row.get("createdAt"), now=observed_at),
        url=text(row.get("url")) or text(row.get("twitterUrl")),
        media_type=str(media_kind) if media_kind else "text",
        likes=count(row.get("likeCount")),
        comments=count(row.get("replyCount")),
        # Quotes are shares with a comment; both spread the tweet.
        shares=sum_counts(count(row.get("retweetCount")), count(row.get("quoteCount"))),
        saves=count(row.get("bookmarkCount")),
        views=count(row.get("viewCount")),
    )
