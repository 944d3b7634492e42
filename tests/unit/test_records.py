"""Record parsing: the fast path builds exactly what full validation builds, or defers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.contract import PostSnapshot, ProfileSnapshot, format_ms, format_ts, from_ms
from streams.records import DeadLetter, PostRecord, ProfileRecord, RawMessage, _fast, parse

GOOD: dict[str, Any] = {
    "schema_version": 1, "snapshot_id": "s1", "platform": "instagram", "account_id": "42",
    "handle": "acme", "display_name": None, "observed_at": "2026-11-21T10:15:00.123Z",
    "followers": 10, "following": None, "posts_count": 3, "source": "simulator",
    "sync_run_id": None,
}  # fmt: skip


def message(obj: object, key: bytes | None = b"instagram:42") -> RawMessage:
    return RawMessage(key, json.dumps(obj).encode(), "t", 0, 0)


def test_fast_path_equals_full_validation() -> None:
    fast = _fast(ProfileSnapshot, json.dumps(GOOD).encode())
    assert fast is not None
    assert fast == ProfileRecord.of(ProfileSnapshot.model_validate(GOOD))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"platform": "myspace"}, "platform"),
        ({"followers": -1}, "followers"),
        ({"observed_at": "2026-11-21T10:15:00"}, "UTC offset"),
        ({"observed_at": "yesterday"}, "observed_at"),
        ({"snapshot_id": ""}, "snapshot_id"),
        ({"handle": 5}, "handle"),
    ],
)
def test_invalid_records_become_dead_letters_with_the_reason(
    change: dict[str, Any], reason: str
) -> None:
    result = parse(message({**GOOD, **change}), ProfileSnapshot)
    assert isinstance(result, DeadLetter)
    assert reason in result.reason


def test_coercible_values_take_the_slow_path_and_keep_pydantics_meaning() -> None:
    odd = {**GOOD, "followers": "12", "observed_at": "2026-11-21T11:15:00.123+01:00"}
    assert _fast(ProfileSnapshot, json.dumps(odd).encode()) is None
    parsed = parse(message(odd), ProfileSnapshot)
    assert isinstance(parsed, ProfileRecord)
    assert parsed.followers == 12
    assert parsed.observed_ms == ProfileRecord.of(ProfileSnapshot.model_validate(GOOD)).observed_ms


def test_key_must_match_the_record() -> None:
    assert isinstance(parse(message(GOOD, key=b"instagram:43"), ProfileSnapshot), DeadLetter)


def test_post_fast_path() -> None:
    post = {
        "snapshot_id": "p", "platform": "tiktok", "account_id": "1", "post_id": "9",
        "published_at": "2026-11-20T00:00:00Z", "observed_at": "2026-11-21T00:00:00Z",
        "likes": 5, "comments": None, "source": "x",
    }  # fmt: skip
    fast = _fast(PostSnapshot, json.dumps(post).encode())
    assert fast == PostRecord.of(PostSnapshot.model_validate(post))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.text(max_size=5)
    | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=3),
    max_leaves=5,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(GOOD)), json_values, max_size=6))
def test_fast_path_never_accepts_what_validation_rejects(changes: dict[str, Any]) -> None:
    raw = json.dumps({**GOOD, **changes}).encode()
    fast = _fast(ProfileSnapshot, raw)
    if fast is None:
        return
    assert fast == ProfileRecord.of(ProfileSnapshot.model_validate_json(raw))


@given(st.integers(0, 253_402_300_799_999))  # 1970 … 9999-12-31T23:59:59.999Z
def test_format_ms_is_isoformat_of_the_instant(ms: int) -> None:
    expected = from_ms(ms).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    assert format_ms(ms) == expected


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    )
)
def test_format_ts_is_isoformat_in_utc_with_milliseconds_cut(value: datetime) -> None:
    expected = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    assert format_ts(value) == expected + "Z"
