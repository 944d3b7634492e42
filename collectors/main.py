"""The simulator replayed on a fixed grid, straight to Kafka: a deterministic feed.

Not the collector process: ``socialpulse collect`` runs the scheduler
(``collectors.service``), where the simulator is one source among others. This
grid replay stays for tests and benchmarks of the stream worker, which need the
exact same snapshots (same instants, same ids) on every run, with no Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from collectors.emitter import SnapshotEmitter
from collectors.simulator import Simulator
from socialpulse.settings import CollectorSettings

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def run_collector(
    settings: CollectorSettings,
    emitter: SnapshotEmitter,
    *,
    once: bool = False,
    clock: Callable[[], datetime] = utcnow,
    stop: asyncio.Event | None = None,
) -> int:
    """Emit the backfill, then one round per tick until ``stop``; returns snapshots sent."""
    interval_ms = int(settings.profile_interval_s * 1000)
    sim = Simulator(settings.simulator_accounts, settings.simulator_seed, interval_ms)
    stop = stop or asyncio.Event()
    now = clock()
    ticks = sim.ticks(now - timedelta(hours=settings.simulator_backfill_hours), now)
    sent = 0
    for t_ms in ticks:
        sent += await _emit_tick(sim, emitter, t_ms, interval_ms)
    log.info("backfill done: %d snapshots for %d ticks", sent, len(ticks))
    last = ticks[-1] if ticks else (int(now.timestamp() * 1000) // interval_ms) * interval_ms
    while not once and not stop.is_set():
        next_ms = last + interval_ms
        wait_s = max(0.0, next_ms / 1000 - clock().timestamp())
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait_s)
            break
        except TimeoutError:
            pass
        sent += await _emit_tick(sim, emitter, next_ms, interval_ms)
        last = next_ms
    return sent


async def _emit_tick(sim: Simulator, emitter: SnapshotEmitter, t_ms: int, interval_ms: int) -> int:
    profiles = sim.profiles(t_ms)
    await emitter.emit(profiles)
    count = len(profiles)
    # Posts are observed half as often as profiles, as the real schedules do.
    if (t_ms // interval_ms) % 2 == 0:
        posts = sim.posts(t_ms)
        await emitter.emit(posts)
        count += len(posts)
    return count
