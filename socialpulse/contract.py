"""The public contract (shared/CONTRACT.md) in code: topics, keys, records, time.

Everything that crosses a process boundary is defined here once, so collectors,
stream workers and the API cannot drift apart.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class Platform(StrEnum):
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    FACEBOOK = "facebook"
    X = "x"
    YOUTUBE = "youtube"
    LINKEDIN = "linkedin"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"
    THREADS = "threads"
    REDDIT = "reddit"
    SIMULATED = "simulated"


class Topics:
    """Topic names under a configurable prefix (CONTRACT §2)."""

    def __init__(self, prefix: str = "socialpulse") -> None:
        self.prefix = prefix
        self.profile_snapshots = f"{prefix}.raw.profile-snapshots"
        self.post_snapshots = f"{prefix}.raw.post-snapshots"
        self.sync_requests = f"{prefix}.sync.requests"
        self.sync_events = f"{prefix}.sync.events"
        self.upstream_items = f"{prefix}.raw.upstream-items"
        self.metrics_account = f"{prefix}.metrics.account"
        self.follower_changes = f"{prefix}.events.follower-changes"
        self.alerts = f"{prefix}.events.alerts"
        self.dlq = f"{prefix}.dlq"

    def all(self) -> list[str]:
        return [
            self.profile_snapshots,
            self.post_snapshots,
            self.sync_requests,
            self.sync_events,
            self.upstream_items,
            self.metrics_account,
            self.follower_changes,
            self.alerts,
            self.dlq,
        ]


def account_key(platform: str, account_id: str) -> str:
    """The Kafka message key of every account-scoped record."""
    return f"{platform}:{account_id}"


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset, e.g. 2026-11-21T10:15:00.000Z")
    return value.astimezone(UTC)


# Answers write the same instants again and again (an account's latest observation, its
# next sync): a kept text costs a hash lookup. Equal datetimes are the same instant (the
# text depends on nothing else), whatever their offsets.
@lru_cache(maxsize=1 << 16)
def format_ts(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-21T10:15:00.000Z`` (sub-millisecond
    digits are cut, as ``isoformat(timespec="milliseconds")`` cuts them)."""
    if value.tzinfo is None:
        value = value.astimezone(UTC)  # a naive value is local time, as astimezone reads it
    # Through epoch milliseconds and format_ms's cached minute: a third of the CPU of
    # isoformat on a converted copy, and answers write several instants per item.
    return format_ms(to_ms(value))


UtcDatetime = Annotated[
    datetime, AfterValidator(_require_utc), PlainSerializer(format_ts, when_used="json")
]
Count = Annotated[int | None, Field(ge=0)]


def to_ms(value: datetime) -> int:
    """Epoch milliseconds; the stream state's time unit."""
    return (value - EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@lru_cache(maxsize=1 << 14)
def _minute_prefix(minute: int) -> str:
    return from_ms(minute * 60_000).replace(tzinfo=None).isoformat(timespec="minutes") + ":"


def format_ms(ms: int) -> str:
    """``format_ts(from_ms(ms))`` without building a datetime: the stream worker writes
    a few timestamps per snapshot, nearly all within the same few minutes."""
    minute, rest = divmod(ms, 60_000)
    return f"{_minute_prefix(minute)}{rest // 1000:02d}.{rest % 1000:03d}Z"


def snapshot_id(*parts: object) -> str:
    """A deterministic id: the same observation always gets the same id."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:32]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class ProfileSnapshot(_Record):
    schema_version: int = SCHEMA_VERSION
    snapshot_id: str = Field(min_length=1)
    platform: Platform
    account_id: str = Field(min_length=1)
    handle: str
    display_name: str | None = None
    observed_at: UtcDatetime
    followers: Count = None
    following: Count = None
    posts_count: Count = None
    source: str
    sync_run_id: str | None = None

    @property
    def key(self) -> str:
        return account_key(self.platform.value, self.account_id)


class PostSnapshot(_Record):
    schema_version: int = SCHEMA_VERSION
    snapshot_id: str = Field(min_length=1)
    platform: Platform
    account_id: str = Field(min_length=1)
    post_id: str = Field(min_length=1)
    published_at: UtcDatetime | None = None
    observed_at: UtcDatetime
    url: str | None = None
    media_type: str | None = None
    likes: Count = None
    comments: Count = None
    shares: Count = None
    saves: Count = None
    views: Count = None
    source: str
    sync_run_id: str | None = None

    @property
    def key(self) -> str:
        return account_key(self.platform.value, self.account_id)


class RunState(StrEnum):
    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    REQUEST = "request"


class SyncRequest(BaseModel):
    """A ``<prefix>.sync.requests`` record (written by the API's ``POST /v1/sync``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    schema_version: int = SCHEMA_VERSION
    run_id: str | None = None  # the API makes the id it answered with; else the collector does
    platform: Platform
    account_id: str
    handle: str | None = None
    workspace: str | None = None
    requested_by: str | None = None
    requested_at: UtcDatetime | None = None


class SyncEvent(BaseModel):
    """A ``<prefix>.sync.events`` record: one state transition of one run."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    schema_version: int = SCHEMA_VERSION
    event_id: str  # run_id + state: a replayed event has the same id
    run_id: str
    platform: Platform
    account_id: str
    handle: str | None = None
    trigger: Trigger
    state: RunState
    at: UtcDatetime
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    duration_ms: int | None = None
    profiles: int = 0
    posts: int = 0
    upstream_calls: int = 0  # calls of the whole batch this run was part of ...
    batch_accounts: int = 1  # ... and how many accounts shared them
    cache_hit: bool = False
    error_class: str | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return account_key(self.platform.value, self.account_id)


class UpstreamItem(_Record):
    """A ``<prefix>.raw.upstream-items`` record: what one upstream said about one account.

    Kept so snapshots can be recomputed when a parser is fixed. ``raw`` is the
    upstream's JSON as received (per source: docs/sources/); ``snapshot_ids``
    are the snapshots mapped from it (the profile first; posts the post ladder
    skipped are listed too). ``raw`` is null with ``raw_omitted`` when it was
    too large for a Kafka record.
    """

    schema_version: int = SCHEMA_VERSION
    item_id: str = Field(min_length=1)  # deterministic: a repeated answer has the same id
    platform: Platform
    account_id: str = Field(min_length=1)  # the immutable id, or "@handle" when unresolved
    handle: str | None = None
    source: str
    fetched_at: UtcDatetime
    sync_run_id: str | None = None  # a run that received it (a cached answer reaches several)
    state: str  # the account state the source read from it (active, suspended, ...)
    snapshot_ids: list[str] = Field(default_factory=list)
    raw: Any = None
    raw_bytes: int = Field(ge=0)  # size of ``raw`` as JSON, also when omitted
    raw_omitted: bool = False

    @property
    def key(self) -> str:
        return account_key(self.platform.value, self.account_id)
