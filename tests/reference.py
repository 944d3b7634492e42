"""CONTRACT §3 read literally, for tests: slow, obvious, and independent of streams/."""

from __future__ import annotations

Snap = tuple[int, str, int | None]  # observed_ms, snapshot_id, followers
Change = tuple[int, int, int]  # previous_observed_ms, previous_followers, followers


def expected_changes(snaps: list[Snap]) -> dict[int, Change]:
    """Applied snapshots (ties: greatest id), then one row per differing consecutive pair."""
    applied: dict[int, tuple[str, int]] = {}
    for ts, sid, followers in snaps:
        if followers is None:
            continue
        if ts not in applied or sid > applied[ts][0]:
            applied[ts] = (sid, followers)
    ordered = sorted(applied.items())
    out: dict[int, Change] = {}
    for (p_ts, (_, p_f)), (s_ts, (_, s_f)) in zip(ordered, ordered[1:], strict=False):
        if p_f != s_f:
            out[s_ts] = (p_ts, p_f, s_f)
    return out


HOUR = 3_600_000
DAY = 86_400_000
Window = tuple[int, int, int, int, int, int]  # first, last, min, max, samples, net_change


def applied_series(snaps: list[Snap]) -> list[tuple[int, int]]:
    applied: dict[int, tuple[str, int]] = {}
    for ts, sid, followers in snaps:
        if followers is not None and (ts not in applied or sid > applied[ts][0]):
            applied[ts] = (sid, followers)
    return [(ts, f) for ts, (_, f) in sorted(applied.items())]


def f_at(series: list[tuple[int, int]], x: int) -> int | None:
    before = [f for ts, f in series if ts <= x]
    return before[-1] if before else None


def expected_windows(snaps: list[Snap], size: int) -> dict[int, Window]:
    series = applied_series(snaps)
    out: dict[int, Window] = {}
    for start in sorted({ts // size * size for ts, _ in series}):
        values = [f for ts, f in series if start <= ts < start + size]
        before = f_at(series, start - 1)
        net = values[-1] - (values[0] if before is None else before)
        out[start] = (values[0], values[-1], min(values), max(values), len(values), net)
    return out


def expected_growth(snaps: list[Snap], period: int) -> tuple[int | None, float | None]:
    series = applied_series(snaps)
    t = series[-1][0]
    now, before = f_at(series, t), f_at(series, t - period)
    if now is None or before is None:
        return None, None
    return now - before, (now - before) / before if before else None


def expected_projection(snaps: list[Snap]) -> float | None:
    series = applied_series(snaps)
    t = series[-1][0]
    last: dict[int, tuple[int, int]] = {}
    for ts, f in series:
        last[ts // DAY] = (ts, f)
    points = [(ts, f) for day, (ts, f) in last.items() if t - 30 * DAY < day * DAY <= t]
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(ts for ts, _ in points) / n
    my = sum(f for _, f in points) / n
    slope = sum((ts - mx) * (f - my) for ts, f in points) / sum((ts - mx) ** 2 for ts, _ in points)
    return my + slope * (t + 30 * DAY - mx)
