"""The simulator as a :class:`~collectors.sources.base.Source`: the default without tokens.

Values come from :mod:`collectors.simulator` (pure functions of seed, account
and time), observed at the second the scheduler polls. A first-sight poll
(backfill) also returns the simulated history on the fixed grid of
``interval_ms`` over ``backfill_hours``, so a fresh install has something to
show. It makes no upstream call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from collectors.clock import Clock
from collectors.simulator import HOUR_MS, SimAccount
from collectors.sources.base import AccountOutcome, AccountRef, AccountState, FetchResult
from collectors.upstream import ErrorClass, PermanentError, Upstream
from socialpulse.contract import Platform

_ID = re.compile(r"^sim-(?P<seed>\d+)-(?P<index>\d+)$")


def simulated_ids(count: int, seed: int) -> list[str]:
    return [SimAccount(seed, i).account_id for i in range(count)]


class SimulatorSource:
    name = "simulator"
    platform = Platform.SIMULATED
    batch_size = 100
    supports_backfill = True

    def __init__(self, clock: Clock, *, interval_ms: int, backfill_hours: float) -> None:
        self._clock = clock
        self._interval_ms = interval_ms
        self._backfill_ms = int(backfill_hours * HOUR_MS)

    async def fetch(
        self,
        accounts: Sequence[AccountRef],
        *,
        run_id: str,
        upstream: Upstream,
        backfill: bool = False,
    ) -> FetchResult:
        now_ms = int(self._clock.time()) * 1000
        result = FetchResult()
        for ref in accounts:
            match = _ID.match(ref.account_id or ref.handle)
            if match is None:
                error = PermanentError(
                    "simulator",
                    f"no simulated account {ref.handle!r}",
                    error_class=ErrorClass.NOT_FOUND,
                )
                result.outcomes.append(AccountOutcome(ref, AccountState.NOT_FOUND, error=error))
                continue
            account = SimAccount(int(match["seed"]), int(match["index"]))
            for t_ms in self._instants(now_ms, backfill):
                result.profiles.append(account.profile(t_ms))
                # Posts half as often as profiles, as the real schedules do.
                if t_ms == now_ms or (t_ms // self._interval_ms) % 2 == 0:
                    result.posts.extend(account.posts(t_ms))
            result.outcomes.append(
                AccountOutcome(ref, AccountState.ACTIVE, account_id=account.account_id)
            )
        return result

    def _instants(self, now_ms: int, backfill: bool) -> list[int]:
        if not backfill or not self._backfill_ms:
            return [now_ms]
        step = self._interval_ms
        first = -(-(now_ms - self._backfill_ms) // step) * step
        grid = list(range(first, now_ms + 1, step))
        return grid if grid and grid[-1] == now_ms else [*grid, now_ms]
