"""Every CONTRACT §3 metric on the real services, from a shuffled, duplicated feed."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from clickhouse_connect.driver.client import Client

from socialpulse.contract import Platform, PostSnapshot, ProfileSnapshot, snapshot_id, to_ms
from tests.conftest import Namespace
from tests.integration.test_pipeline import NOW, snap, wait_for_quiescence
from tests.pipeline import produce_raw, read_topic
from tests.reference import (
    DAY,
    HOUR,
    Snap,
    expected_growth,
    expected_projection,
    expected_windows,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.slow]


def post(
    account: str, minute: int, post_id: str, published_min: int, likes: int | None
) -> PostSnapshot:
    return PostSnapshot(
        snapshot_id=snapshot_id("post", account, post_id, minute),
        platform=Platform.SIMULATED, account_id=account, post_id=post_id,
        published_at=NOW + timedelta(minutes=published_min),
        observed_at=NOW + timedelta(minutes=minute), likes=likes, comments=3, shares=None,
        saves=None, views=1000, source="test",
    )  # fmt: skip


def as_snaps(profiles: list[ProfileSnapshot], account: str) -> list[Snap]:
    return [
        (to_ms(p.observed_at), p.snapshot_id, p.followers)
        for p in profiles
        if p.account_id == account
    ]


def windows_in(ch: Client, table: str, account: str) -> dict[int, tuple[int, ...]]:
    rows = ch.query(
        f"SELECT toUnixTimestamp64Milli(window_start), first, last, min, max, samples, net_change"
        f" FROM {table} FINAL WHERE account_id = {{a:String}}",
        parameters={"a": account},
    ).result_rows
    return {int(r[0]): tuple(int(v) for v in r[1:]) for r in rows}


def test_windows_growth_engagement_and_derived_topics(ns: Namespace, ch: Client) -> None:
    rnd = random.Random(3)
    profiles: list[ProfileSnapshot] = []
    for a in range(3):
        followers = 5_000
        for minute in range(0, 12 * 24 * 60, 60):  # 12 days, hourly
            followers += rnd.choice([-5, 0, 3, 8, 20])
            profiles.append(snap(f"m{a}", minute, None if rnd.random() < 0.03 else followers))
    posts = [
        post(f"m{a}", minute, f"p{a}-{k}", k * 24 * 60, likes=rnd.choice([None, 40, 90]))
        for a in range(3)
        for k in range(10)
        for minute in range(k * 24 * 60 + 60, min(12 * 24 * 60, k * 24 * 60 + 4 * 24 * 60), 6 * 60)
    ]
    feed: list[ProfileSnapshot | PostSnapshot] = [*profiles, *posts]
    feed += rnd.sample(feed, 200)
    # Shuffle within a 3-day sliding order so no record is beyond the 7-day lateness.
    feed.sort(key=lambda r: to_ms(r.observed_at) + rnd.randrange(0, 3 * DAY))
    topics = ns.topics
    records = [
        (
            topics.profile_snapshots if isinstance(r, ProfileSnapshot) else topics.post_snapshots,
            r.key.encode(),
            r.to_json_bytes(),
        )
        for r in feed
    ]
    import asyncio

    for topic in (topics.profile_snapshots, topics.post_snapshots):
        asyncio.run(
            produce_raw(ns.settings(), topic, [(k, v) for t, k, v in records if t == topic])
        )
    ns.start_worker()
    wait_for_quiescence(ns, ch, topics=[topics.profile_snapshots, topics.post_snapshots])

    for a in range(3):
        account = f"m{a}"
        snaps = as_snaps(profiles, account)
        assert windows_in(ch, "account_metrics_hourly", account) == expected_windows(snaps, HOUR)
        assert windows_in(ch, "account_metrics_daily", account) == expected_windows(snaps, DAY)
        latest = ch.query(
            "SELECT followers, growth_1d_change, growth_7d_change, growth_7d_rate,"
            " growth_30d_change, projected_followers_30d, posts_30d, engagement_rate_30d"
            " FROM account_latest FINAL WHERE account_id = {a:String}",
            parameters={"a": account},
        ).result_rows
        assert len(latest) == 1
        f, g1, g7, r7, g30, proj, posts_30d, er = latest[0]
        assert g1 == expected_growth(snaps, DAY)[0]
        assert g7 == expected_growth(snaps, 7 * DAY)[0]
        assert r7 == pytest.approx(expected_growth(snaps, 7 * DAY)[1])
        assert g30 is None  # 12 days of history: F(t - 30d) is undefined
        assert proj == pytest.approx(expected_projection(snaps))
        mine = [p for p in posts if p.account_id == account]
        t = max(ts for ts, _, fo in snaps if fo is not None)
        assert posts_30d == len(
            {p.post_id for p in mine if t - 30 * DAY < to_ms(p.published_at) <= t}
        )  # type: ignore[arg-type]
        assert er is not None and 0 < er < 1

    post_rows = ch.query("SELECT count() FROM post_latest FINAL").result_rows[0][0]
    assert post_rows == len({(p.account_id, p.post_id) for p in posts})
    scores = ch.query("SELECT account_id, score FROM account_scores").result_rows
    assert len(scores) == 3 and all(0 <= s <= 100 for _, s in scores)

    metrics = read_topic(ns.urls.kafka_bootstrap, topics.metrics_account, expect=3)
    assert {m["account_id"] for m in metrics} == {"m0", "m1", "m2"}
    changes = read_topic(ns.urls.kafka_bootstrap, topics.follower_changes, expect=50)
    assert changes and all("retracted" in c for c in changes)
