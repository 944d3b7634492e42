"""Alert rules (documented in docs/metrics.md): milestones and follower anomalies.

Alerts carry a deterministic ``alert_id``, so a replay re-sends the same ids
and consumers deduplicate on it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from socialpulse.contract import snapshot_id
from streams.follower_changes import AccountHistory, ChangeRow

MILESTONES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
# A change is anomalous when it is this many robust deviations from the
# account's typical change, and at least this large in absolute terms.
ANOMALY_MADS = 8.0
ANOMALY_MIN_ABS = 50
ANOMALY_MIN_HISTORY = 10


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    kind: str  # "milestone" or "anomaly"
    observed_ms: int
    followers: int
    detail: dict[str, float | int]


def milestones_crossed(
    account: str, before: int | None, after: int, observed_ms: int
) -> list[Alert]:
    """Upward crossings of MILESTONES by the account's latest followers."""
    if before is None:
        return []
    return [
        Alert(
            snapshot_id(account, "milestone", m), "milestone", observed_ms, after, {"milestone": m}
        )
        for m in MILESTONES
        if before < m <= after
    ]


def anomaly(account: str, history: AccountHistory, row: ChangeRow) -> Alert | None:
    """A follower change far outside the account's recent changes (median ± MADs)."""
    if row.is_deleted:
        return None
    deltas = [
        b - a
        for a, b, t in zip(history.followers, history.followers[1:], history.ts[1:], strict=False)
        if t != row.observed_ms
    ]
    if len(deltas) < ANOMALY_MIN_HISTORY:
        return None
    median = statistics.median(deltas)
    mad = statistics.median(abs(d - median) for d in deltas) or 1.0
    score = abs(row.delta - median) / mad
    if score < ANOMALY_MADS or abs(row.delta) < ANOMALY_MIN_ABS:
        return None
    return Alert(
        snapshot_id(account, "anomaly", row.observed_ms),
        "anomaly",
        row.observed_ms,
        row.followers,
        {"delta": row.delta, "median_delta": median, "mad": mad, "score": round(score, 2)},
    )
