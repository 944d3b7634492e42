"""X API v2: users in batches of 100, then each user's recent tweets.

``GET /2/users?ids=`` (known ids) or ``GET /2/users/by?usernames=`` (handles)
read up to 100 users per call with ``user.fields=public_metrics,protected``;
users that cannot be read come back in ``errors[]`` beside ``data[]`` with a
``.../problems/resource-not-found`` type ("Could not find user" or, titled
"Forbidden", "User has been suspended"). ``GET /2/users/:id/tweets`` pages with
``pagination_token``. A 429 carries no Retry-After: ``x-rate-limit-reset``
(epoch seconds) says when the 15-minute window reopens.
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
    MAPPING_ERRORS,
    Clock,
    CountingUpstream,
    Paged,
    Paging,
    Snapshots,
    dig,
    failed,
    json_classifier,
    malformed,
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
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from socialpulse.contract import Platform, PostSnapshot

UPSTREAM = "x"
USER_FIELDS = "public_metrics,protected,username,name"


def _user_error(problem: dict[str, Any]) -> UpstreamError:
    detail = str(problem.get("detail") or problem.get("title") or "unknown problem")
    lowered = detail.lower()
    if "suspended" in lowered:
        error_class = ErrorClass.SUSPENDED
    elif "not authorized" in lowered or "protected" in lowered:
        error_class = ErrorClass.PRIVATE
    else:
        error_class = ErrorClass.NOT_FOUND
    return PermanentError(UPSTREAM, detail, error_class=error_class)


@dataclass(frozen=True)
class _Timeline:
    user_id: str
    handle: str


@dataclass(frozen=True)
class XApiSource:
    bearer_token: str
    base_url: str = "https://api.x.com"
    max_posts: int = 20  # tweets are the expensive reads on every X plan; 0: profiles only
    page_size: int = 100  # max_results: the API takes 5..100
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:x"
    platform = Platform.X
    batch_size = 100  # users lookups take up to 100 ids or usernames

    def _read_error(
        self, status: int, body: Any, response: UpstreamResponse
    ) -> UpstreamError | None:
        if status == 429:
            now = self.clock()
            limit = response.rate_limit(now)
            wait = (limit.reset_at - now).total_seconds() if limit and limit.reset_at else 60.0
            message = "rate limit window exhausted"
            return RateLimitedError(UPSTREAM, message, retry_after_s=max(wait, 1.0))
        if status == 402 or dig(body, "title") == "CreditsDepleted":
            message = str(dig(body, "detail") or "credits depleted")
            return PermanentError(UPSTREAM, message, error_class=ErrorClass.QUOTA, status=status)
        return None

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        counting = CountingUpstream(upstream)
        snapshots = Snapshots(self.platform, self.name, run_id)
        result = FetchResult()
        known = [a for a in accounts if a.account_id]
        handles = [a for a in accounts if not a.account_id]
        for group, path, key in ((known, "users", "ids"), (handles, "users/by", "usernames")):
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                result.extend(await self._users(batch, path, key, snapshots, counting))
        result.upstream_calls = counting.calls
        return result

    def _request(self, path: str, params: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            method="GET",
            url=f"{self.base_url}/2/{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.bearer_token}"},
            cache_ttl_s=self.cache_ttl_s,
            classify=json_classifier(UPSTREAM, self._read_error),
        )

    async def _users(
        self,
        batch: Sequence[AccountRef],
        path: str,
        key: str,
        snapshots: Snapshots,
        upstream: Upstream,
    ) -> FetchResult:
        values = [a.account_id if key == "ids" else a.handle.lstrip("@") for a in batch]
        params = {key: ",".join(v or "" for v in values), "user.fields": USER_FIELDS}
        try:
            response = await upstream.send(self._request(path, params))
            body = read_json(response, UPSTREAM)
        except UpstreamError as exc:
            return FetchResult(outcomes=[failed(a, exc, batch=True) for a in batch])
        observed_at = received_at(response, self.clock)
        users = {_lookup_key(key, u): u for u in body.get("data") or [] if isinstance(u, dict)}
        problems = {
            str(p.get("value", "")).lower(): p
            for p in body.get("errors") or []
            if isinstance(p, dict)
        }
        result = FetchResult()
        for account, value in zip(batch, values, strict=True):
            lookup = (value or "").lower()
            if (user := users.get(lookup)) is not None:
                try:
                    result.extend(await self._user(account, user, observed_at, snapshots, upstream))
                except MAPPING_ERRORS as exc:
                    result.outcomes.append(failed(account, malformed(UPSTREAM, exc), raw=user))
            else:
                problem = problems.get(lookup, {"detail": f"{value} not in the answer"})
                result.outcomes.append(failed(account, _user_error(problem), raw=problem))
        return result

    async def _user(
        self,
        account: AccountRef,
        user: dict[str, Any],
        observed_at: datetime,
        snapshots: Snapshots,
        upstream: Upstream,
    ) -> FetchResult:
        user_id = require(parse_id(user.get("id")), "id")
        metrics = user.get("public_metrics") or {}
        profile = snapshots.profile(
            account_id=user_id,
            handle=text(user.get("username")) or account.handle,
            display_name=text(user.get("name")),
            observed_at=observed_at,
            followers=count(metrics.get("followers_count")),
            following=count(metrics.get("following_count")),
            posts_count=count(metrics.get("tweet_count")),
        )
        result = FetchResult(profiles=[profile])
        protected = user.get("protected") is True
        tweets = Paged([])
        if not protected:  # a protected timeline is not readable
            timeline = _Timeline(user_id, profile.handle)
            paging = Paging(
                upstream_name=UPSTREAM,
                request=partial(self._tweets_request, user_id),
                read=lambda page: (page.get("data") or [], text(dig(page, "meta", "next_token"))),
                post=partial(_post, timeline=timeline, snapshots=snapshots),
            )
            tweets = await page_posts(paging, self, upstream, account, result)
        state = AccountState.PRIVATE if protected else AccountState.ACTIVE
        raw = {"user": user, "tweets": tweets.pages}
        result.outcomes.append(AccountOutcome(account, state, user_id, raw, tweets.error))
        return result

    def _tweets_request(self, user_id: str, limit: int, token: str | None) -> UpstreamRequest:
        params = {
            "tweet.fields": "public_metrics,created_at,attachments",
            "exclude": "retweets",
            "max_results": str(max(5, limit)),  # the API takes 5..100; extras are dropped
        }
        if token:
            params["pagination_token"] = token
        return self._request(f"users/{user_id}/tweets", params)


def _lookup_key(key: str, user: dict[str, Any]) -> str:
    value = user.get("id") if key == "ids" else user.get("username")
    return str(value or "").lower()


def _post(
    tweet: dict[str, Any], *, timeline: _Timeline, snapshots: Snapshots, observed_at: datetime
) -> PostSnapshot:
    tweet_id = require(parse_id(tweet.get("id")), "id")
    metrics = tweet.get("public_metrics") or {}
    has_media = bool(dig(tweet, "attachments", "media_keys"))
    return snapshots.post(
        account_id=timeline.user_id,
        post_id=tweet_id,
        observed_at=observed_at,
        published_at=parse_timestamp(tweet.get("created_at"), now=observed_at),
        url=f"https://x.com/{timeline.handle}/status/{tweet_id}",
        media_type="media" if has_media else "text",
        likes=count(metrics.get("like_count")),
        comments=count(metrics.get("reply_count")),
        shares=sum_counts(count(metrics.get("retweet_count")), count(metrics.get("quote_count"))),
        saves=count(metrics.get("bookmark_count")),
        views=count(metrics.get("impression_count")),
    )
