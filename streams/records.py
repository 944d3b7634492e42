"""Turning raw Kafka messages into contract records, or into dead letters.

The worker's per-record value types (here and in the other ``streams``
modules) are plain slotted dataclasses, not frozen ones: a frozen
``__init__`` sets every field through ``object.__setattr__``, a cost paid
several times per snapshot. Nothing mutates them after construction.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import msgspec
from pydantic import BaseModel, ValidationError

from socialpulse.contract import (
    SCHEMA_VERSION,
    Platform,
    PostSnapshot,
    ProfileSnapshot,
    format_ts,
    to_ms,
)

Model = TypeVar("Model", ProfileSnapshot, PostSnapshot)


@dataclass(slots=True)
class ProfileRecord:
    """A validated profile snapshot in the worker's terms: plain strs and epoch ms."""

    snapshot_id: str
    platform: str
    account_id: str
    handle: str
    display_name: str | None
    observed_ms: int
    followers: int | None
    following: int | None
    posts_count: int | None
    source: str
    sync_run_id: str | None
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account_id}"

    @classmethod
    def of(cls, m: ProfileSnapshot) -> ProfileRecord:
        return cls(
            m.snapshot_id, m.platform.value, m.account_id, m.handle, m.display_name,
            to_ms(m.observed_at), m.followers, m.following, m.posts_count, m.source,
            m.sync_run_id, m.schema_version,
        )  # fmt: skip


@dataclass(slots=True)
class PostRecord:
    snapshot_id: str
    platform: str
    account_id: str
    post_id: str
    published_ms: int | None
    observed_ms: int
    url: str | None
    media_type: str | None
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    views: int | None
    source: str
    sync_run_id: str | None
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account_id}"

    @classmethod
    def of(cls, m: PostSnapshot) -> PostRecord:
        published = None if m.published_at is None else to_ms(m.published_at)
        return cls(
            m.snapshot_id, m.platform.value, m.account_id, m.post_id, published,
            to_ms(m.observed_at), m.url, m.media_type, m.likes, m.comments, m.shares, m.saves,
            m.views, m.source, m.sync_run_id, m.schema_version,
        )  # fmt: skip


Record = ProfileRecord | PostRecord


@dataclass(slots=True)
class RawMessage:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class DeadLetter:
    message: RawMessage
    reason: str

    def to_json_bytes(self) -> bytes:
        value = self.message.value or b""
        try:
            original: str = value.decode()
            encoding = "utf-8"
        except UnicodeDecodeError:
            original, encoding = base64.b64encode(value).decode(), "base64"
        return json.dumps(
            {
                "reason": self.reason,
                "topic": self.message.topic,
                "partition": self.message.partition,
                "offset": self.message.offset,
                "key": self.message.key.decode(errors="replace") if self.message.key else None,
                "value": original,
                "value_encoding": encoding,
                "failed_at": format_ts(datetime.now(UTC)),
            }
        ).encode()


_PLATFORMS = {p.value for p in Platform}
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Count = Annotated[int, msgspec.Meta(ge=0)] | None
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class _ProfileWire(msgspec.Struct):
    """CONTRACT §2's profile snapshot as msgspec decodes it in one C pass."""

    snapshot_id: NonEmpty
    platform: str
    account_id: NonEmpty
    handle: str
    observed_at: UtcTime
    source: str
    schema_version: int = SCHEMA_VERSION
    display_name: str | None = None
    followers: Count = None
    following: Count = None
    posts_count: Count = None
    sync_run_id: str | None = None


class _PostWire(msgspec.Struct):
    snapshot_id: NonEmpty
    platform: str
    account_id: NonEmpty
    post_id: NonEmpty
    observed_at: UtcTime
    source: str
    schema_version: int = SCHEMA_VERSION
    published_at: UtcTime | None = None
    url: str | None = None
    media_type: str | None = None
    likes: Count = None
    comments: Count = None
    shares: Count = None
    saves: Count = None
    views: Count = None
    sync_run_id: str | None = None


_PROFILE = msgspec.json.Decoder(_ProfileWire)
_POST = msgspec.json.Decoder(_PostWire)


def _fast(model: type[Model], value: bytes) -> Record | None:
    """The common, well-formed record without pydantic's per-field machinery.

    msgspec accepts a strict subset of what the pydantic model accepts (exact
    JSON types, RFC 3339 times with an offset, no coercion) and builds the
    same record; anything else returns None and goes through full
    validation, which also explains what is wrong.
    """
    try:
        if model is ProfileSnapshot:
            p = _PROFILE.decode(value)
            if p.platform not in _PLATFORMS or p.schema_version != SCHEMA_VERSION:
                return None
            return ProfileRecord(
                p.snapshot_id, p.platform, p.account_id, p.handle, p.display_name,
                to_ms(p.observed_at), p.followers, p.following, p.posts_count, p.source,
                p.sync_run_id,
            )  # fmt: skip
        q = _POST.decode(value)
    except msgspec.DecodeError:  # also raised for a value that fails validation
        return None
    if q.platform not in _PLATFORMS or q.schema_version != SCHEMA_VERSION:
        return None
    published = None if q.published_at is None else to_ms(q.published_at)
    return PostRecord(
        q.snapshot_id, q.platform, q.account_id, q.post_id, published, to_ms(q.observed_at),
        q.url, q.media_type, q.likes, q.comments, q.shares, q.saves, q.views, q.source,
        q.sync_run_id,
    )  # fmt: skip


def parse(message: RawMessage, model: type[Model]) -> Record | DeadLetter:
    kind = "profile" if model is ProfileSnapshot else "post"
    if not message.value:
        return DeadLetter(message, "empty value")
    fast = _fast(model, message.value)
    if fast is not None:
        return _check_key(message, fast)
    try:
        validated = model.model_validate_json(message.value)
    except ValidationError as exc:
        return DeadLetter(message, f"invalid {kind} snapshot: {describe(exc)}")
    record: Record = (
        ProfileRecord.of(validated)
        if isinstance(validated, ProfileSnapshot)
        else PostRecord.of(validated)
    )
    return _check_key(message, record)


def _check_key(message: RawMessage, record: Record) -> Record | DeadLetter:
    if message.key is not None and message.key.decode(errors="replace") != record.key:
        return DeadLetter(
            message, f"message key {message.key!r} does not match the record's {record.key!r}"
        )
    return record


def describe(exc: ValidationError) -> str:
    """The first few problems of a record, in words a producer's author can act on."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:5]
    )


AnyModel = TypeVar("AnyModel", bound=BaseModel)


def parse_all(
    messages: list[RawMessage], model: type[AnyModel], what: str
) -> tuple[list[AnyModel], list[DeadLetter]]:
    """Validate every message as ``model``; the ones that fail become dead letters."""
    parsed: list[AnyModel] = []
    letters: list[DeadLetter] = []
    for message in messages:
        try:
            parsed.append(model.model_validate_json(message.value or b""))
        except ValidationError as exc:
            letters.append(DeadLetter(message, f"invalid {what}: {describe(exc)}"))
    return parsed, letters
