"""Bodies of the sync endpoints (CONTRACT §4: ``/v1/sync``, ``/v1/sync/runs``, status)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas import Freshness, plain_text
from socialpulse.contract import Platform, UtcDatetime

RunStateName = Literal["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"]
MAX_ACCOUNTS_PER_SYNC = 100
_RUN = "3f9c2a7e0b5d4c1e8a6f2d9b7c4e1a05"


class SyncAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Platform = Field(examples=["instagram"])
    account_id: str = Field(
        min_length=1, max_length=256, description="the platform's stable id (not the handle)"
    )

    @field_validator("account_id")
    @classmethod
    def _plain_text(cls, value: str) -> str | None:
        return plain_text(value)


class SyncTrigger(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"accounts": [{"platform": "instagram", "account_id": "1234"}]}]
        },
    )

    accounts: list[SyncAccount] = Field(
        min_length=1,
        max_length=MAX_ACCOUNTS_PER_SYNC,
        description="accounts to sync now; an account listed twice gets one run",
    )


class AcceptedRun(BaseModel):
    run_id: str
    state: Literal["PENDING"] = "PENDING"
    platform: str
    account_id: str
    created_at: UtcDatetime


class SyncAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "runs": [
                        {
                            "run_id": _RUN,
                            "state": "PENDING",
                            "platform": "instagram",
                            "account_id": "1234",
                            "created_at": "2026-11-22T08:00:00.000Z",
                        }
                    ]
                }
            ]
        }
    )

    runs: list[AcceptedRun] = Field(description="one run per distinct account, in request order")


class SyncRun(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": _RUN,
                    "platform": "instagram",
                    "account_id": "1234",
                    "handle": "acme",
                    "trigger": "request",
                    "state": "SUCCESS",
                    "created_at": "2026-11-22T08:00:00.000Z",
                    "started_at": "2026-11-22T08:00:02.000Z",
                    "finished_at": "2026-11-22T08:00:09.500Z",
                    "duration_ms": 7500,
                    "profiles": 1,
                    "posts": 12,
                    "cache_hit": False,
                    "error_class": None,
                    "error": None,
                    "source": "live",
                }  # fmt: skip
            ]
        }
    )

    run_id: str
    platform: str
    account_id: str
    handle: str | None
    trigger: Literal["schedule", "request"]
    state: RunStateName
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    duration_ms: int | None
    profiles: int = Field(description="profile snapshots the run emitted")
    posts: int = Field(description="post snapshots the run emitted")
    cache_hit: bool = Field(description="answered from the collectors' upstream cache")
    error_class: str | None = Field(
        description="auth, not_found, private, suspended, quota, rate_limited, transient, ..."
    )
    error: str | None
    source: Literal["live", "table"] = Field(
        description="live: the collectors' Redis state; table: the sync_runs table (older runs)"
    )


class LastRun(BaseModel):
    run_id: str | None
    state: RunStateName | None
    at: UtcDatetime | None = Field(description="when it finished (or last changed state)")


class LastError(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    error_class: str | None = Field(alias="class", examples=["auth"])
    message: str | None
    at: UtcDatetime | None


class AccountSyncStatus(BaseModel):
    platform: str
    account_id: str
    handle: str | None
    last_run: LastRun | None = Field(description="null when the account never ran")
    last_success_at: UtcDatetime | None
    last_error: LastError | None = Field(description="the newest failure, even if fixed since")
    next_due_at: UtcDatetime | None = Field(
        description="the collectors' next scheduled sync (live state only)"
    )
    source: Literal["live", "table"] | None = Field(
        description="where the sync history came from; null when there is none"
    )
    freshness: Freshness


class SyncStatusPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "platform": "instagram",
                            "account_id": "1234",
                            "handle": "acme",
                            "last_run": {
                                "run_id": _RUN,
                                "state": "SUCCESS",
                                "at": "2026-11-22T08:00:09.500Z",
                            },
                            "last_success_at": "2026-11-22T08:00:09.500Z",
                            "last_error": {
                                "class": "transient",
                                "message": "apify: 503",
                                "at": "2026-11-21T17:45:03.000Z",
                            },
                            "next_due_at": "2026-11-22T08:15:00.000Z",
                            "source": "live",
                            "freshness": {
                                "state": "synced",
                                "observed_at": "2026-11-22T08:00:08.000Z",
                                "next_due_at": "2026-11-22T08:15:00.000Z",
                            },
                        }  # fmt: skip
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[AccountSyncStatus]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
