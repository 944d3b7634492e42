"""Growth and projection (CONTRACT §3) as pure functions of an account history."""

from __future__ import annotations

from dataclasses import dataclass

from streams.follower_changes import DAY_MS, AccountHistory

GROWTH_PERIODS = {"1d": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}


@dataclass(slots=True)
class Growth:
    change: int | None
    rate: float | None


def growth(history: AccountHistory, t_ms: int, period_ms: int) -> Growth:
    """change = F(t) - F(t-P); rate = change / F(t-P); null rules as the contract says."""
    now, before = history.value_at(t_ms), history.value_at(t_ms - period_ms)
    if now is None or before is None:
        return Growth(None, None)
    change = now - before
    return Growth(change, change / before if before else None)


def projected_followers_30d(history: AccountHistory, t_ms: int) -> float | None:
    """OLS through each day's last applied snapshot over the daily windows whose start
    lies in (t-30d, t], evaluated at t + 30 days; null with fewer than 3 points."""
    points = [
        (ts, f)
        for ts, f in history.day_lasts()
        if t_ms - 30 * DAY_MS < ts // DAY_MS * DAY_MS <= t_ms
    ]
    if len(points) < 3:
        return None
    # Centre x on t, in days, so the arithmetic stays well conditioned.
    xs = [(ts - t_ms) / DAY_MS for ts, _ in points]
    ys = [float(f) for _, f in points]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return mean_y + slope * (30.0 - mean_x)
