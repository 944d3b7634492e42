"""How fresh an account's numbers are: one state from its last observation and sync history.

Pure: no I/O, the time is passed in. The rules, first match wins (docs/api.md):

1. ``auth_error``  -- the newest sync outcome is a failure of class ``auth`` (the upstream
   refused our credentials): nothing will change until someone fixes the token.
2. ``unavailable`` -- the newest outcome says the account cannot be read (``not_found``,
   ``private``, ``suspended``).
3. ``pending``     -- never observed yet (a new account, its first sync not through).
4. ``stale``       -- the last observation is older than ``stale_after``, or the next
   scheduled sync is more than ``grace`` overdue.
5. ``synced``      -- otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from clickhouse.queries_sync import SyncSummary

FreshnessState = Literal["synced", "pending", "stale", "unavailable", "auth_error"]
AUTH_ERRORS = frozenset({"auth"})
# The collectors report these account states as the run's error class.
UNREADABLE = frozenset({"not_found", "private", "suspended"})


@dataclass(frozen=True)
class FreshnessRule:
    stale_after: timedelta
    grace: timedelta

    def state(
        self, observed_at: datetime | None, sync: SyncSummary | None, now: datetime
    ) -> FreshnessState:
        if sync is not None and sync.failing:
            if sync.last_error_class in AUTH_ERRORS:
                return "auth_error"
            if sync.last_error_class in UNREADABLE:
                return "unavailable"
        if observed_at is None:
            return "pending"
        if now - observed_at > self.stale_after:
            return "stale"
        next_due = sync.next_due_at if sync is not None else None
        if next_due is not None and now - next_due > self.grace:
            return "stale"
        return "synced"
