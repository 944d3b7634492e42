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
