"""``streamers/youtube-scraper``: one row per video, channel fields on each.

Input ``{"startUrls": [{"url": "https://www.youtube.com/@<handle>"}],
"maxResults": n}`` (``/channel/<UC id>`` when the id is known). Rows: ``id``,
``url``, ``date``, ``viewCount``, ``likes``, ``commentsCount``,
``channelId``, ``channelName``, ``channelUrl``, ``numberOfSubscribers``,
``channelTotalVideos``. The subscriber count is read off the page, where
YouTube shows it rounded to three significant figures ("1.23M"), so it comes
with a precision. ``likes``/``commentsCount`` are absent when hidden/disabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.normalize import count, parse_count, parse_id, parse_timestamp
from collectors.sources.apify_actor import RowKey
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import Snapshots, map_each, require, text
from socialpulse.contract import Platform, PostSnapshot

SUBSCRIBER_FIGURES = 3  # YouTube's public subscriber counts are rounded to 3 figures


@dataclass(frozen=True)
class YouTubeScraper:
    actor_id = "streamers/youtube-scraper"
    platform = Platform.YOUTUBE
    videos_per_channel: int = 20

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]:
        return {
            "startUrls": [{"url": _channel_url(account)} for account in accounts],
            "maxResults": self.videos_per_channel,
            "maxResultsShorts": 0,
            "maxResultStreams": 0,
        }

    def locate(self, row: dict[str, Any]) -> RowKey:
        handles = (row.get("inputChannelUrl"), row.get("channelUsername"), row.get("channelUrl"))
        return parse_id(row.get("channelId")), handles

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        row = rows[0]
        account_id = require(parse_id(row.get("channelId")), "channelId")
        subscribers = parse_count(
            row.get("numberOfSubscribers"), significant_figures=SUBSCRIBER_FIGURES
        )
        profile = snapshots.profile(
            account_id=account_id,
            handle=account.handle,
            display_name=text(row.get("channelName")),
            observed_at=observed_at,
            followers=subscribers.value,
            posts_count=count(row.get("channelTotalVideos")),
        )
        result = FetchResult(profiles=[profile])
        result.posts = map_each(
            rows,
            account,
            lambda video: _post(video, account_id, snapshots, observed_at),
            result.item_errors,
        )
        precision = {"followers": subscribers.precision} if subscribers.precision else {}
        outcome = AccountOutcome(
            account, AccountState.ACTIVE, account_id, raw=rows, precision=precision
        )
        result.outcomes.append(outcome)
        return result


def _channel_url(account: AccountRef) -> str:
    if account.account_id:
        return f"https://www.youtube.com/channel/{account.account_id}"
    return f"https://www.youtube.com/@{account.handle.lstrip('@')}"


def _post(
    row: dict[str, Any], account_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    video_id = require(parse_id(row.get("id")), "id")
    return snapshots.post(
        account_id=account_id,
        post_id=video_id,
        observed_at=observed_at,
        # Older actor builds wrote relative dates ("3 weeks ago").
        published_at=parse_timestamp(row.get("date"), now=observed_at),
        url=text(row.get("url")) or f"https://www.youtube.com/watch?v={video_id}",
        media_type="video",
        likes=count(row.get("likes")),
        comments=count(row.get("commentsCount")),
        views=count(row.get("viewCount")),
    )
