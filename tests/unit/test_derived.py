"""The derived topics' records (CONTRACT §2) as built from a processed batch, field by field."""

from __future__ import annotations

import orjson

from socialpulse.contract import SCHEMA_VERSION, Topics, format_ts, from_ms
from streams import derived
from streams.processor import process_batch
from streams.records import RawMessage
from streams.state import StateStore

TOPICS = Topics("t")
DAY = 86_400_000
T0 = 1_790_000_000_123


def message(account: str, t_ms: int, followers: int, offset: int) -> RawMessage:
    value = {
        "schema_version": SCHEMA_VERSION, "snapshot_id": f"s-{account}-{t_ms}",
        "platform": "instagram", "account_id": account, "handle": account,
        "display_name": None, "observed_at": format_ts(from_ms(t_ms)), "followers": followers,
        "following": None, "posts_count": None, "source": "test", "sync_run_id": None,
    }  # fmt: skip
    key = f"instagram:{account}".encode()
    return RawMessage(key, orjson.dumps(value), TOPICS.profile_snapshots, 0, offset)


def test_metrics_and_change_records_carry_the_batch_values() -> None:
    store = StateStore()
    store.restore(0, [], end=0)
    feed = [
        message("a", T0, 100, 0),
        message("b", T0 + 1, 7, 1),
        message("a", T0 + 60_001, 130, 2),
        message("a", T0 + 30_000, 110, 3),  # late: splits the pair 100 -> 130
    ]
    batch = process_batch(
        feed, TOPICS.profile_snapshots, lambda k, p: store.load(k, p, now_ms=1), 7 * DAY
    )
    records = list(derived.records(batch, TOPICS))
    assert all(
        key == f"instagram:{orjson.loads(v)['account_id']}".encode() for _, key, v in records
    )
    by_topic: dict[str, list[dict[str, object]]] = {}
    for topic, _, value in records:
        by_topic.setdefault(topic, []).append(orjson.loads(value))

    metrics = {m["account_id"]: m for m in by_topic[TOPICS.metrics_account]}
    assert metrics["a"]["followers"] == 130 and metrics["b"]["followers"] == 7
    assert metrics["a"]["observed_at"] == format_ts(from_ms(T0 + 60_001))
    assert metrics["b"]["observed_at"] == format_ts(from_ms(T0 + 1))

    changes = sorted(
        (c["observed_at"], c["previous_observed_at"], c["previous_followers"], c["delta"])
        for c in by_topic[TOPICS.follower_changes]
        if c["account_id"] == "a" and not c["retracted"]
    )
    assert changes == [
        (format_ts(from_ms(T0 + 30_000)), format_ts(from_ms(T0)), 100, 10),
        (format_ts(from_ms(T0 + 60_001)), format_ts(from_ms(T0 + 30_000)), 110, 20),
    ]
