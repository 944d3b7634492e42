"""YouTube Data API v3: channel statistics in batches of 50, then recent uploads.

``channels?part=snippet,statistics,contentDetails&id=UC1,UC2,...`` reads up to
50 known channels in one call (1 quota unit); a handle needs its own
``forHandle=`` call. Counts are strings. ``hiddenSubscriberCount: true``
means no subscriber count (never 0), and public subscriber counts are rounded
to three significant figures, so followers carry a precision. Uploads come
from the channel's uploads playlist (``playlistItems``) and their counts from
``videos?part=statistics,snippet`` (1 unit each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collectors.normalize import ParsedCount, count, parse_count, parse_id, parse_timestamp
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import (
    MAPPING_ERRORS,
    Clock,
    CountingUpstream,
    Snapshots,
    dig,
    failed,
    json_classifier,
    malformed,
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
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from socialpulse.contract import Platform, PostSnapshot

UPSTREAM = "youtube"
SUBSCRIBER_FIGURES = 3
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}  # until midnight Pacific time
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_AUTH_REASONS = {"keyInvalid", "keyExpired", "forbidden", "accessNotConfigured", "ipRefererBlocked"}


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    reason = dig(body, "error", "errors", 0, "reason")
    message = f"{reason}: {dig(body, 'error', 'message') or ''}"
    if reason in _QUOTA_REASONS:
        return PermanentError(UPSTREAM, message, error_class=ErrorClass.QUOTA, status=status)
    if reason in _RATE_REASONS:
        return RateLimitedError(UPSTREAM, message, retry_after_s=60.0, status=status)
    if reason in _AUTH_REASONS or "API_KEY_INVALID" in str(dig(body, "error", "details")):
        return PermanentError(UPSTREAM, message, error_class=ErrorClass.AUTH, status=status)
    return None


CLASSIFY = json_classifier(UPSTREAM, _read_error)


@dataclass(frozen=True)
class YouTubeSource:
    api_key: str
    base_url: str = "https://www.googleapis.com/youtube/v3"
    max_posts: int = 20  # newest uploads refreshed per fetch; 0: channel statistics only
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:youtube"
    platform = Platform.YOUTUBE
    batch_size = 50  # channels.list takes up to 50 ids

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        counting = CountingUpstream(upstream)
        snapshots = Snapshots(self.platform, self.name, run_id)
        result = FetchResult()
        known = [a for a in accounts if a.account_id]
        for start in range(0, len(known), self.batch_size):
            batch = known[start : start + self.batch_size]
            ids = ",".join(a.account_id or "" for a in batch)
            result.extend(await self._channels(batch, {"id": ids}, snapshots, counting))
        for account in (a for a in accounts if not a.account_id):
            handle = "@" + account.handle.lstrip("@")
            result.extend(
                await self._channels([account], {"forHandle": handle}, snapshots, counting)
            )
        result.upstream_calls = counting.calls
        return result

    def _request(self, path: str, params: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            method="GET",
            url=f"{self.base_url}/{path}",
            params=params,
            # The key goes in a header, not the URL: URLs end up in logs and cache keys.
            headers={"X-Goog-Api-Key": self.api_key},
            cache_ttl_s=self.cache_ttl_s,
            classify=CLASSIFY,
        )

    async def _channels(
        self,
        accounts: Sequence[AccountRef],
        selector: dict[str, str],
        snapshots: Snapshots,
        upstream: Upstream,
    ) -> FetchResult:
        params = {"part": "snippet,statistics,contentDetails", "maxResults": "50", **selector}
        try:
            response = await upstream.send(self._request("channels", params))
            items = read_json(response, UPSTREAM).get("items") or []
        except UpstreamError as exc:
            return FetchResult(outcomes=[failed(a, exc, batch=True) for a in accounts])
        except MAPPING_ERRORS as exc:
            return FetchResult(outcomes=[failed(a, malformed(UPSTREAM, exc)) for a in accounts])
        observed_at = received_at(response, self.clock)
        by_id = {dig(item, "id"): item for item in items if isinstance(item, dict)}
        result = FetchResult()
        for account in accounts:
            item = by_id.get(account.account_id) if account.account_id else (items or [None])[0]
            if item is None:  # deleted or terminated channels simply do not come back
                message = f"no channel for {account.handle}"
                missing = PermanentError(UPSTREAM, message, error_class=ErrorClass.NOT_FOUND)
                result.outcomes.append(failed(account, missing))
                continue
            try:
                result.extend(await self._channel(account, item, observed_at, snapshots, upstream))
            except MAPPING_ERRORS as exc:
                result.outcomes.append(failed(account, malformed(UPSTREAM, exc), raw=item))
        return result

    async def _channel(
        self,
        account: AccountRef,
        item: dict[str, Any],
        observed_at: datetime,
        snapshots: Snapshots,
        upstream: Upstream,
    ) -> FetchResult:
        channel_id = require(parse_id(item.get("id")), "id")
        subscribers = subscriber_count(item)
        profile = snapshots.profile(
            account_id=channel_id,
            handle=(text(dig(item, "snippet", "customUrl")) or account.handle).lstrip("@"),
            display_name=text(dig(item, "snippet", "title")),
            observed_at=observed_at,
            followers=subscribers.value,
            posts_count=count(dig(item, "statistics", "videoCount")),
        )
        result = FetchResult(profiles=[profile])
        error: UpstreamError | None = None
        uploads = text(dig(item, "contentDetails", "relatedPlaylists", "uploads"))
        videos: list[Any] = []
        if uploads and self.max_posts > 0:
            try:
                videos = await self._uploads(
                    account, channel_id, uploads, snapshots, upstream, result
                )
            except UpstreamError as exc:
                # 404 playlistNotFound: a channel that never uploaded. Anything else:
                # the statistics stand and the videos wait for the next fetch.
                error = None if exc.error_class is ErrorClass.NOT_FOUND else exc
        precision = {"followers": subscribers.precision} if subscribers.precision else {}
        raw = {"channel": item, "videos": videos}
        outcome = AccountOutcome(account, AccountState.ACTIVE, channel_id, raw, error, precision)
        result.outcomes.append(outcome)
        return result

    async def _uploads(
        self,
        account: AccountRef,
        channel_id: str,
        playlist_id: str,
        snapshots: Snapshots,
        upstream: Upstream,
        result: FetchResult,
    ) -> list[Any]:
        params = {
            "part": "contentDetails",
            "playlistId": playlist_id,
            "maxResults": str(min(self.max_posts, 50)),
        }
        listed = read_json(await upstream.send(self._request("playlistItems", params)), UPSTREAM)
        ids = [
            v for v in (dig(i, "contentDetails", "videoId") for i in listed.get("items") or []) if v
        ]
        if not ids:
            return []
        params = {"part": "snippet,statistics", "id": ",".join(ids), "maxResults": "50"}
        response = await upstream.send(self._request("videos", params))
        videos = read_json(response, UPSTREAM).get("items") or []
        observed_at = received_at(response, self.clock)
        mapper = partial(_post, channel_id=channel_id, snapshots=snapshots, observed_at=observed_at)
        result.posts.extend(map_each(videos, account, mapper, result.item_errors))
        return list(videos)


def subscriber_count(channel: dict[str, Any]) -> ParsedCount:
    """Subscribers: none when hidden (whatever number came along), else rounded to 3 figures."""
    stats = channel.get("statistics") or {}
    return parse_count(
        stats.get("subscriberCount"),
        hidden=stats.get("hiddenSubscriberCount"),
        significant_figures=SUBSCRIBER_FIGURES,
    )


def _post(
    video: dict[str, Any], *, channel_id: str, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    video_id = require(parse_id(video.get("id")), "id")
    stats = video.get("statistics") or {}
    return snapshots.post(
        account_id=channel_id,
        post_id=video_id,
        observed_at=observed_at,
        published_at=parse_timestamp(dig(video, "snippet", "publishedAt"), now=observed_at),
        url=f"https://www.youtube.com/watch?v={video_id}",
        media_type="video",
        # Absent when the owner hides likes or turns comments off: None, not 0.
        likes=count(stats.get("likeCount")),
        comments=count(stats.get("commentCount")),
        views=count(stats.get("viewCount")),
    )
