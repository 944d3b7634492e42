"""A processed batch as column-oriented data per ClickHouse table (and names).

Timestamps go in as epoch milliseconds: clickhouse-connect writes ints into
``DateTime64(3)`` columns as raw ticks, which skips building datetime objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from streams.processor import BatchResult

Table = tuple[str, list[str], list[list[object]]]


def for_batch(batch: BatchResult) -> Iterator[Table]:
    yield _profiles(batch)
    yield _posts(batch)
    yield _changes(batch)
    yield from _windows(batch)
    yield _latest(batch)
    yield _post_latest(batch)


def _profiles(batch: BatchResult) -> Table:
    s = batch.snapshots
    names = [
        "platform", "account_id", "observed_at", "snapshot_id", "handle", "display_name",
        "followers", "following", "posts_count", "source", "sync_run_id", "schema_version",
    ]  # fmt: skip
    data: list[list[object]] = [
        [x.platform for x in s], [x.account_id for x in s], [x.observed_ms for x in s],
        [x.snapshot_id for x in s], [x.handle for x in s], [x.display_name for x in s],
        [x.followers for x in s], [x.following for x in s], [x.posts_count for x in s],
        [x.source for x in s], [x.sync_run_id for x in s], [x.schema_version for x in s],
    ]  # fmt: skip
    return "profile_snapshots", names, data


def _posts(batch: BatchResult) -> Table:
    s = batch.post_snapshots
    names = [
        "platform", "account_id", "post_id", "observed_at", "snapshot_id", "published_at", "url",
        "media_type", "likes", "comments", "shares", "saves", "views", "source", "sync_run_id",
        "schema_version",
    ]  # fmt: skip
    data: list[list[object]] = [
        [x.platform for x in s], [x.account_id for x in s], [x.post_id for x in s],
        [x.observed_ms for x in s], [x.snapshot_id for x in s],
        [x.published_ms for x in s],
        [x.url for x in s], [x.media_type for x in s], [x.likes for x in s],
        [x.comments for x in s], [x.shares for x in s], [x.saves for x in s],
        [x.views for x in s], [x.source for x in s], [x.sync_run_id for x in s],
        [x.schema_version for x in s],
    ]  # fmt: skip
    return "post_snapshots", names, data


def _changes(batch: BatchResult) -> Table:
    items = list(batch.change_rows.items())
    names = [
        "platform", "account_id", "observed_at", "previous_observed_at", "previous_followers",
        "followers", "delta", "version", "is_deleted",
    ]  # fmt: skip
    data: list[list[object]] = [
        [a[0] for (a, _), _ in items], [a[1] for (a, _), _ in items],
        [r.observed_ms for _, r in items],
        [r.previous_observed_ms for _, r in items],
        [r.previous_followers for _, r in items], [r.followers for _, r in items],
        [r.delta for _, r in items], [r.version for _, r in items],
        [int(r.is_deleted) for _, r in items],
    ]  # fmt: skip
    return "follower_changes", names, data


def _windows(batch: BatchResult) -> Iterator[Table]:
    names = [
        "platform", "account_id", "window_start", "first", "last", "min", "max", "samples",
        "net_change", "first_observed_at", "last_observed_at", "version",
    ]  # fmt: skip
    for interval, table in (("1h", "account_metrics_hourly"), ("1d", "account_metrics_daily")):
        items = [(a, w) for (a, i, _), w in batch.window_rows.items() if i == interval]
        data: list[list[object]] = [
            [a[0] for a, _ in items], [a[1] for a, _ in items],
            [w.start_ms for _, w in items], [w.first for _, w in items],
            [w.last for _, w in items], [w.min for _, w in items], [w.max for _, w in items],
            [w.samples for _, w in items], [w.net_change for _, w in items],
            [w.first_observed_ms for _, w in items],
            [w.last_observed_ms for _, w in items], [w.version for _, w in items],
        ]  # fmt: skip
        yield table, names, data


def _latest(batch: BatchResult) -> Table:
    items = list(batch.latest.items())
    names = [
        "platform", "account_id", "handle", "display_name", "followers", "following",
        "posts_count", "observed_at", "growth_1d_change", "growth_1d_rate", "growth_7d_change",
        "growth_7d_rate", "growth_30d_change", "growth_30d_rate", "engagement_rate_30d",
        "posts_30d", "projected_followers_30d", "version",
    ]  # fmt: skip
    data: list[list[object]] = [
        [a[0] for a, _ in items], [a[1] for a, _ in items], [k.handle for _, k in items],
        [k.display_name for _, k in items], [k.followers for _, k in items],
        [k.following for _, k in items], [k.posts_count for _, k in items],
        [k.observed_ms for _, k in items],
    ]  # fmt: skip
    for period in ("1d", "7d", "30d"):
        data.append([k.growth[period].change for _, k in items])
        data.append([k.growth[period].rate for _, k in items])
    data += [
        [k.engagement_rate_30d for _, k in items], [k.posts_30d for _, k in items],
        [k.projected_followers_30d for _, k in items], [k.version for _, k in items],
    ]  # fmt: skip
    return "account_latest", names, data


def _post_latest(batch: BatchResult) -> Table:
    items = list(batch.post_rows.items())
    names = [
        "platform", "account_id", "post_id", "published_at", "observed_at", "url", "media_type",
        "likes", "comments", "shares", "saves", "views", "interactions", "engagement_rate",
        "version",
    ]  # fmt: skip
    data: list[list[object]] = [
        [a[0] for (a, _), _ in items], [a[1] for (a, _), _ in items],
        [r.post_id for _, r in items], [r.post.published_ms for _, r in items],
        [r.post.observed_ms for _, r in items], [r.post.url for _, r in items],
        [r.post.media_type for _, r in items], [r.post.likes for _, r in items],
        [r.post.comments for _, r in items], [r.post.shares for _, r in items],
        [r.post.saves for _, r in items], [r.post.views for _, r in items],
        [r.interactions for _, r in items], [r.engagement_rate for _, r in items],
        [r.version for _, r in items],
    ]  # fmt: skip
    return "post_latest", names, data
