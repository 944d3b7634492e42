"""Turning raw Kafka messages into contract records, or into dead letters."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from socialpulse.contract import (
    SCHEMA_VERSION,
    Platform,
    PostSnapshot,
    ProfileSnapshot,
    format_ts,
    to_ms,
)

Model = TypeVar("Model", ProfileSnapshot, PostSnapshot)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class RawMessage:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
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
_PROFILE_STR = ("snapshot_id", "account_id", "handle", "source")
_POST_STR = ("snapshot_id", "account_id", "post_id", "source")
_NONEMPTY = ("snapshot_id", "account_id")
_PROFILE_COUNTS = ("followers", "following", "posts_count")
_POST_COUNTS = ("likes", "comments", "shares", "saves", "views")
_OPTIONAL_STR = ("display_name", "sync_run_id", "url", "media_type")


def _ms(value: object) -> int | None:
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else to_ms(parsed)


def _str_fields_ok(
    obj: dict[str, Any], required: tuple[str, ...], nonempty: tuple[str, ...]
) -> bool:
    for name in required:
        if type(obj.get(name)) is not str or (name in nonempty and not obj[name]):
            return False
    return all(obj.get(n) is None or type(obj[n]) is str for n in _OPTIONAL_STR)


def _counts_ok(obj: dict[str, Any], names: tuple[str, ...]) -> bool:
    for name in names:
        v = obj.get(name)
        if v is not None and (type(v) is not int or v < 0):
            return False
    return True


def _fast_profile(obj: dict[str, Any]) -> ProfileRecord | None:
    observed = _ms(obj.get("observed_at"))
    if observed is None or not _str_fields_ok(obj, _PROFILE_STR, _NONEMPTY):
        return None
    if not _counts_ok(obj, _PROFILE_COUNTS):
        return None
    g = obj.get
    return ProfileRecord(
        obj["snapshot_id"], obj["platform"], obj["account_id"], obj["handle"], g("display_name"),
        observed, g("followers"), g("following"), g("posts_count"), obj["source"],
        g("sync_run_id"),
    )  # fmt: skip


def _fast_post(obj: dict[str, Any]) -> PostRecord | None:
    observed = _ms(obj.get("observed_at"))
    published = obj.get("published_at")
    published_ms = None if published is None else _ms(published)
    if observed is None or (published is not None and published_ms is None):
        return None
    if not _str_fields_ok(obj, _POST_STR, (*_NONEMPTY, "post_id")) or not _counts_ok(
        obj, _POST_COUNTS
    ):
        return None
    g = obj.get
    return PostRecord(
        obj["snapshot_id"], obj["platform"], obj["account_id"], obj["post_id"], published_ms,
        observed, g("url"), g("media_type"), g("likes"), g("comments"), g("shares"), g("saves"),
        g("views"), obj["source"], g("sync_run_id"),
    )  # fmt: skip


def _fast(model: type[Model], value: bytes) -> Record | None:
    """The common, well-formed record without pydantic's per-field machinery.

    Accepts a strict subset of what the model accepts (exact JSON types, no
    coercion) and builds the same record; anything else returns None and
    goes through full validation, which also explains what is wrong.
    """
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict or obj.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        return None
    platform = obj.get("platform")
    if type(platform) is not str or platform not in _PLATFORMS:
        return None
    return _fast_profile(obj) if model is ProfileSnapshot else _fast_post(obj)


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
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return DeadLetter(message, f"invalid {kind} snapshot: {problems}")
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
