"""Shared pieces of the source tests: the fixed clock, account refs, outcome lookup."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.sources.base import AccountOutcome, AccountRef, FetchResult
from socialpulse.contract import Platform

NOW = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def refs(platform: Platform, *handles: str) -> list[AccountRef]:
    return [AccountRef(platform, handle) for handle in handles]


def outcomes(result: FetchResult) -> dict[str, AccountOutcome]:
    return {o.account.handle: o for o in result.outcomes}
