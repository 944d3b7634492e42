"""Raw upstream items: collector -> ``raw.upstream-items`` on real Kafka -> ``upstream_items``.

The collector is wired from settings against the fake Bluesky and Reddit; the
records it publishes are read back from Kafka, put through the worker's
module (``streams.upstream_items``) into the real ClickHouse, and re-parsed
there with the analyst queries of docs/clickhouse.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.migrations import runner
from clickhouse.retention import apply_upstream_items_ttl, ttl_clause
from collectors.clock import ManualClock
from collectors.registry import TrackedAccount
from collectors.sources.base import AccountOutcome, AccountRef, AccountState
from collectors.sync_runs import Run
from collectors.upstream_items import MAX_RAW_BYTES, upstream_item
from socialpulse.contract import Platform, RunState, Trigger, UpstreamItem
from streams import upstream_items as sink
from streams.records import RawMessage
from streams.sink import ClickHouseSink
from tests.collectors.helpers import TEST_RATES, collector_kit, read_all, read_records
from tests.conftest import Namespace
from tests.fakes.bluesky import make_bluesky
from tests.fakes.reddit import make_reddit

T0 = 1_795_000_000.0
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, str]]:
    bluesky, reddit = make_bluesky(), make_reddit()
    with bluesky.running() as b, reddit.running() as r:
        yield {"bluesky": b, "reddit": r}


def tracked(platform: Platform, handle: str) -> TrackedAccount:
    return TrackedAccount(platform, handle, None, frozenset({"w"}))


@pytest.mark.kafka
@pytest.mark.redis_db
@pytest.mark.clickhouse_db
async def test_each_poll_publishes_its_raw_items_and_they_reparse_in_clickhouse(
    ns: Namespace, ch: Client, fakes: dict[str, str]
) -> None:
    clock = ManualClock(T0)
    accounts = [
        tracked(Platform.BLUESKY, "bsky.app"),
        tracked(Platform.REDDIT, "r/python"),
        tracked(Platform.REDDIT, "u/suspendeduser"),
    ]
    overrides: dict[str, Any] = {"upstream_base_urls": fakes, "rate_limits": TEST_RATES}
    async with collector_kit(ns, clock, accounts=accounts, **overrides) as kit:
        await kit.collector.service.cycle()
        first = await read_all(ns.urls.kafka_bootstrap, ns.topics.upstream_items)
        profiles = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
        posts = await read_all(ns.urls.kafka_bootstrap, ns.topics.post_snapshots)
        # Polled again on schedule, still inside the response cache's TTL: the same answers.
        clock.advance(1350)
        await kit.collector.service.cycle()
        records = await read_records(ns.urls.kafka_bootstrap, ns.topics.upstream_items)

    items = {i["_key"]: i for i in first}
    assert set(items) == {f"bluesky:{DID}", "reddit:t5_2qh0y", "reddit:@u/suspendeduser"}
    by_key = {p["_key"]: p for p in profiles}
    bsky = items[f"bluesky:{DID}"]
    profile = by_key[f"bluesky:{DID}"]
    own_posts = [p["snapshot_id"] for p in posts if p["_key"] == f"bluesky:{DID}"]
    # The profile and every post mapped from the answer (3 of the feed's 5 items are
    # the account's own readable posts), emitted or not.
    assert bsky["snapshot_ids"][0] == profile["snapshot_id"] and len(bsky["snapshot_ids"]) == 4
    assert own_posts and set(own_posts) <= set(bsky["snapshot_ids"])
    assert (bsky["fetched_at"], bsky["sync_run_id"]) == (
        profile["observed_at"],
        profile["sync_run_id"],
    )
    assert (bsky["source"], bsky["state"], bsky["raw_omitted"]) == ("api:bluesky", "active", False)
    assert bsky["raw"]["profile"]["followersCount"] == profile["followers"]
    suspended = items["reddit:@u/suspendeduser"]  # no snapshot, but what was said is kept
    assert (suspended["state"], suspended["snapshot_ids"]) == ("suspended", [])
    assert suspended["raw"]["data"]["is_suspended"] is True

    messages = [RawMessage(r.key, r.value, r.topic, r.partition, r.offset) for r in records]
    parsed, letters = sink.parse_items(messages)
    # Three accounts, two polled again (the suspended one is looked at daily).
    assert len(parsed) == 5 and not letters
    # What the worker's TableFeed does with a batch of these records.
    await ClickHouseSink(ch).insert("upstream_items", sink.COLUMNS, sink.rows(parsed))
    # The second poll was answered from the cache: the same items, one row each.
    assert ch.command("SELECT count() FROM upstream_items FINAL") == 3

    # docs/clickhouse.md: the follower count computed again from the raw answer ...
    reparsed = ch.query(
        "SELECT account_id, JSONExtractInt(raw, 'profile', 'followersCount')"
        " FROM upstream_items FINAL WHERE platform = 'bluesky' AND source = 'api:bluesky'"
    ).result_rows
    assert reparsed == [(DID, profile["followers"])]
    # ... the answer behind one snapshot ...
    behind = ch.query(
        "SELECT item_id FROM upstream_items WHERE has(snapshot_ids, {id:String})",
        parameters={"id": own_posts[0]},
    ).result_rows
    assert behind == [(bsky["item_id"],)]
    # ... and every post in the raw feed pages, likes read again.
    likes = ch.query(
        "SELECT JSONExtractString(post, 'post', 'uri') AS uri,"
        "       JSONExtractInt(post, 'post', 'likeCount') AS likes"
        " FROM upstream_items FINAL"
        " ARRAY JOIN arrayFlatten(arrayMap(page -> JSONExtractArrayRaw(page, 'feed'),"
        "                                  JSONExtractArrayRaw(raw, 'feed'))) AS post"
        " WHERE platform = 'bluesky' AND uri != ''"
    ).result_rows
    emitted = {p["post_id"]: p["likes"] for p in posts if p["_key"] == f"bluesky:{DID}"}
    assert {uri: n for uri, n in likes if uri in emitted} == emitted


@pytest.mark.clickhouse_db
def test_the_table_takes_its_ttl_from_the_setting_and_rolls_back(ns: Namespace, ch: Client) -> None:
    apply_upstream_items_ttl(ch, 30)
    assert "toDateTime(fetched_at) + toIntervalDay(30)" in ttl_clause(ch, "upstream_items")
    apply_upstream_items_ttl(ch, 0)
    assert ttl_clause(ch, "upstream_items") == ""

    database = ns.settings().clickhouse_database
    # Rolling back to 4 undoes 5 (upstream_items) and whatever came after it.
    undone = [m.version for m in runner.rollback(ch, database, 4)]
    assert undone[-1] == 5 and undone == sorted(undone, reverse=True)
    assert not ch.command("EXISTS TABLE upstream_items")
    assert [m.version for m in runner.migrate(ch, database)] == sorted(undone)
    assert ch.command("EXISTS TABLE upstream_items")


def outcome(raw: Any, state: AccountState = AccountState.ACTIVE) -> AccountOutcome:
    return AccountOutcome(AccountRef(Platform.REDDIT, "r/python"), state, "t5_2qh0y", raw=raw)


def run() -> Run:
    return Run("run-1", Platform.REDDIT, "t5_2qh0y", "r/python", Trigger.SCHEDULE,
               RunState.STARTED, T0)  # fmt: skip


def test_an_item_too_large_for_kafka_keeps_its_size_but_not_its_json() -> None:
    big = {"data": {"description": "x" * (MAX_RAW_BYTES + 1)}}
    item = upstream_item(outcome(big), run(), "api:reddit", T0, [], [])
    assert (item.raw, item.raw_omitted) == (None, True)
    assert item.raw_bytes > MAX_RAW_BYTES
    assert len(item.to_json_bytes()) < 1000  # fits a record whatever the answer's size

    small = upstream_item(outcome({"data": {}}), run(), "api:reddit", T0, [], [])
    assert (small.raw, small.raw_omitted, small.raw_bytes) == ({"data": {}}, False, 11)


def test_the_item_id_is_stable_for_one_answer() -> None:
    def make(polled_at: float, state: AccountState) -> UpstreamItem:
        return upstream_item(outcome({"a": 1}, state), run(), "api:reddit", polled_at, [], [])

    assert make(T0, AccountState.SUSPENDED).item_id == make(T0, AccountState.SUSPENDED).item_id
    assert make(T0, AccountState.SUSPENDED).item_id != make(T0 + 1, AccountState.SUSPENDED).item_id
    # Without a profile the poll time stands for when it was fetched, to the millisecond.
    assert (
        make(T0 + 0.0004, AccountState.SUSPENDED).fetched_at
        == make(T0, AccountState.SUSPENDED).fetched_at
    )
