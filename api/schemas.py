"""Response bodies (CONTRACT §4); timestamps serialise as RFC 3339 UTC with milliseconds."""

from __future__ import annotations

from pydantic import BaseModel, Field

from socialpulse.contract import UtcDatetime


class GrowthItem(BaseModel):
    change: int | None = Field(description="F(t) - F(t-P); null when F(t-P) is undefined")
    rate: float | None = Field(description="change / F(t-P) as a fraction; null on a zero base")


class SyncBlock(BaseModel):
    state: str | None = Field(description="last sync run's state; null until one is known")
    last_success_at: UtcDatetime | None = None
    last_error: str | None = None


class Overview(BaseModel):
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


class FollowerChangeItem(BaseModel):
    observed_at: UtcDatetime
    previous_observed_at: UtcDatetime
    previous_followers: int
    followers: int
    delta: int


class FollowerChangePage(BaseModel):
    items: list[FollowerChangeItem]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null on the last page"
    )


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
