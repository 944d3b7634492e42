"""Apify actor sources: one actor run per batch of accounts, rows mapped per account.

An actor's dataset is a flat list of rows (profiles, videos, tweets, error
rows) in no particular order. Rows are grouped by the account they belong to
(matched by immutable id first, then by handle or profile URL), each group is
mapped by the actor's :class:`ActorMapping`, and every requested account ends
with an outcome: mapped, an error row's state, or "missing from the dataset".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from collectors.sources.apify import UPSTREAM, ApifyClient
from collectors.sources.base import AccountRef, FetchResult, ItemError
from collectors.sources.common import (
    MAPPING_ERRORS,
    CountingUpstream,
    Snapshots,
    failed,
    malformed,
)
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    TransientError,
    Upstream,
    UpstreamError,
)
from socialpulse.contract import Platform

RowKey = tuple[Any, Sequence[Any]]  # (immutable account id or None, handles or profile URLs)


class ActorMapping(Protocol):
    """How one actor's input is built and its dataset rows become snapshots."""

    actor_id: str
    platform: Platform

    def build_input(self, accounts: Sequence[AccountRef]) -> dict[str, Any]: ...

    def locate(self, row: dict[str, Any]) -> RowKey:
        """Which account a row is about."""
        ...

    def map_account(
        self,
        account: AccountRef,
        rows: list[dict[str, Any]],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        """One account's snapshots and outcome from its (non-error) rows."""
        ...


class ApifyActorSource:
    """A :class:`Source` running one actor per batch of up to ``batch_size`` accounts."""

    def __init__(self, mapping: ActorMapping, client: ApifyClient, *, batch_size: int = 50) -> None:
        self.mapping = mapping
        self.client = client
        self.name = f"apify:{mapping.actor_id}"
        self.platform = mapping.platform
        self.batch_size = batch_size

    async def fetch(
        self, accounts: Sequence[AccountRef], *, run_id: str, upstream: Upstream
    ) -> FetchResult:
        counting = CountingUpstream(upstream)
        result = FetchResult()
        for start in range(0, len(accounts), self.batch_size):
            batch = accounts[start : start + self.batch_size]
            result.extend(await self._batch(batch, run_id, counting))
        result.upstream_calls = counting.calls
        return result

    async def _batch(
        self, batch: Sequence[AccountRef], run_id: str, upstream: Upstream
    ) -> FetchResult:
        actor_input = self.mapping.build_input(batch)
        try:
            run = await self.client.run_actor(self.mapping.actor_id, actor_input, upstream)
        except UpstreamError as exc:
            return FetchResult(outcomes=[failed(account, exc, batch=True) for account in batch])
        snapshots = Snapshots(self.platform, self.name, run_id)
        result = self._map_rows(run.items, batch, snapshots, run.received_at)
        seen = {outcome.account for outcome in result.outcomes}
        where = f"run {run.run_id}" if run.run_id else "the sync run"
        for account in batch:
            if account not in seen:  # e.g. the run timed out before reaching it
                message = f"{account.handle}: not in the dataset of {where} ({run.status})"
                result.outcomes.append(
                    failed(account, TransientError(UPSTREAM, message), batch=True)
                )
        return result

    def _map_rows(
        self,
        items: Sequence[Any],
        batch: Sequence[AccountRef],
        snapshots: Snapshots,
        observed_at: datetime,
    ) -> FetchResult:
        result = FetchResult()
        rows, error_rows = self._group(items, batch, result.item_errors)
        for account, row in error_rows.items():
            if account not in rows:  # a data row wins over an error row for the same account
                result.outcomes.append(failed(account, row_error(row), raw=row))
        for account, account_rows in rows.items():
            try:
                result.extend(
                    self.mapping.map_account(account, account_rows, snapshots, observed_at)
                )
            except MAPPING_ERRORS as exc:
                result.outcomes.append(failed(account, malformed(UPSTREAM, exc), raw=account_rows))
        return result

    def _group(
        self, items: Sequence[Any], batch: Sequence[AccountRef], errors: list[ItemError]
    ) -> tuple[dict[AccountRef, list[dict[str, Any]]], dict[AccountRef, dict[str, Any]]]:
        matcher = AccountMatcher(batch)
        rows: dict[AccountRef, list[dict[str, Any]]] = {}
        error_rows: dict[AccountRef, dict[str, Any]] = {}
        for row in items:
            if not isinstance(row, dict) or row.get("noResults") or row.get("demo"):
                continue  # actors' "nothing found" placeholder rows carry no data
            account_id, handles = self.mapping.locate(row)
            account = matcher.match(account_id=account_id, handles=handles)
            if account is None:
                errors.append(ItemError(None, "row matches no requested account", row))
            elif row.get("error"):
                error_rows[account] = row
            else:
                rows.setdefault(account, []).append(row)
        return rows, error_rows


def row_error(row: dict[str, Any]) -> UpstreamError:
    """An actor's error row (``{"error": "not_found", "errorDescription": ...}``), typed."""
    described = " ".join(
        str(row[k]) for k in ("error", "errorDescription", "message") if row.get(k)
    )
    lowered = described.lower().replace("_", " ")
    for words, error_class in _ROW_ERROR_WORDS:
        if any(word in lowered for word in words):
            return PermanentError(UPSTREAM, described, error_class=error_class)
    return TransientError(UPSTREAM, f"actor could not read the account: {described}")


_ROW_ERROR_WORDS = (
    (
        (
            *("not found", "does not exist", "doesn't exist", "no such", "unavailable"),
            *("couldn't find", "could not find", "can't find", "isn't available"),
        ),
        ErrorClass.NOT_FOUND,
    ),
    (("private",), ErrorClass.PRIVATE),
    (("suspended", "banned", "terminated", "disabled"), ErrorClass.SUSPENDED),
)


class AccountMatcher:
    """Finds which requested account a dataset row belongs to (by id, handle or URL)."""

    def __init__(self, accounts: Sequence[AccountRef]) -> None:
        self._by_key: dict[str, AccountRef] = {}
        for account in accounts:
            self._by_key[_handle_key(account.handle)] = account
            if account.account_id:
                self._by_key[f"id:{account.account_id}"] = account

    def match(self, *, account_id: Any = None, handles: Sequence[Any] = ()) -> AccountRef | None:
        if account_id is not None and (found := self._by_key.get(f"id:{account_id}")):
            return found
        for handle in handles:
            if (
                isinstance(handle, str)
                and handle
                and (found := self._by_key.get(_handle_key(handle)))
            ):
                return found
        return None


def _handle_key(handle: str) -> str:
    """``@NatGeo``, ``natgeo``, ``https://www.instagram.com/natgeo/`` -> ``natgeo``."""
    value = handle.strip()
    if "://" in value:
        segments = [s for s in urlsplit(value).path.split("/") if s]
        value = segments[-1] if segments else ""
    return value.lstrip("@").lower()
