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
    return _growth(history.value_at(t_ms), history.value_at(t_ms - period_ms))


def growths(history: AccountHistory, t_ms: int) -> dict[str, Growth]:
    """``growth`` over each of GROWTH_PERIODS, reading F(t) once."""
    now = history.value_at(t_ms)
    return {
        name: _growth(now, history.value_at(t_ms - period_ms))
        for name, period_ms in GROWTH_PERIODS.items()
    }


def _growth(now: int | None, before: int | None) -> Growth:
    if now is None or before is None:
        return Growth(None, None)
    change = now - before
    return Growth(change, change / before if before else None)


def projected_followers_30d(history: AccountHistory, t_ms: int) -> float | None:
    """OLS through each day's last applied snapshot over the daily windows whose start
    lies in (t-30d, t], evaluated at t + 30 days; null with fewer than 3 points.

    Those windows are the days D-29 … D of t's day D whatever t's time of day. At the
    newest snapshot (the worker's case) the days before D cannot move unless a late
    record lands in them, so their least-squares sums are kept on the history
    (``fit_cache``, dropped by such a record) and only day D's point is added: the
    per-batch cost stops growing with the history.
    """
    if not history.ts or t_ms != history.ts[-1]:
        return _fit([(ts, f) for ts, f in history.day_lasts() if _in_window(ts, t_ms)], t_ms)
    day = t_ms // DAY_MS * DAY_MS
    cache = history.fit_cache
    if cache is None or cache[0] != day:
        closed = [(ts, f) for ts, f in history.day_lasts() if ts < day and _in_window(ts, t_ms)]
        y0 = closed[0][1] if closed else 0
        xs = [(ts - day) / DAY_MS for ts, _ in closed]
        ys = [f - y0 for _, f in closed]
        cache = history.fit_cache = (
            day, len(xs), sum(xs), float(sum(ys)),
            sum(x * x for x in xs), sum(x * y for x, y in zip(xs, ys, strict=True)), y0,
        )  # fmt: skip
    _, n, sx, sy, sxx, sxy, y0 = cache
    x, y = (t_ms - day) / DAY_MS, history.followers[-1] - y0
    n += 1
    if n < 3:
        return None
    mean_x, mean_y = (sx + x) / n, (sy + y) / n
    var = sxx + x * x - n * mean_x * mean_x
    if var <= 0:
        return None
    slope = (sxy + x * y - n * mean_x * mean_y) / var
    return y0 + mean_y + slope * ((t_ms + 30 * DAY_MS - day) / DAY_MS - mean_x)


def _in_window(ts: int, t_ms: int) -> bool:
    return t_ms - 30 * DAY_MS < ts // DAY_MS * DAY_MS <= t_ms


def _fit(points: list[tuple[int, int]], t_ms: int) -> float | None:
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
