"""``<prefix>.raw.upstream-items`` -> worker -> ``upstream_items``, on real Kafka and ClickHouse.

The record is made by the collector's own ``collectors.upstream_items.upstream_item``
from a Bluesky answer shaped like the AppView's (tests/fakes/payloads/bluesky.json),
so the worker is tested on exactly what the collector publishes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from collectors.sources.base import AccountOutcome, AccountRef, AccountState
from collectors.sources.common import Snapshots
from collectors.sync_runs import Run
from collectors.upstream_items import upstream_item
from socialpulse.contract import Platform, RunState, Trigger, UpstreamItem, from_ms, to_ms
from tests.conftest import Namespace
from tests.integration.test_pipeline import NOW, wait_for_quiescence
from tests.pipeline import produce_raw, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.slow]

PAYLOADS = Path(__file__).parents[1] / "fakes" / "payloads"
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
SOURCE = "api:bluesky"


def bluesky_item() -> UpstreamItem:
    """What a poll of bsky.app publishes: the profile answer, its feed page, every snapshot id."""
    data: dict[str, Any] = json.loads((PAYLOADS / "bluesky.json").read_text())
    profile = next(p for p in data["profiles"] if p["did"] == DID)
    feed = data["feeds"][DID]
    raw = {"profile": profile, "feed": [{"feed": feed}]}
    run = Run("run-bsky-1", Platform.BLUESKY, DID, "bsky.app", Trigger.SCHEDULE,
              RunState.STARTED, NOW.timestamp(), started_at=NOW.timestamp())  # fmt: skip
    made = Snapshots(Platform.BLUESKY, SOURCE, run.run_id)
    observed = from_ms(to_ms(NOW) + 123)
    profiles = [
        made.profile(
            account_id=DID, handle="bsky.app", display_name=profile["displayName"],
            observed_at=observed, followers=profile["followersCount"],
            following=profile["followsCount"], posts_count=profile["postsCount"],
        )
    ]  # fmt: skip
    own = [
        f["post"] for f in feed
        if "uri" in f["post"] and not f.get("reason") and f["post"]["author"]["did"] == DID
    ]  # fmt: skip
    posts = [
        made.post(account_id=DID, post_id=p["uri"], observed_at=observed, likes=p["likeCount"])
        for p in own
    ]
    outcome = AccountOutcome(
        AccountRef(Platform.BLUESKY, "bsky.app"), AccountState.ACTIVE, DID, raw
    )
    return upstream_item(outcome, run, SOURCE, NOW.timestamp() + 1, profiles, posts)


def test_the_worker_stores_upstream_items_and_dead_letters_bad_ones(
    ns: Namespace, ch: Client
) -> None:
    item = bluesky_item()
    assert len(item.snapshot_ids) == 4 and not item.raw_omitted  # the profile and 3 own posts
    good = (item.key.encode(), item.to_json_bytes())
    # The fetched_at without an offset: the worker cannot place it in time.
    bad_record = item.to_json_dict() | {"fetched_at": "2026-11-21T12:00:00"}
    bad = (item.key.encode(), json.dumps(bad_record).encode())
    # Delivered twice (at least once): one row.
    asyncio.run(produce_raw(ns.settings(), ns.topics.upstream_items, [good, bad, good]))

    ns.start_worker()
    wait_for_quiescence(ns, ch, topics=[ns.topics.upstream_items])

    rows = ch.query(
        "SELECT platform, account_id, toUnixTimestamp64Milli(fetched_at), item_id, handle,"
        " source, state, sync_run_id, snapshot_ids, raw, raw_bytes, raw_omitted, schema_version"
        " FROM upstream_items FINAL"
    ).result_rows
    assert len(rows) == 1
    (platform, account_id, fetched_at, item_id, handle, source, state, run_id, snapshot_ids,
     raw, raw_bytes, raw_omitted, schema_version) = rows[0]  # fmt: skip
    assert (platform, account_id, handle, source, state) == (
        "bluesky",
        DID,
        "bsky.app",
        SOURCE,
        "active",
    )
    # The profile's observed_at, to the millisecond, not the poll time.
    assert fetched_at == to_ms(NOW + timedelta(milliseconds=123)) == to_ms(item.fetched_at)
    assert (item_id, run_id, snapshot_ids) == (item.item_id, "run-bsky-1", item.snapshot_ids)
    assert json.loads(raw) == item.raw
    assert (raw_bytes, raw_omitted, schema_version) == (item.raw_bytes, 0, 1)
    # What re-parsing reads from it (docs/clickhouse.md).
    followers = ch.command(
        "SELECT JSONExtractInt(raw, 'profile', 'followersCount') FROM upstream_items FINAL"
    )
    assert followers == 31456789

    letters = read_topic(ns.urls.kafka_bootstrap, ns.topics.dlq, expect=1)
    assert len(letters) == 1
    (letter,) = letters
    assert letter["topic"] == ns.topics.upstream_items and letter["key"] == f"bluesky:{DID}"
    reason = str(letter["reason"])
    assert reason.startswith("invalid upstream item: ") and "fetched_at" in reason
    assert json.loads(str(letter["value"]))["fetched_at"] == "2026-11-21T12:00:00"
