"""Alert rules (documented in docs/metrics.md): milestones and follower anomalies.

Alerts carry a deterministic ``alert_id``, so a replay re-sends the same ids
and consumers deduplicate on it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from socialpulse.contract import snapshot_id
from streams.follower_changes import ChangeRow

MILESTONES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
# A change at the newest end is anomalous when it is ANOMALY_FACTOR times the
# account's typical change size (an exponentially weighted mean of |delta|
# over recent changes, ANOMALY_ALPHA per change), after ANOMALY_MIN_HISTORY
# changes, and at least ANOMALY_MIN_ABS followers.
ANOMALY_FACTOR = 10.0
ANOMALY_ALPHA = 0.1
ANOMALY_MIN_ABS = 50
ANOMALY_MIN_HISTORY = 10


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    kind: str  # "milestone" or "anomaly"
    observed_ms: int
    followers: int
    detail: dict[str, float | int]


@dataclass(slots=True)
class ChangeStats:
    """O(1) memory of an account's typical change size: [ewma of |delta|, count]."""

    mean_abs: float = 0.0
    count: int = 0

    def check(self, account: str, row: ChangeRow) -> Alert | None:
        typical = self.mean_abs
        if (
            self.count < ANOMALY_MIN_HISTORY
            or abs(row.delta) < ANOMALY_MIN_ABS
            or abs(row.delta) < ANOMALY_FACTOR * typical
        ):
            return None
        return Alert(
            snapshot_id(account, "anomaly", row.observed_ms),
            "anomaly",
            row.observed_ms,
            row.followers,
            {"delta": row.delta, "typical_abs_delta": round(typical, 3)},
        )

    def update(self, delta: int) -> None:
        self.count += 1
        weight = max(ANOMALY_ALPHA, 1.0 / self.count)
        self.mean_abs += weight * (abs(delta) - self.mean_abs)


def milestones_crossed(
    account: str, before: int | None, after: int, observed_ms: int
) -> list[Alert]:
    """Upward crossings of MILESTONES by the account's latest followers."""
    if before is None or bisect_right(MILESTONES, before) == bisect_right(MILESTONES, after):
        return []  # nearly every call: no milestone between the two
    return [
        Alert(
            snapshot_id(account, "milestone", m), "milestone", observed_ms, after, {"milestone": m}
        )
        for m in MILESTONES
        if before < m <= after
    ]
