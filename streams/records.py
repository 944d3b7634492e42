"""Turning raw Kafka messages into contract records, or into dead letters."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import ValidationError

from socialpulse.contract import PostSnapshot, ProfileSnapshot, format_ts

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


def parse(message: RawMessage, model: type[Record]) -> Record | DeadLetter:
    kind = "profile" if model is ProfileSnapshot else "post"
    if not message.value:
        return DeadLetter(message, "empty value")
    try:
        record = model.model_validate_json(message.value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return DeadLetter(message, f"invalid {kind} snapshot: {problems}")
    if message.key is not None and message.key.decode(errors="replace") != record.key:
        return DeadLetter(
            message, f"message key {message.key!r} does not match the record's {record.key!r}"
        )
    return record


def parse_profile(message: RawMessage) -> ProfileSnapshot | DeadLetter:
    return parse(message, ProfileSnapshot)
