"""Response bodies (CONTRACT §4); timestamps serialise as RFC 3339 UTC with milliseconds."""

from __future__ import annotations

from pydantic import BaseModel, Field

from socialpulse.contract import UtcDatetime


class Overview(BaseModel):
    platform: str = Field(examples=["instagram"])
    account_id: str = Field(examples=["1234"])
    handle: str = Field(examples=["acme"])
    followers: int = Field(examples=[10500])
    following: int | None = Field(examples=[120])
    posts_count: int | None = Field(examples=[340])
    observed_at: UtcDatetime = Field(description="when the collector saw these values")


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
