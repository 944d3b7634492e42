"""Raw upstream items: what a source was told about an account, kept so it can be re-parsed.

One record per account per poll on ``<prefix>.raw.upstream-items``, keyed like
the account's snapshots: the source's ``AccountOutcome.raw`` (dataset rows, or
the profile answer and its post pages, as received) with the ids of the
snapshots mapped from it. When a parser is fixed, the snapshots of the past
can be computed again from these (docs/clickhouse.md, ``upstream_items``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pydantic_core

from collectors import metrics
from collectors.sources.base import AccountOutcome
from collectors.sync_runs import Run
from socialpulse.contract import (
    PostSnapshot,
    ProfileSnapshot,
    UpstreamItem,
    from_ms,
    snapshot_id,
    to_ms,
)

# Kafka refuses records over 1 MiB (producer max_request_size, broker
# message.max.bytes), and the emitter retries a refused send for ever. The rest
# of the record needs far less than the room left.
MAX_RAW_BYTES = 900_000


def upstream_item(
    outcome: AccountOutcome,
    run: Run,
    source: str,
    polled_at: float,
    profiles: Sequence[ProfileSnapshot],
    posts: Sequence[PostSnapshot],
) -> UpstreamItem:
    """The record of ``outcome.raw``, read in ``run`` by ``source`` at ``polled_at``.

    ``profiles`` and ``posts`` are every snapshot mapped from it, emitted or not
    (the post ladder keeps some): like their ids, they depend on the answer
    alone, so a cached answer polled again is the same item, whatever was
    emitted each time. ``fetched_at`` is the profile's ``observed_at`` when one
    was read (a cached answer repeats it, and so its item id), else the poll time.
    """
    platform, account_id = run.platform, outcome.account_id or run.account_id
    fetched_at = profiles[0].observed_at if profiles else from_ms(int(polled_at * 1000))
    source = outcome.source or (profiles[0].source if profiles else source)
    raw_json = pydantic_core.to_json(outcome.raw)
    omitted = len(raw_json) > MAX_RAW_BYTES
    if omitted:
        metrics.UPSTREAM_ITEMS_OMITTED.labels(platform.value).inc()
    return UpstreamItem(
        item_id=snapshot_id("upstream-item", platform.value, account_id, to_ms(fetched_at), source),
        platform=platform,
        account_id=account_id,
        handle=outcome.account.handle,
        source=source,
        fetched_at=fetched_at,
        sync_run_id=run.run_id,
        state=outcome.state.value,
        snapshot_ids=[p.snapshot_id for p in profiles] + [p.snapshot_id for p in posts],
        raw=None if omitted else outcome.raw,
        raw_bytes=len(raw_json),
        raw_omitted=omitted,
    )
