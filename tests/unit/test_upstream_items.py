"""``streams.upstream_items``: records of ``raw.upstream-items`` into ``upstream_items`` rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from socialpulse.contract import UpstreamItem
from streams.records import RawMessage
from streams.upstream_items import COLUMNS, parse_items, rows

GOOD: dict[str, Any] = {
    "schema_version": 1, "item_id": "i1", "platform": "bluesky", "account_id": "did:plc:abc",
    "handle": "bsky.app", "source": "api:bluesky", "fetched_at": "2026-11-21T10:15:00.123Z",
    "sync_run_id": "run-1", "state": "active", "snapshot_ids": ["s1", "s2"],
    "raw": {"profile": {"did": "did:plc:abc", "followersCount": 31456789}, "feed": []},
    "raw_bytes": 80, "raw_omitted": False,
}  # fmt: skip


def message(obj: object, offset: int = 0) -> RawMessage:
    value = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return RawMessage(b"bluesky:did:plc:abc", value, "p.raw.upstream-items", 1, offset)


def row(item: UpstreamItem) -> dict[str, object]:
    (values,) = rows([item])
    assert len(values) == len(COLUMNS)
    return dict(zip(COLUMNS, values, strict=True))


def test_a_record_becomes_one_row_in_column_order() -> None:
    (item,), letters = parse_items([message(GOOD)])
    assert not letters
    got = row(item)
    fetched = datetime(2026, 11, 21, 10, 15, 0, 123000, tzinfo=UTC)
    assert got["fetched_at"] == int(fetched.timestamp() * 1000)  # epoch ms, as the sink sends
    assert (got["platform"], got["account_id"], got["item_id"]) == ("bluesky", "did:plc:abc", "i1")
    assert (got["source"], got["state"], got["sync_run_id"]) == ("api:bluesky", "active", "run-1")
    assert (got["snapshot_ids"], got["raw_bytes"], got["raw_omitted"]) == (["s1", "s2"], 80, 0)
    assert json.loads(str(got["raw"])) == GOOD["raw"]


def test_raw_json_survives_what_upstreams_send() -> None:
    # Ids as integers beyond 64 bits, text beyond ASCII, nested nulls.
    raw = {"id": 2**70, "name": "Café ☕", "nested": [None, {"n": -1}]}
    (item,), _ = parse_items([message({**GOOD, "raw": raw})])
    assert json.loads(str(row(item)["raw"])) == raw


def test_an_omitted_raw_is_stored_as_null_with_its_size() -> None:
    record = {**GOOD, "raw": None, "raw_bytes": 1_200_000, "raw_omitted": True}
    (item,), _ = parse_items([message(record)])
    got = row(item)
    assert (got["raw"], got["raw_bytes"], got["raw_omitted"]) == ("null", 1_200_000, 1)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"{not json", "record"),
        ({**GOOD, "platform": "myspace"}, "platform"),
        ({**GOOD, "fetched_at": "2026-11-21T10:15:00"}, "UTC offset"),
        ({**GOOD, "item_id": ""}, "item_id"),
        ({k: v for k, v in GOOD.items() if k != "raw_bytes"}, "raw_bytes"),
        ({**GOOD, "snapshot_ids": "s1"}, "snapshot_ids"),
    ],
)
def test_a_bad_record_is_a_dead_letter_and_the_rest_go_on(record: Any, reason: str) -> None:
    items, letters = parse_items([message(GOOD, 0), message(record, 1), message(GOOD, 2)])
    assert [i.item_id for i in items] == ["i1", "i1"]
    (letter,) = letters
    assert letter.message.offset == 1
    assert letter.reason.startswith("invalid upstream item: ") and reason in letter.reason
    assert json.loads(letter.to_json_bytes())["topic"] == "p.raw.upstream-items"


def test_records_the_collector_writes_parse_back_to_themselves() -> None:
    written = UpstreamItem.model_validate(GOOD)
    (read,), _ = parse_items([message(written.to_json_bytes())])
    assert read == written
