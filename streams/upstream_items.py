"""Sink ``raw.upstream-items`` into the ``upstream_items`` table: one row per record.

Records are few (one per account per poll) but large, so this is a plain
batched consumer with no state. A record read twice (at-least-once, or a
cached upstream answer) has the same ``item_id`` and ``fetched_at``, so the
table's ReplacingMergeTree keeps one row of it. ``raw`` is stored as the JSON
text it arrived as, re-encoded compactly.
"""

from __future__ import annotations

import pydantic_core

from socialpulse.contract import UpstreamItem, to_ms
from streams.records import DeadLetter, RawMessage, parse_all

COLUMNS = [
    "platform", "account_id", "fetched_at", "item_id", "handle", "source", "state",
    "sync_run_id", "snapshot_ids", "raw", "raw_bytes", "raw_omitted", "schema_version",
]  # fmt: skip


def parse_items(messages: list[RawMessage]) -> tuple[list[UpstreamItem], list[DeadLetter]]:
    return parse_all(messages, UpstreamItem, "upstream item")


def rows(items: list[UpstreamItem]) -> list[list[object]]:
    return [
        [
            i.platform.value,
            i.account_id,
            to_ms(i.fetched_at),
            i.item_id,
            i.handle,
            i.source,
            i.state,
            i.sync_run_id,
            i.snapshot_ids,
            # pydantic_core, not orjson: upstream ids can be integers beyond 64 bits.
            pydantic_core.to_json(i.raw).decode(),
            i.raw_bytes,
            int(i.raw_omitted),
            i.schema_version,
        ]  # fmt: skip
        for i in items
    ]
