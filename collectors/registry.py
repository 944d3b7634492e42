"""Tracked accounts: what the collectors poll.

Decision (documented in docs/collectors.md): the ClickHouse ``accounts`` table
is the registry of record — ``socialpulse accounts add`` writes it today and
``POST /v1/accounts`` will — and collectors only *read* it (``FINAL``, deleted
rows hidden), every ``registry_refresh_s``. A TOML file (``accounts_file``)
adds accounts an operator pins by configuration, and in simulator mode the
simulated accounts are added. One account tracked by several workspaces is
polled once. If ClickHouse cannot be read, the last list read stays in force:
an outage of the analytics store must not stop the history being collected.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_connect.driver.client import Client

from collectors import metrics
from collectors.clock import Clock
from collectors.sources.base import AccountRef
from socialpulse.contract import Platform, account_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrackedAccount:
    platform: Platform
    handle: str
    account_id: str | None = None  # the immutable id; None until a source resolved it
    workspaces: frozenset[str] = frozenset()
    # The Kafka key when the id is known; ``platform:@handle`` until then. Computed
    # once: the scheduler looks it up for every account on every pass.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = account_key(self.platform.value, self.account_id or f"@{self.handle}")
        object.__setattr__(self, "key", key)
        # Most accounts share one workspace set; one shared object each saves ~200 B.
        shared = _WORKSPACES.setdefault(self.workspaces, self.workspaces)
        object.__setattr__(self, "workspaces", shared)

    def ref(self) -> AccountRef:
        return AccountRef(self.platform, self.handle, self.account_id)


_WORKSPACES: dict[frozenset[str], frozenset[str]] = {}


def load_file(path: Path) -> list[TrackedAccount]:
    """``[[accounts]]`` tables: ``platform``, ``handle`` and/or ``account_id``, ``workspace``."""
    data = tomllib.loads(path.read_text())
    out = []
    for i, row in enumerate(data.get("accounts", [])):
        if not row.get("handle") and not row.get("account_id"):
            raise ValueError(f"{path}: accounts[{i}] needs a handle or an account_id")
        account_id = str(row["account_id"]) if row.get("account_id") else None
        out.append(
            TrackedAccount(
                platform=Platform(row["platform"]),
                handle=str(row.get("handle") or account_id),
                account_id=account_id,
                workspaces=frozenset([str(row.get("workspace", "default"))]),
            )
        )
    return out


def merge(*groups: Iterable[TrackedAccount]) -> list[TrackedAccount]:
    """One entry per account, its workspaces united; the first handle seen stands."""
    by_key: dict[str, TrackedAccount] = {}
    for account in (a for group in groups for a in group):
        seen = by_key.get(account.key)
        if seen is None:
            by_key[account.key] = account
        elif not account.workspaces <= seen.workspaces:
            by_key[account.key] = TrackedAccount(
                seen.platform, seen.handle, seen.account_id, seen.workspaces | account.workspaces
            )
    return list(by_key.values())


def clickhouse_loader(connect: Callable[[], Client]) -> Callable[[], list[TrackedAccount]]:
    """Reads the ``accounts`` table (read-only); connects on first use, again after a failure."""
    clients: list[Client] = []

    def load() -> list[TrackedAccount]:
        if not clients:
            clients.append(connect())
        try:
            rows = (
                clients[0]
                .query(
                    "SELECT platform, account_id, any(handle), groupUniqArray(workspace)"
                    " FROM accounts FINAL WHERE is_deleted = 0 GROUP BY platform, account_id"
                )
                .result_rows
            )
        except Exception:
            clients.clear()  # reconnect next time
            raise
        out = []
        for platform, account_id, handle, workspaces in rows:
            try:
                out.append(
                    TrackedAccount(Platform(platform), handle, account_id, frozenset(workspaces))
                )
            except ValueError:
                log.warning("accounts table: unknown platform %r ignored", platform)
        return out

    return load


class Registry:
    """The merged list of tracked accounts, refreshed from its sources now and then."""

    def __init__(
        self,
        clock: Clock,
        *,
        static: Sequence[TrackedAccount] = (),
        file: Path | None = None,
        loader: Callable[[], list[TrackedAccount]] | None = None,
        refresh_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._static = list(static)
        self._file = file
        self._loader = loader
        self._refresh_s = refresh_s
        self._loaded: list[TrackedAccount] = []
        self._accounts: list[TrackedAccount] = []
        self._next_refresh = float("-inf")
        self.version = 0  # bumped on every refresh, so users can skip unchanged lists

    async def accounts(self) -> list[TrackedAccount]:
        if self._clock.time() >= self._next_refresh:
            await self.refresh()
        return self._accounts

    async def refresh(self) -> None:
        self._next_refresh = self._clock.time() + self._refresh_s
        from_file = load_file(self._file) if self._file and self._file.exists() else []
        if self._loader is not None:
            try:
                self._loaded = await asyncio.to_thread(self._loader)
            except Exception as exc:  # any failure: keep polling the last list read
                metrics.REGISTRY_ERRORS.inc()
                log.warning(
                    "registry: keeping %d accounts; read failed: %r", len(self._loaded), exc
                )
        self._accounts = merge(self._static, from_file, self._loaded)
        self.version += 1
        metrics.REGISTRY_ACCOUNTS.set(len(self._accounts))
