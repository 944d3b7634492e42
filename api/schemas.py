"""Response bodies (CONTRACT §4); timestamps serialise as RFC 3339 UTC with milliseconds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api import examples
from socialpulse.contract import Platform, UtcDatetime


def _example(body: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [body]})


class GrowthItem(BaseModel):
    change: int | None = Field(description="F(t) - F(t-P); null when F(t-P) is undefined")
    rate: float | None = Field(description="change / F(t-P) as a fraction; null on a zero base")


FreshnessState = Literal["synced", "pending", "stale", "unavailable", "auth_error"]


class Freshness(BaseModel):
    """How fresh an account's numbers are (rules in docs/api.md, "Freshness")."""

    state: FreshnessState = Field(
        description="synced, pending (never observed), stale (old or overdue), unavailable"
        " (the account cannot be read upstream) or auth_error (upstream credentials refused)"
    )
    observed_at: UtcDatetime | None = Field(description="the account's latest observation")
    next_due_at: UtcDatetime | None = Field(
        description="when the collectors next sync the account; null when not known"
    )


class SyncBlock(BaseModel):
    state: str | None = Field(
        description="the last sync run's state (PENDING, STARTED, SUCCESS, FAILURE, REVOKED);"
        " null until one is known"
    )
    last_success_at: UtcDatetime | None = None
    last_error: str | None = Field(
        default=None, description="the error of a failure not followed by a success yet"
    )


class Overview(BaseModel):
    model_config = _example(examples.OVERVIEW)

    platform: str = Field(examples=["instagram"])
    account_id: str = Field(examples=["1234"])
    handle: str = Field(examples=["acme"])
    followers: int = Field(examples=[10500])
    following: int | None = Field(examples=[120])
    posts_count: int | None = Field(examples=[340])
    observed_at: UtcDatetime = Field(description="when the collector saw these values")
    growth: dict[str, GrowthItem] = Field(description="over 1d, 7d and 30d, as of observed_at")
    engagement_rate_30d: float | None = Field(examples=[0.041])
    posts_30d: int = Field(examples=[12])
    projected_followers_30d: float | None = Field(examples=[11410.5])
    score: float | None = Field(description="0-100 within the platform (docs/metrics.md)")
    sync: SyncBlock
    freshness: Freshness


class FollowerChangeItem(BaseModel):
    observed_at: UtcDatetime
    previous_observed_at: UtcDatetime
    previous_followers: int
    followers: int
    delta: int


class FollowerChangePage(BaseModel):
    model_config = _example(examples.FOLLOWER_CHANGES)

    items: list[FollowerChangeItem]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null on the last page"
    )
    freshness: Freshness


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


# --- accounts list, leaderboard, tracking ---------------------------------------------------

Label = Literal["own", "competitor"]


class AccountItem(BaseModel):
    platform: str = Field(examples=["instagram"])
    account_id: str = Field(examples=["1234"])
    handle: str = Field(examples=["acme"])
    label: Label | None = Field(
        description="own or competitor in the token's workspace; null if not tracked there (admin)"
    )
    followers: int | None = Field(description="null until the account has been observed")
    following: int | None
    posts_count: int | None
    observed_at: UtcDatetime | None = Field(description="when these values were seen (freshness)")
    growth: dict[str, GrowthItem] = Field(description="over 1d, 7d and 30d, as of observed_at")
    engagement_rate_30d: float | None
    posts_30d: int | None
    projected_followers_30d: float | None
    score: float | None = Field(description="0-100 within the platform (docs/metrics.md)")
    freshness: Freshness


class AccountPage(BaseModel):
    model_config = _example(examples.ACCOUNT_PAGE)

    items: list[AccountItem]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class LeaderboardItem(BaseModel):
    rank: int | None = Field(description="1 = best; ties share a rank; null when value is null")
    value: int | float | None = Field(
        description="the ranked metric's value (growth_7d: the 7-day growth rate)"
    )
    platform: str
    account_id: str
    handle: str
    label: Label | None
    followers: int
    growth_7d: GrowthItem
    engagement_rate_30d: float | None
    score: float | None
    observed_at: UtcDatetime
    freshness: Freshness


class Leaderboard(BaseModel):
    model_config = _example(examples.LEADERBOARD)

    metric: str = Field(examples=["growth_7d"])
    platform: str | None = Field(description="the platform filter, null for every platform")
    items: list[LeaderboardItem]


class TrackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Platform = Field(examples=["instagram"])
    account_id: str = Field(
        min_length=1, max_length=256, description="the platform's stable id (not the handle)"
    )
    handle: str | None = Field(default=None, min_length=1, max_length=256)
    label: Label = "own"

    @field_validator("account_id", "handle")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        return plain_text(value)


def plain_text(value: str | None) -> str | None:
    """An id or handle as it may appear in a path: no padding, no '/', no control characters."""
    if value is None:
        return None
    if value != value.strip() or "/" in value:
        raise ValueError("must have no surrounding spaces and no '/'")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


class TrackedAccount(BaseModel):
    model_config = _example(examples.TRACKED)

    workspace: str
    platform: str
    account_id: str
    handle: str
    label: Label
    added_by: str = Field(description="the token subject that made this change")
    changed_at: UtcDatetime = Field(description="when this tracking state was written")


# --- timeseries --------------------------------------------------------------------------


class Point(BaseModel):
    ts: UtcDatetime = Field(description="window start (UTC); the window is [ts, ts + interval)")
    first: int
    last: int
    min: int
    max: int
    net_change: int = Field(description="last - F(ts - 1 ms), or last - first with no history")
    samples: int


class PeriodComparison(BaseModel):
    net_change: int | None = Field(description="sum of the points' net_change; null if none")
    previous_from: UtcDatetime
    previous_to: UtcDatetime
    previous_net_change: int | None = Field(description="the same, over the previous window")
    change: int | None = Field(description="net_change - previous_net_change")
    change_rate: float | None = Field(
        description="change / |previous_net_change|; null when either is null or the base is 0"
    )


class Timeseries(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [examples.TIMESERIES]}
    )

    metric: str = Field(examples=["followers"])
    interval: str = Field(examples=["1d"])
    points: list[Point]
    from_: UtcDatetime = Field(
        validation_alias="from", serialization_alias="from", description="inclusive bound on ts"
    )
    to: UtcDatetime = Field(description="exclusive bound on ts")
    observed_at: UtcDatetime | None = Field(description="the newest observation in the points")
    comparison: PeriodComparison
    freshness: Freshness


# --- posts -------------------------------------------------------------------------------


class PostItem(BaseModel):
    post_id: str
    published_at: UtcDatetime | None
    url: str | None
    media_type: str | None
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    views: int | None
    interactions: int | None = Field(description="likes + comments + shares + saves (non-null)")
    engagement_rate: float | None = Field(description="interactions / followers at observed_at")
    observed_at: UtcDatetime = Field(description="when these counts were seen")


class PostPage(BaseModel):
    model_config = _example(examples.POSTS)

    items: list[PostItem]
    freshness: Freshness


class HourOfWeekItem(BaseModel):
    weekday: int = Field(ge=1, le=7, description="ISO weekday, 1 = Monday, in UTC")
    weekday_name: str = Field(examples=["Tuesday"])
    hour: int = Field(ge=0, le=23, description="UTC hour of publication")
    posts: int
    mean_engagement_rate: float
    mean_interactions: float


class BestTimes(BaseModel):
    model_config = _example(examples.BEST_TIMES)

    timezone: str = "UTC"
    posts_considered: int
    items: list[HourOfWeekItem] = Field(description="best mean engagement rate first")
    freshness: Freshness
