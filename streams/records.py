"""Turning raw Kafka messages into contract records, or into dead letters."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import orjson
from pydantic import ValidationError

from socialpulse.contract import SCHEMA_VERSION, Platform, PostSnapshot, ProfileSnapshot, format_ts

Record = TypeVar("Record", ProfileSnapshot, PostSnapshot)


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


_PLATFORMS = {p.value: p for p in Platform}
_PROFILE_COUNTS = ("followers", "following", "posts_count")
_POST_COUNTS = ("likes", "comments", "shares", "saves", "views")
_OPTIONAL_STR = ("display_name", "sync_run_id", "url", "media_type")


def _timestamp(value: object) -> datetime | None:
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed.astimezone(UTC)


def _fast(model: type[Record], value: bytes) -> Record | None:
    """The common, well-formed record without pydantic's per-field machinery.

    Accepts a strict subset of what the model accepts (exact JSON types, no
    coercion) and builds the same object; anything else returns None and
    goes through full validation, which also explains what is wrong.
    """
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    raw_platform = obj.get("platform")
    platform = _PLATFORMS.get(raw_platform) if type(raw_platform) is str else None
    observed = _timestamp(obj.get("observed_at"))
    if platform is None or observed is None or obj.get("schema_version", 1) != SCHEMA_VERSION:
        return None
    for name in ("snapshot_id", "account_id"):
        if type(obj.get(name)) is not str or not obj[name]:
            return None
    is_profile = model is ProfileSnapshot
    for name in ("handle", "source") if is_profile else ("post_id", "source"):
        if type(obj.get(name)) is not str or (name == "post_id" and not obj[name]):
            return None
    for name in _PROFILE_COUNTS if is_profile else _POST_COUNTS:
        v = obj.get(name)
        if v is not None and (type(v) is not int or v < 0):
            return None
    for name in _OPTIONAL_STR:
        if obj.get(name) is not None and type(obj[name]) is not str:
            return None
    fields = {k: obj[k] for k in model.model_fields.keys() & obj.keys()}
    fields.update(platform=platform, observed_at=observed, schema_version=SCHEMA_VERSION)
    if not is_profile and obj.get("published_at") is not None:
        published = _timestamp(obj["published_at"])
        if published is None:
            return None
        fields["published_at"] = published
    return model.model_construct(**fields)


def parse(message: RawMessage, model: type[Record]) -> Record | DeadLetter:
    kind = "profile" if model is ProfileSnapshot else "post"
    if not message.value:
        return DeadLetter(message, "empty value")
    fast = _fast(model, message.value)
    if fast is not None:
        return _check_key(message, fast)
    try:
        record = model.model_validate_json(message.value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return DeadLetter(message, f"invalid {kind} snapshot: {problems}")
    return _check_key(message, record)


def _check_key(message: RawMessage, record: Record) -> Record | DeadLetter:
    if message.key is not None and message.key.decode(errors="replace") != record.key:
        return DeadLetter(
            message, f"message key {message.key!r} does not match the record's {record.key!r}"
        )
    return record


def parse_profile(message: RawMessage) -> ProfileSnapshot | DeadLetter:
    return parse(message, ProfileSnapshot)
