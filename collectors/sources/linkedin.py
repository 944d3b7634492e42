"""LinkedIn organisation follower counts (Community Management API).

``GET /rest/networkSizes/urn:li:organization:{id}?edgeType=COMPANY_FOLLOWED_BY_MEMBER``
answers ``{"firstDegreeSize": n}``, the organisation's follower count; the
URN is percent-encoded in the path (Rest.li 2.0). A handle (the vanity name
in ``linkedin.com/company/<vanity>``) is resolved first with
``GET /rest/organizations?q=vanityName&vanityName=``. Every call needs a
``LinkedIn-Version: YYYYMM`` header and a token of an organisation admin
(scope ``rw_organization_admin``); others get 403. Quotas are per day and
reset at midnight UTC; a 429 says nothing about when, so that is the wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from collectors.normalize import count, parse_id, urn_id
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
    Snapshots,
    access_token,
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
    RateLimitedError,
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from socialpulse.contract import Platform

UPSTREAM = "linkedin"


def seconds_to_utc_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


@dataclass(frozen=True)
class LinkedInSource:
    token_for: TokenLookup  # an organisation admin's OAuth token, from the encrypted store
    base_url: str = "https://api.linkedin.com/rest"
    version: str = "202506"  # LinkedIn-Version; each is served for about a year
    cache_ttl_s: float | None = 300.0
    clock: Clock = utc_now
    name = "api:linkedin"
    platform = Platform.LINKEDIN
    batch_size = 1

    def _read_error(
        self, status: int, body: Any, response: UpstreamResponse
    ) -> UpstreamError | None:
        message = f"{dig(body, 'code') or status}: {dig(body, 'message') or ''}"
        if status == 429:
            wait = seconds_to_utc_midnight(self.clock())
            return RateLimitedError(UPSTREAM, f"daily limit: {message}", retry_after_s=wait)
        if status == 404:
            return PermanentError(
                UPSTREAM, message, error_class=ErrorClass.NOT_FOUND, status=status
            )
        return None

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        return await fetch_per_account(
            self.name, self.platform, UPSTREAM, accounts, run_id, upstream, self._one
        )

    def _request(self, token: SecretToken, path: str, params: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            method="GET",
            url=f"{self.base_url}/{path}",
            params=params,
            headers={
                "Authorization": f"Bearer {token.reveal()}",
                "LinkedIn-Version": self.version,
                "X-Restli-Protocol-Version": "2.0.0",
            },
            cache_ttl_s=self.cache_ttl_s,
            classify=json_classifier(UPSTREAM, self._read_error),
        )

    async def _one(
        self, account: AccountRef, snapshots: Snapshots, upstream: Upstream
    ) -> FetchResult:
        token = await access_token(self.token_for, account, UPSTREAM)
        organisation: dict[str, Any] = {}
        org_id = urn_id(account.account_id) if account.account_id else None
        if org_id is None:
            organisation = await self._by_vanity(account, token, upstream)
            org_id = require(parse_id(organisation.get("id")), "organization id")
        urn = quote(f"urn:li:organization:{org_id}", safe="")
        params = {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"}
        response = await upstream.send(self._request(token, f"networkSizes/{urn}", params))
        body = read_json(response, UPSTREAM)
        profile = snapshots.profile(
            account_id=org_id,
            handle=text(organisation.get("vanityName")) or account.handle,
            display_name=text(organisation.get("localizedName")),
            observed_at=received_at(response, self.clock),
            followers=count(body.get("firstDegreeSize")),
        )
        raw = {"organization": organisation or None, "networkSize": body}
        outcome = AccountOutcome(account, AccountState.ACTIVE, org_id, raw=raw)
        return FetchResult(profiles=[profile], outcomes=[outcome])

    async def _by_vanity(
        self, account: AccountRef, token: SecretToken, upstream: Upstream
    ) -> dict[str, Any]:
        params = {"q": "vanityName", "vanityName": account.handle.lstrip("@")}
        response = await upstream.send(self._request(token, "organizations", params))
        elements = read_json(response, UPSTREAM).get("elements") or []
        if not elements or not isinstance(elements[0], dict):
            message = f"no organisation with vanity name {account.handle}"
            raise PermanentError(UPSTREAM, message, error_class=ErrorClass.NOT_FOUND)
        found: dict[str, Any] = elements[0]
        return found
