"""One normaliser for the mess upstream sources return. Pure functions, no I/O.

Upstreams disagree on everything: counts arrive as ints, as "1,710,167,563",
"317.4K", "1.2M subscribers", " 1 234 ", or ``-1`` when hidden; dates as ISO
8601, epoch seconds or milliseconds, Twitter's legacy format or "2 hours ago";
rate limits as ISO instants, epoch seconds or seconds-from-now. Every source
parses through here so each odd format is handled (and tested) once.

The rule for anything missing, hidden or unreadable is ``None``, never ``0``:
a zero would read downstream as a real collapse of the audience.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

# ---------------------------------------------------------------- counts


@dataclass(frozen=True)
class ParsedCount:
    """A count and how exact it is.

    ``precision`` is the step the upstream rounded to ("1.2M" -> 100_000; a
    YouTube subscriber count of 1_230_000 -> 10_000); ``None`` means exact.
    ``value`` is ``None`` when the upstream did not give the count.
    """

    value: int | None
    precision: int | None = None


MISSING = ParsedCount(None)

_SUFFIX_EXPONENT = {"k": 3, "m": 6, "mn": 6, "b": 9, "bn": 9, "t": 12}
_GAPS = re.compile(r"[\s']+")  # thousands gaps: space, NBSP, thin space, Swiss '
_COUNT = re.compile(  # "1,234", " 1 234 ", "317.4K", "1.2M subscribers", "10K+"
    r"^(?P<num>\d[\d.,\s']*?)\s*(?P<suffix>k|mn|m|bn|b|t)?(?![a-z])\+?\s*(?P<words>[a-z][a-z ]*)?$",
    re.IGNORECASE,
)
# Labels scrapers leave after the number; any other word makes the text unreadable rather
# than risk "3 mil" (3 thousand in Spanish) reading as 3.
_LABELS = {
    *("follower", "followers", "subscriber", "subscribers", "member", "members", "fans"),
    *("view", "views", "like", "likes", "comment", "comments", "post", "posts", "videos"),
    *("video", "watching", "reactions", "shares"),
}
_HIDDEN_WORDS = {"", "-", "—", "n/a", "na", "null", "none", "hidden", "private", "unknown"}


def parse_count(
    raw: object, *, hidden: object = False, significant_figures: int | None = None
) -> ParsedCount:
    """Normalise one count; ``MISSING`` for absent, hidden, negative or unreadable values.

    ``hidden``: the upstream's own "this count is hidden" flag (e.g. YouTube's
    ``hiddenSubscriberCount``), which wins over whatever number came along.
    ``significant_figures``: the upstream rounds to this many figures (YouTube
    subscriber counts: 3), so a value like 1_230_000 carries a precision.
    """
    if hidden is True:
        return MISSING
    parsed = _parse_count_value(raw)
    if parsed.value is None or significant_figures is None:
        return parsed
    rounding = _rounding_step(parsed.value, significant_figures)
    steps = [p for p in (parsed.precision, rounding) if p is not None]
    return ParsedCount(parsed.value, max(steps) if steps else None)


def count(raw: object, *, hidden: object = False) -> int | None:
    """Just the value of :func:`parse_count`, for counts nobody rounds."""
    return parse_count(raw, hidden=hidden).value


def _parse_count_value(raw: object) -> ParsedCount:
    if raw is None or isinstance(raw, bool):  # a bool is a flag, never a count
        return MISSING
    if isinstance(raw, int):
        return ParsedCount(raw) if raw >= 0 else MISSING  # -1 is "hidden" in several APIs
    if isinstance(raw, float):
        if math.isfinite(raw) and raw >= 0 and raw.is_integer():
            return ParsedCount(int(raw))
        return MISSING
    if isinstance(raw, str):
        return _parse_count_text(raw)
    return MISSING


def _parse_count_text(raw: str) -> ParsedCount:
    text = raw.strip()
    if text.lower() in _HIDDEN_WORDS or text.startswith(("-", "\u2212")):
        return MISSING
    match = _COUNT.match(text)
    if match is None:
        return MISSING
    if match["words"] and match["words"].strip().lower() not in _LABELS:
        return MISSING
    number, suffix = _GAPS.sub("", match["num"]), (match["suffix"] or "").lower()
    digits = _decimal_text(number, suffixed=bool(suffix))
    if digits is None:
        return MISSING
    try:
        amount = Decimal(digits)
    except InvalidOperation:
        return MISSING
    exponent = _SUFFIX_EXPONENT.get(suffix, 0)
    decimals = len(digits.partition(".")[2])
    scaled = amount.scaleb(exponent)
    if not suffix and scaled != scaled.to_integral_value():
        return MISSING  # "12.5" without a suffix is not a count
    step_exponent = exponent - decimals
    precision = 10**step_exponent if suffix and step_exponent > 0 else None
    return ParsedCount(int(scaled.to_integral_value()), precision)


def _decimal_text(number: str, *, suffixed: bool) -> str | None:
    """``number`` with thousands separators removed and "." as the decimal point."""
    if "," in number and "." in number:
        # Both: whichever comes last is the decimal point ("1,234.5" / "1.234,5").
        decimal_mark = "," if number.rfind(",") > number.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        return _ungroup(number.replace(thousands, ""), decimal_mark)
    for mark in (",", "."):
        if mark in number:
            whole, *groups = number.split(mark)
            grouped = all(len(g) == 3 for g in groups) and 1 <= len(whole) <= 3
            if grouped and not (suffixed and len(groups) == 1 and mark == "."):
                return "".join([whole, *groups])  # "1,234,567" / "1.234.567" / "1,234K"
            if len(groups) == 1:
                return f"{whole}.{groups[0]}"  # "317.4", "1,2" (a decimal comma)
            return None
    return number


def _ungroup(number: str, decimal_mark: str) -> str | None:
    whole, _, fraction = number.partition(decimal_mark)
    return f"{whole}.{fraction}" if fraction else whole


def _rounding_step(value: int, significant_figures: int) -> int | None:
    """The rounding step of a value rounded to ``significant_figures``, if it shows."""
    extra_digits = len(str(value)) - significant_figures
    if extra_digits <= 0:
        return None
    step: int = 10**extra_digits
    return step if value % step == 0 else None


def sum_counts(*values: int | None) -> int | None:
    """Sum of the given counts; ``None`` when none was given (not 0)."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


# ---------------------------------------------------------------- ids


def parse_id(raw: object) -> str | None:
    """An upstream's immutable id as text; ``None`` when absent.

    Ints keep every digit. Floats are refused: a 64-bit id that went through a
    float (JavaScript, some JSON tools) has lost its last digits and would
    silently point at another account.
    """
    if isinstance(raw, bool) or raw is None or isinstance(raw, float):
        return None
    if isinstance(raw, int):
        return str(raw) if raw >= 0 else None
    if isinstance(raw, str):
        text = raw.strip()
        return text or None
    return None


def urn_id(urn: object) -> str | None:
    """The id at the end of an URN (``urn:li:organization:2414183`` -> ``2414183``)."""
    text = parse_id(urn)
    if text is None:
        return None
    return text.rsplit(":", 1)[-1] or None


# ---------------------------------------------------------------- time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DIGITS = re.compile(r"^\d+(\.\d+)?$")
_TWITTER_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Fri Nov 24 17:46:59 +0000 2023"
_UNIT_SECONDS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86_400,
    "w": 7 * 86_400,
    "mo": 30 * 86_400,  # relative months and years are approximate by nature
    "y": 365 * 86_400,
}
_UNIT_ALIASES = {
    **{a: "s" for a in ("s", "sec", "secs", "second", "seconds")},
    **{a: "m" for a in ("m", "min", "mins", "minute", "minutes")},
    **{a: "h" for a in ("h", "hr", "hrs", "hour", "hours")},
    **{a: "d" for a in ("d", "day", "days")},
    **{a: "w" for a in ("w", "wk", "wks", "week", "weeks")},
    **{a: "mo" for a in ("mo", "mos", "mon", "month", "months")},
    **{a: "y" for a in ("y", "yr", "yrs", "year", "years")},
}
_RELATIVE = re.compile(
    r"^(?:(?:streamed|premiered|posted|updated)\s+)?(?P<n>\d+|an?|one)\s*(?P<unit>[a-z]+)"
    r"(?:\s+ago)?$"
)
_RELATIVE_WORDS = {"now": 0, "just now": 0, "a moment ago": 0, "moments ago": 0, "today": 0}


def parse_timestamp(raw: object, *, now: datetime) -> datetime | None:
    """A UTC datetime from any of the formats upstreams use; ``None`` when unreadable.

    ``now`` anchors relative text ("2 hours ago", "3d", "yesterday"); it is
    injected so results are reproducible. Naive timestamps are taken as UTC.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, datetime):
        return _as_utc(raw)
    if isinstance(raw, int | float):
        return from_epoch(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if _EPOCH_DIGITS.match(text):
        return from_epoch(float(text) if "." in text else int(text))
    return _parse_absolute(text) or _parse_relative(text.lower(), now)


def from_epoch(value: float) -> datetime | None:
    """Epoch seconds, milliseconds or microseconds, told apart by magnitude.

    1e11 seconds is the year 5138 while 1e11 ms is 1973, so the cut-offs are
    safe for any real observation. Zero and negatives are placeholders, not dates.
    """
    if not math.isfinite(value) or value <= 0:
        return None
    unit = "microseconds" if value >= 1e14 else "milliseconds" if value >= 1e11 else "seconds"
    try:
        return _EPOCH + timedelta(**{unit: value})  # exact for ints, unlike fromtimestamp
    except OverflowError:
        return None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_absolute(text: str) -> datetime | None:
    iso = re.sub(r"(?i)\s*(z|utc|gmt)$", "+00:00", text) if text[:1].isdigit() else text
    try:
        return _as_utc(datetime.fromisoformat(iso))
    except ValueError:
        pass
    try:
        return _as_utc(datetime.strptime(text, _TWITTER_FORMAT))
    except ValueError:
        pass
    try:
        return _as_utc(parsedate_to_datetime(text))  # RFC 2822 / HTTP-date
    except (TypeError, ValueError, IndexError):
        return None


def _parse_relative(text: str, now: datetime) -> datetime | None:
    now = _as_utc(now)
    if text in _RELATIVE_WORDS:
        return now
    if text == "yesterday":
        return now - timedelta(days=1)
    match = _RELATIVE.match(text)
    if match is None:
        return None
    unit = _UNIT_ALIASES.get(match["unit"])
    if unit is None:
        return None
    amount = 1 if match["n"] in ("a", "an", "one") else int(match["n"])
    return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])


# ---------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class RateLimit:
    """What an upstream's rate-limit headers say about the current window."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None


_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "x-rate-limit-", "ratelimit-")


def parse_rate_limit(headers: Mapping[str, str], *, now: datetime) -> RateLimit | None:
    """Mastodon (ISO reset), X and Bluesky (epoch reset), Reddit and IETF (seconds left).

    ``None`` when the answer carries no rate-limit headers at all.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    for prefix in _RATE_LIMIT_PREFIXES:
        values = {
            name: lowered.get(prefix + name) for name in ("limit", "remaining", "reset", "used")
        }
        if any(v is not None for v in values.values()):
            limit = _header_int(values["limit"])
            remaining = _header_int(values["remaining"])
            used = _header_int(values["used"])
            if limit is None and remaining is not None and used is not None:
                limit = remaining + used  # Reddit sends used + remaining, no limit
            return RateLimit(limit, remaining, _reset_at(values["reset"], now))
    return None


def _header_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())  # Reddit sends "598.0"
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


def _reset_at(value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if _EPOCH_DIGITS.match(text):
        number = float(text)
        if number > 1e9:  # an absolute epoch (X, Bluesky) rather than seconds left
            return from_epoch(number)
        return _as_utc(now) + timedelta(seconds=number)
    return _parse_absolute(text)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    text = value.strip()
    if _EPOCH_DIGITS.match(text):
        return float(text)
    when = _parse_absolute(text)
    if when is None:
        return None
    return max(0.0, (when - _as_utc(now)).total_seconds())
