"""Reddit subreddits and users through ``about.json``.

``GET /r/{name}/about.json`` -> ``data.name`` (the fullname ``t5_...``, the
immutable id), ``data.display_name``, ``data.title``, ``data.subscribers``;
``GET /user/{name}/about.json`` -> ``data.name`` is the username there and
the id is ``t2_`` + ``data.id``; followers are ``data.subreddit.subscribers``
(the user's profile subreddit). Quirks: a private subreddit answers 403
``{"reason": "private"}``, a banned one 404 ``{"reason": "banned"}``, a
missing one may redirect to a search listing (200, ``kind: Listing``); a
suspended user answers 200 with only ``name`` and ``is_suspended: true``.
Handles: ``r/python``, ``u/spez`` (or ``user/spez``); a bare name is a subreddit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collectors.normalize import count, parse_id
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.sources.common import (
    Clock,
    Snapshots,
    dig,
    fetch_per_account,
    json_classifier,
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
from socialpulse.contract import Platform

UPSTREAM = "reddit"
_REASONS = {
    "private": ErrorClass.PRIVATE,
    "banned": ErrorClass.SUSPENDED,
    "quarantined": ErrorClass.PRIVATE,  # readable only after an explicit opt-in
    "gold_only": ErrorClass.PRIVATE,
}


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    reason = dig(body, "reason")
    if reason in _REASONS:
        return PermanentError(UPSTREAM, f"{reason}", error_class=_REASONS[reason], status=status)
    if status == 404:
        return PermanentError(
            UPSTREAM, "not found", error_class=ErrorClass.NOT_FOUND, status=status
        )
    return None


CLASSIFY = json_classifier(UPSTREAM, _read_error)


def split_handle(handle: str) -> tuple[str, str]:
    """``r/python`` -> ("r", "python"); ``u/spez``/``user/spez`` -> ("user", "spez")."""
    parts = [p for p in handle.strip().strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0].lower() in ("u", "user"):
        return "user", parts[1]
    if len(parts) >= 2 and parts[0].lower() == "r":
        return "r", parts[1]
    return "r", parts[-1] if parts else handle


@dataclass(frozen=True)
class RedditSource:
    base_url: str = "https://oauth.reddit.com"  # www.reddit.com without a token
    token: str | None = None  # an app-only OAuth token; without one the limits are far lower
    # Reddit's rules: a unique, descriptive User-Agent or you get throttled hard.
    user_agent: str = "server:socialpulse:0.1 (by /u/socialpulse)"
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:reddit"
    platform = Platform.REDDIT
    batch_size = 1

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        return await fetch_per_account(
            self.name, self.platform, UPSTREAM, accounts, run_id, upstream, self._one
        )

    def _request(self, kind: str, name: str) -> UpstreamRequest:
        headers = {"User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return UpstreamRequest(
            upstream=UPSTREAM,
            method="GET",
            url=f"{self.base_url}/{kind}/{name}/about.json",
            params={"raw_json": "1"},
            headers=headers,
            cache_ttl_s=self.cache_ttl_s,
            classify=CLASSIFY,
        )

    async def _one(
        self, account: AccountRef, snapshots: Snapshots, upstream: Upstream
    ) -> FetchResult:
        kind, name = split_handle(account.handle)
        response = await upstream.send(self._request(kind, name))
        body = read_json(response, UPSTREAM)
        if body.get("kind") == "Listing":  # Reddit's redirect to search: no such subreddit
            raise PermanentError(
                UPSTREAM, f"{account.handle}: no such subreddit", error_class=ErrorClass.NOT_FOUND
            )
        data = body.get("data") or {}
        if data.get("is_suspended") is True:
            outcome = AccountOutcome(account, AccountState.SUSPENDED, account.account_id, raw=body)
            return FetchResult(outcomes=[outcome])
        if kind == "user":
            account_id = require(parse_id(data.get("id")), "data.id")
            account_id = account_id if account_id.startswith("t2_") else f"t2_{account_id}"
            handle = f"u/{text(data.get('name')) or name}"
            title = text(dig(data, "subreddit", "title"))
            followers = count(dig(data, "subreddit", "subscribers"))
        else:
            fullname = (
                parse_id(data.get("name")) or f"t5_{require(parse_id(data.get('id')), 'data.id')}"
            )
            account_id, handle = fullname, f"r/{text(data.get('display_name')) or name}"
            title, followers = text(data.get("title")), count(data.get("subscribers"))
        profile = snapshots.profile(
            account_id=account_id,
            handle=handle,
            display_name=title,
            observed_at=received_at(response, self.clock),
            followers=followers,
        )
        outcome = AccountOutcome(account, AccountState.ACTIVE, account_id, raw=body)
        return FetchResult(profiles=[profile], outcomes=[outcome])
