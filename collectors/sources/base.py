"""What every source provides, and what a fetch returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from collectors.secrets import SecretToken
from collectors.upstream import Upstream, UpstreamError
from socialpulse.contract import Platform, PostSnapshot, ProfileSnapshot


class AccountState(StrEnum):
    ACTIVE = "active"
    PRIVATE = "private"
    NOT_FOUND = "not_found"
    SUSPENDED = "suspended"
    # Our credentials cannot read it: no token stored for the account, or the
    # upstream refused the one we have. Fixed by an operator, not by waiting.
    AUTH_ERROR = "auth_error"
    # No answer about the account this time (a run failed, a batch timed out, the
    # app's own key was refused): ``error`` says why; its last known state stands.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AccountRef:
    """An account to poll: its immutable id when known, else the handle to resolve."""

    platform: Platform
    handle: str
    account_id: str | None = None


# An account's OAuth token (Instagram Graph, LinkedIn), or None when none is stored.
TokenLookup = Callable[[AccountRef], Awaitable[SecretToken | None]]


@dataclass(frozen=True)
class AccountOutcome:
    """Per account: its state, the raw upstream item kept for re-parsing, any error.

    ``state`` ACTIVE with an ``error`` is a partial success: the profile was
    read, its posts were not. ``precision`` holds the rounding step of counts
    the upstream rounds (e.g. ``{"followers": 10000}`` for YouTube), which the
    snapshot records cannot carry yet. ``source`` names the source that read it
    when a routing source handed the account on (else the polled source did).
    """

    account: AccountRef
    state: AccountState
    account_id: str | None = None
    raw: Any = None
    error: UpstreamError | None = None
    precision: Mapping[str, int] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True)
class ItemError:
    """One upstream item (a post, a dataset row) that could not be mapped; the rest were."""

    account: AccountRef | None
    reason: str
    raw: Any = None


@dataclass
class FetchResult:
    profiles: list[ProfileSnapshot] = field(default_factory=list)
    posts: list[PostSnapshot] = field(default_factory=list)
    outcomes: list[AccountOutcome] = field(default_factory=list)
    upstream_calls: int = 0
    item_errors: list[ItemError] = field(default_factory=list)

    def extend(self, other: FetchResult) -> None:
        self.profiles.extend(other.profiles)
        self.posts.extend(other.posts)
        self.outcomes.extend(other.outcomes)
        self.upstream_calls += other.upstream_calls
        self.item_errors.extend(other.item_errors)


class Source(Protocol):
    name: str  # the snapshot's ``source``, e.g. "apify:apify/instagram-profile-scraper"
    platform: Platform
    batch_size: int  # accounts per upstream run/call; 1 for per-account APIs

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        """Fetch up to ``batch_size`` accounts; one bad account never fails the others."""
        ...
