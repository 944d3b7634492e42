"""``clockworks/tiktok-scraper``: one row per video, the author's profile on every row.

Input ``{"profiles": [...], "resultsPerPage": n, ...}``. Rows carry
``authorMeta.id/name/nickName/fans/following/video/heart/privateAccount``,
``id``, ``createTimeISO`` (or epoch ``createTime``), ``webVideoUrl``,
``diggCount``, ``commentCount``, ``shareCount``, ``collectCount``,
``playCount``. A profile without videos yields no row at all, so it shows as
"missing from the dataset" rather than as a profile with zero videos.
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


@dataclass(frozen=True)
class TikTokScraper:
    actor_id = "clockworks/tiktok-scraper"
    platform = Platform.TIKTOK
    videos_per_profile: int = 20

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]:
        return {
            "profiles": [account.handle.lstrip("@") for account in accounts],
            "resultsPerPage": self.videos_per_profile,
            "profileScrapeSections": ["videos"],
            "profileSorting": "latest",
            # Metadata only: downloads cost storage and run time, hence credits.
            "shouldDownloadVideos": False,
            "shouldDownloadCovers": False,
            "shouldDownloadSubtitles": False,
            "shouldDownloadSlideshowImages": False,
        }

    def locate(self, row: dict[str, Any]) -> RowKey:
        author = row.get("authorMeta") or {}
        handles = (dig(author, "name"), row.get("input"), dig(author, "profileUrl"), row.get("url"))
        return parse_id(dig(author, "id")), handles

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        author = rows[0].get("authorMeta") or {}
        account_id = require(parse_id(author.get("id")), "authorMeta.id")
        profile = snapshots.profile(
            account_id=account_id,
            handle=text(author.get("name")) or account.handle,
            display_name=text(author.get("nickName")),
            observed_at=observed_at,
            followers=count(author.get("fans")),
            following=count(author.get("following")),
            posts_count=count(author.get("video")),
        )
        result = FetchResult(profiles=[profile])
        result.posts = map_each(
            rows,
            account,
            lambda row: _post(row, account_id, snapshots, observed_at),
            result.item_errors,
        )
        private = author.get("privateAccount") is True
        state = AccountState.PRIVATE if private else AccountState.ACTIVE
        result.outcomes.append(AccountOutcome(account, state, account_id, raw=rows))
        return result


def _post(
    row: dict[str, Any], account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    published = row.get("createTimeISO") or row.get("createTime")
    return snapshots.post(
        account_id=account_id,
        post_id=require(parse_id(row.get("id")), "id"),
        observed_at=observed_at,
        published_at=parse_timestamp(published, now=observed_at),
        url=text(row.get("webVideoUrl")),
        media_type="slideshow" if row.get("isSlideshow") else "video",
        likes=count(row.get("diggCount")),
        comments=count(row.get("commentCount")),
        shares=count(row.get("shareCount")),
        saves=count(row.get("collectCount")),
        views=count(row.get("playCount")),
    )
