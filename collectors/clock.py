"""The injected clock (arroyo's ``utils/clock.py`` idea).

Everything that waits or reads the time — back-off, rate-limit waits, schedules,
leases — takes a :class:`Clock`, so tests drive time by hand instead of sleeping.
Time is epoch seconds (float): it is shared with Redis and with other replicas.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Epoch seconds now."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it at once.

    Used by tests and the benchmark. ``sleeps`` records every wait, so a test
    can assert the back-off sequence without waiting for it.
    """

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would

    def advance(self, seconds: float) -> None:
        self.now += seconds
