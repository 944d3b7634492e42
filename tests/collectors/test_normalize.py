"""The normaliser: every odd format upstreams send, and round-trips where natural."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.normalize import (
    MISSING,
    ParsedCount,
    RateLimit,
    count,
    from_epoch,
    parse_count,
    parse_id,
    parse_rate_limit,
    parse_retry_after,
    parse_timestamp,
    sum_counts,
    urn_id,
)

NOW = datetime(2026, 11, 21, 10, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, ParsedCount(0)),  # a real zero stays zero
        (1234, ParsedCount(1234)),
        (1234.0, ParsedCount(1234)),
        ("1234", ParsedCount(1234)),
        ("0", ParsedCount(0)),
        ("1,710,167,563", ParsedCount(1_710_167_563)),  # thousands commas
        ("1.234.567", ParsedCount(1_234_567)),  # thousands dots (de, es, it)
        ("1.234", ParsedCount(1234)),
        (" 1 234 ", ParsedCount(1234)),  # spaces (fr) and padding
        ("1\u00a0234\u00a0567", ParsedCount(1_234_567)),  # no-break spaces
        ("1\u202f234", ParsedCount(1234)),  # narrow no-break space (fr)
        ("1'234'567", ParsedCount(1_234_567)),  # Swiss apostrophes
        ("317.4K", ParsedCount(317_400, 100)),
        ("1.2M", ParsedCount(1_200_000, 100_000)),
        ("12.5k", ParsedCount(12_500, 100)),
        ("12K", ParsedCount(12_000, 1000)),
        ("1,2M", ParsedCount(1_200_000, 100_000)),  # decimal comma
        ("12,5 k", ParsedCount(12_500, 100)),
        ("1.234,5K", ParsedCount(1_234_500, 100)),
        ("2.5B", ParsedCount(2_500_000_000, 100_000_000)),
        ("2.5bn", ParsedCount(2_500_000_000, 100_000_000)),
        ("1.2M subscribers", ParsedCount(1_200_000, 100_000)),  # a scraper's label kept
        ("10K+", ParsedCount(10_000, 1000)),
        ("500 members", ParsedCount(500)),  # "m" of "members" is no suffix
        ("1.2345K", ParsedCount(1234)),  # finer than a unit: exact
    ],
)
def test_counts_in_every_shape(raw: object, expected: ParsedCount) -> None:
    assert parse_count(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        -1,  # Instagram's and some Mastodon servers' "hidden"
        -5,
        "-1",
        "\u22121",  # a real minus sign
        "",
        "   ",
        "-",
        "N/A",
        "hidden",
        "null",
        True,  # a flag is never a count
        False,
        12.5,  # a fraction is not a count
        float("nan"),
        float("inf"),
        "12.5",
        "1,234.5",
        "3 mil",  # an unknown word: unreadable, not 3
        "abc",
        "1.23.45",
        [1],
        {"count": 1},
    ],
)
def test_missing_hidden_and_unreadable_counts_are_none_never_zero(raw: object) -> None:
    assert parse_count(raw) == MISSING
    assert count(raw) is None


def test_the_hidden_flag_wins_over_a_number() -> None:
    # YouTube: hiddenSubscriberCount true next to subscriberCount "0".
    assert parse_count("0", hidden=True) == MISSING
    assert parse_count("1500", hidden=False) == ParsedCount(1500)
    assert count(1500, hidden=True) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1230000", ParsedCount(1_230_000, 10_000)),
        (19_600_000, ParsedCount(19_600_000, 100_000)),
        ("1000", ParsedCount(1000, 10)),
        ("999", ParsedCount(999)),  # below 1000 YouTube shows the exact count
        ("1234567", ParsedCount(1_234_567)),  # not rounded after all: exact
        ("1.23M", ParsedCount(1_230_000, 10_000)),
        ("1.2M", ParsedCount(1_200_000, 100_000)),  # the coarser step wins
    ],
)
def test_rounded_counts_carry_their_precision(raw: object, expected: ParsedCount) -> None:
    assert parse_count(raw, significant_figures=3) == expected


def test_sum_counts_is_none_only_when_nothing_was_given() -> None:
    assert sum_counts(None, None) is None
    assert sum_counts(0, None) == 0
    assert sum_counts(3, None, 4) == 7


@settings(deadline=None)  # a shared 2-core machine: no flaky deadlines
@given(st.integers(min_value=0, max_value=10**15))
def test_formatted_counts_round_trip(value: int) -> None:
    assert parse_count(f"{value:,}") == ParsedCount(value)
    assert parse_count(f"{value:,}".replace(",", ".")) == ParsedCount(value)
    assert parse_count(f"{value:,}".replace(",", "\u00a0")) == ParsedCount(value)
    assert parse_count(str(value)) == ParsedCount(value)
    assert parse_count(value) == ParsedCount(value)


@settings(deadline=None)  # a shared 2-core machine: no flaky deadlines
@given(st.integers(min_value=1, max_value=9999), st.sampled_from([("K", 3), ("M", 6), ("B", 9)]))
def test_abbreviated_counts_round_trip(tenths: int, suffix: tuple[str, int]) -> None:
    letter, exponent = suffix
    parsed = parse_count(f"{tenths / 10:.1f}{letter}")
    assert parsed.value == tenths * 10 ** (exponent - 1)
    assert parsed.precision == 10 ** (exponent - 1)


@settings(deadline=None)  # a shared 2-core machine: no flaky deadlines
@given(st.integers(min_value=1000, max_value=10**12))
def test_three_figure_rounding_step_is_consistent(value: int) -> None:
    digits = len(str(value))
    rounded = round(value, 3 - digits)
    parsed = parse_count(rounded, significant_figures=3)
    assert parsed.value == rounded
    assert parsed.precision is None or rounded % parsed.precision == 0
    assert parsed.precision is None or parsed.precision <= 10 ** (digits - 3) * 10


# ---------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("787132", "787132"),
        (787132, "787132"),
        (1_585_233_004_712_345_678, "1585233004712345678"),  # every digit of a 64-bit id
        ("  UCBJycsmduvYEL83R_U4JriQ ", "UCBJycsmduvYEL83R_U4JriQ"),
        ("did:plc:z72i7hdynmk6r22z27h6tvur", "did:plc:z72i7hdynmk6r22z27h6tvur"),
        (1.5852330047123456e18, None),  # already lost its last digits
        ("", None),
        (None, None),
        (True, None),
        (-1, None),
    ],
)
def test_ids(raw: object, expected: str | None) -> None:
    assert parse_id(raw) == expected


def test_urn_ids() -> None:
    assert urn_id("urn:li:organization:2414183") == "2414183"
    assert urn_id("2414183") == "2414183"
    assert urn_id(None) is None


# ---------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-21T10:15:00Z", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("2026-11-21T10:15:00.123Z", datetime(2026, 11, 21, 10, 15, 0, 123000, tzinfo=UTC)),
        ("2026-11-21T10:15:00.123456789Z", datetime(2026, 11, 21, 10, 15, 0, 123456, tzinfo=UTC)),
        ("2026-11-21T11:15:00+01:00", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("2026-11-21T10:15:00+0000", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),  # Graph API
        ("2026-11-21T05:45:00-04:30", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("2026-11-21T10:15:00", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),  # naive: UTC
        ("2026-11-21 10:15:00 UTC", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=UTC)),
        ("Sat Nov 21 10:15:00 +0000 2026", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),  # X v1
        ("Sat, 21 Nov 2026 10:15:00 GMT", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),  # HTTP
        (1795256100, datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),  # epoch seconds
        (1795256100123, datetime(2026, 11, 21, 10, 15, 0, 123000, tzinfo=UTC)),  # epoch ms
        ("1795256100", datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("1795256100123", datetime(2026, 11, 21, 10, 15, 0, 123000, tzinfo=UTC)),
        ("1795256100.5", datetime(2026, 11, 21, 10, 15, 0, 500000, tzinfo=UTC)),  # Reddit
        (1795256100.5, datetime(2026, 11, 21, 10, 15, 0, 500000, tzinfo=UTC)),
        (1795256100123456, datetime(2026, 11, 21, 10, 15, 0, 123456, tzinfo=UTC)),  # µs
    ],
)
def test_absolute_timestamps(raw: object, expected: datetime) -> None:
    parsed = parse_timestamp(raw, now=NOW)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "ago"),
    [
        ("2 hours ago", timedelta(hours=2)),
        ("an hour ago", timedelta(hours=1)),
        ("1 hour ago", timedelta(hours=1)),
        ("5 min ago", timedelta(minutes=5)),
        ("45s", timedelta(seconds=45)),
        ("3d", timedelta(days=3)),
        ("3 days ago", timedelta(days=3)),
        ("2h", timedelta(hours=2)),
        ("1w", timedelta(weeks=1)),
        ("2 weeks ago", timedelta(weeks=2)),
        ("1mo", timedelta(days=30)),
        ("3 months ago", timedelta(days=90)),
        ("a year ago", timedelta(days=365)),
        ("yesterday", timedelta(days=1)),
        ("Yesterday", timedelta(days=1)),
        ("just now", timedelta(0)),
        ("now", timedelta(0)),
        ("Streamed 2 days ago", timedelta(days=2)),  # YouTube's live replays
        ("  4 HOURS AGO ", timedelta(hours=4)),
    ],
)
def test_relative_text_counts_back_from_the_injected_now(raw: str, ago: timedelta) -> None:
    assert parse_timestamp(raw, now=NOW) == NOW - ago


def test_relative_text_follows_now() -> None:
    other_now = NOW + timedelta(days=10)
    assert parse_timestamp("2 hours ago", now=other_now) == other_now - timedelta(hours=2)


@pytest.mark.parametrize(
    "raw",
    [None, "", "garbage", "in 2 hours", "2 fortnights ago", 0, "0", -5, True, [], "2026-13-45"],
)
def test_unreadable_timestamps_are_none(raw: object) -> None:
    assert parse_timestamp(raw, now=NOW) is None


def test_aware_datetimes_are_converted_to_utc() -> None:
    local = datetime(2026, 11, 21, 12, 15, tzinfo=timezone(timedelta(hours=2)))
    assert parse_timestamp(local, now=NOW) == NOW


# From 1974 on: epoch milliseconds before 1973-03 are told apart from seconds by magnitude.
@settings(deadline=None)  # a shared 2-core machine: no flaky deadlines
@given(st.datetimes(min_value=datetime(1974, 1, 1), max_value=datetime(2200, 1, 1)))
def test_timestamps_round_trip_through_every_encoding(naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC)
    ms = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    epoch_ms = int((ms - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    assert parse_timestamp(moment.isoformat(), now=NOW) == moment
    assert parse_timestamp(moment.isoformat().replace("+00:00", "Z"), now=NOW) == moment
    assert parse_timestamp(epoch_ms, now=NOW) == ms
    assert parse_timestamp(str(epoch_ms), now=NOW) == ms
    whole = moment.replace(microsecond=0)
    assert parse_timestamp(format_datetime(whole, usegmt=True), now=NOW) == whole
    assert parse_timestamp(whole.strftime("%a %b %d %H:%M:%S +0000 %Y"), now=NOW) == whole


def test_epoch_placeholders_are_not_dates() -> None:
    assert from_epoch(0) is None
    assert from_epoch(-1) is None
    assert from_epoch(float("nan")) is None
    assert from_epoch(1e300) is None


# ---------------------------------------------------------------- rate limits


def test_mastodon_rate_limit_headers_with_an_iso_reset() -> None:
    headers = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "299",
        "X-RateLimit-Reset": "2026-11-21T10:20:00.000Z",
    }
    assert parse_rate_limit(headers, now=NOW) == RateLimit(
        300, 299, datetime(2026, 11, 21, 10, 20, tzinfo=UTC)
    )


def test_x_and_bluesky_rate_limit_headers_with_an_epoch_reset() -> None:
    x = {
        "x-rate-limit-limit": "900",
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": "1795256400",
    }
    assert parse_rate_limit(x, now=NOW) == RateLimit(900, 0, NOW + timedelta(minutes=5))
    bsky = {
        "ratelimit-limit": "3000",
        "ratelimit-remaining": "2999",
        "ratelimit-reset": "1795256400",
    }
    assert parse_rate_limit(bsky, now=NOW) == RateLimit(3000, 2999, NOW + timedelta(minutes=5))


def test_reddit_rate_limit_headers_with_floats_and_seconds_left() -> None:
    headers = {"x-ratelimit-used": "2", "x-ratelimit-remaining": "98.0", "x-ratelimit-reset": "540"}
    assert parse_rate_limit(headers, now=NOW) == RateLimit(100, 98, NOW + timedelta(seconds=540))


def test_no_rate_limit_headers() -> None:
    assert parse_rate_limit({"content-type": "application/json"}, now=NOW) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("Sat, 21 Nov 2026 10:17:00 GMT", 120.0),  # an HTTP-date two minutes on
        ("Sat, 21 Nov 2026 10:00:00 GMT", 0.0),  # already past: no wait
        (None, None),
        ("soon", None),
        ("-3", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds
