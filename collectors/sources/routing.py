"""One platform, two sources: the platform's own API where the account granted us a token.

Instagram is read through the Graph API for the business accounts that
connected the app (their OAuth token is in the token store) and through the
Apify profile scraper for every other account (competitors, handles). Which
one serves an account is decided per fetch, so a token stored or removed
takes effect on the account's next poll.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from collectors.sources.base import AccountRef, FetchResult, Source
from collectors.upstream import Upstream


class TokenRouted:
    """A :class:`Source` handing each account to ``with_token`` or ``without_token``."""

    def __init__(
        self,
        with_token: Source,
        without_token: Source,
        has_token: Callable[[AccountRef], Awaitable[bool]],
    ) -> None:
        if with_token.platform is not without_token.platform:
            raise ValueError("both sources must serve the same platform")
        self.with_token = with_token
        self.without_token = without_token
        self.has_token = has_token
        self.name = f"{with_token.name}|{without_token.name}"
        self.platform = with_token.platform
        # Batches are cut for the batched source; the per-account one takes its share
        # of each batch one account at a time, beside it.
        self.batch_size = max(with_token.batch_size, without_token.batch_size)

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        owned = await asyncio.gather(*(self.has_token(account) for account in accounts))
        mine = [a for a, has in zip(accounts, owned, strict=True) if has]
        rest = [a for a, has in zip(accounts, owned, strict=True) if not has]
        parts = await asyncio.gather(
            _fetch(self.with_token, mine, run_id, upstream),
            _fetch(self.without_token, rest, run_id, upstream),
        )
        result = FetchResult()
        for part in parts:
            result.extend(part)
        return result


async def _fetch(
    source: Source, accounts: Sequence[AccountRef], run_id: str, upstream: Upstream
) -> FetchResult:
    if not accounts:
        return FetchResult()
    result = await source.fetch(accounts, run_id=run_id, upstream=upstream)
    # Which source read each account: its snapshots say so, and so must its raw item.
    result.outcomes = [
        dataclasses.replace(outcome, source=outcome.source or source.name)
        for outcome in result.outcomes
    ]
    return result
