"""The sink on the real ClickHouse: exact timestamps, nulls, text, batches over many months."""

from __future__ import annotations

import asyncio
import random
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from streams.sink import ClickHouseSink
from tests.conftest import Namespace

pytestmark = [pytest.mark.clickhouse_db]

CHANGE_COLUMNS = [
    "platform", "account_id", "observed_at", "previous_observed_at", "previous_followers",
    "followers", "delta", "version", "is_deleted",
]  # fmt: skip


def test_epoch_milliseconds_land_exactly_in_datetime64_columns(ch: Client) -> None:
    # The epoch, far dates and random ones, spread over hundreds of monthly partitions
    # (one batch of a replay can be): each must read back as the integer written.
    rng = random.Random(7)
    edge = [0, 1, 999, 1_000, 1_790_000_000_001, 1_790_000_000_999, 4_102_444_799_999]
    stamps: list[int] = edge + [rng.randrange(0, 4_102_444_800_000) for _ in range(400)]
    n = len(stamps)
    data: list[list[Any]] = [
        ["instagram"] * n,
        [f"acct-{i}" for i in range(n)],
        stamps,
        [max(0, s - 1) for s in stamps],
        [10] * n,
        [2**63 - 1 if i == 0 else i for i in range(n)],
        [-5 if i % 2 else 5 for i in range(n)],
        [2**64 - 1 if i == 1 else i for i in range(n)],  # UInt64's top
        [i % 2 for i in range(n)],
    ]
    asyncio.run(ClickHouseSink(ch).insert("follower_changes", CHANGE_COLUMNS, _rows(data)))

    got = {
        account: (observed, previous, followers, version, deleted)
        for account, observed, previous, followers, version, deleted in ch.query(
            "SELECT account_id, toUnixTimestamp64Milli(observed_at),"
            " toUnixTimestamp64Milli(previous_observed_at), followers, version, is_deleted"
            " FROM follower_changes"
        ).result_rows
    }
    # Every row, although the stamps span far more than 100 monthly partitions.
    assert len(got) == n
    for i in range(n):
        assert got[f"acct-{i}"] == (stamps[i], max(0, stamps[i] - 1), data[5][i], data[7][i], i % 2)


def test_nulls_stay_null_and_text_survives_as_written(ch: Client) -> None:
    texts: list[Any] = ["ünïcödé ✓", 'quote " and \\ backslash', "tab\tnew\nline", "emoji 🚀", ""]
    columns = [
        "platform", "account_id", "post_id", "observed_at", "snapshot_id", "published_at", "url",
        "media_type", "likes", "comments", "shares", "saves", "views", "source", "sync_run_id",
        "schema_version",
    ]  # fmt: skip
    n = len(texts)
    published: list[Any] = [None, 1_789_999_999_001, None, 1_700_000_000_999, 1]
    data: list[list[Any]] = [
        ["x"] * n, ["acct"] * n, [f"p{i}" for i in range(n)],
        [1_790_000_000_000 + i for i in range(n)], [f"s{i}" for i in range(n)], published,
        texts, [None, "video", None, "image", "reel"], [None, 0, 5, None, 2**62],
        [None] * n, [None] * n, [None] * n, [None] * n, ["test"] * n, [None, *texts[1:]], [1] * n,
    ]  # fmt: skip
    asyncio.run(ClickHouseSink(ch).insert("post_snapshots", columns, _rows(data)))
    got = {
        post: rest
        for post, *rest in ch.query(
            "SELECT post_id, toUnixTimestamp64Milli(published_at), url, media_type, likes,"
            " sync_run_id FROM post_snapshots"
        ).result_rows
    }
    assert got == {
        f"p{i}": [published[i], texts[i], data[7][i], data[8][i], data[14][i]] for i in range(n)
    }


def _rows(columns: list[list[Any]]) -> list[list[Any]]:
    return [list(row) for row in zip(*columns, strict=True)]


def test_a_client_with_a_session_is_refused_up_front(ns: Namespace) -> None:
    url = urlsplit(ns.settings().clickhouse_url)
    client = clickhouse_connect.get_client(host=url.hostname, port=url.port)  # a session
    try:
        with pytest.raises(ValueError, match="without a session"):
            ClickHouseSink(client)
    finally:
        client.close()
