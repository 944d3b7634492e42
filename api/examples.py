"""Example answers for the OpenAPI document: one realistic body per response model.

Kept apart from the models so they read as documents, and consistent with each other
(one account, ``instagram:1234`` "acme", seen at 10:15 on 2026-11-21).
"""

from __future__ import annotations

from typing import Any

SEEN = "2026-11-21T10:15:00.000Z"
FRESHNESS: dict[str, Any] = {
    "state": "synced",
    "observed_at": SEEN,
    "next_due_at": "2026-11-21T10:30:00.000Z",
}
GROWTH: dict[str, Any] = {
    "1d": {"change": 30, "rate": 0.0029},
    "7d": {"change": 210, "rate": 0.0204},
    "30d": {"change": None, "rate": None},
}
KPIS: dict[str, Any] = {
    "followers": 10500, "following": 120, "posts_count": 340, "observed_at": SEEN,
    "growth": GROWTH, "engagement_rate_30d": 0.041, "posts_30d": 12,
    "projected_followers_30d": 11410.5, "score": 72.4,
}  # fmt: skip
ACCOUNT: dict[str, Any] = {"platform": "instagram", "account_id": "1234", "handle": "acme"}

OVERVIEW: dict[str, Any] = {
    **ACCOUNT,
    **KPIS,
    "sync": {"state": "SUCCESS", "last_success_at": "2026-11-21T10:15:02.000Z", "last_error": None},
    "freshness": FRESHNESS,
}
ACCOUNT_PAGE: dict[str, Any] = {
    "items": [{**ACCOUNT, "label": "own", **KPIS, "freshness": FRESHNESS}],
    "next_cursor": "djE6WyJpbnN0YWdyYW0iLCIxMjM0Il0",
}
FOLLOWER_CHANGES: dict[str, Any] = {
    "items": [
        {
            "observed_at": SEEN,
            "previous_observed_at": "2026-11-21T10:00:00.000Z",
            "previous_followers": 10470,
            "followers": 10500,
            "delta": 30,
        }  # fmt: skip
    ],
    "next_cursor": None,
    "freshness": FRESHNESS,
}
TIMESERIES: dict[str, Any] = {
    "metric": "followers", "interval": "1d",
    "from": "2026-10-23T00:00:00.000Z", "to": "2026-11-22T00:00:00.000Z",
    "observed_at": SEEN,
    "points": [
        {"ts": "2026-11-20T00:00:00.000Z", "first": 10410, "last": 10470, "min": 10402,
         "max": 10470, "net_change": 58, "samples": 96},
    ],
    "comparison": {
        "net_change": 1200, "previous_from": "2026-09-23T00:00:00.000Z",
        "previous_to": "2026-10-23T00:00:00.000Z", "previous_net_change": 800, "change": 400,
        "change_rate": 0.5,
    },
    "freshness": FRESHNESS,
}  # fmt: skip
POSTS: dict[str, Any] = {
    "items": [
        {
            "post_id": "p6",
            "published_at": "2026-11-20T10:00:00.000Z",
            "url": "https://www.instagram.com/p/p6/",
            "media_type": "image",
            "likes": 120,
            "comments": None,
            "shares": 4,
            "saves": None,
            "views": 5400,
            "interactions": 124,
            "engagement_rate": 0.0118,
            "observed_at": "2026-11-20T12:00:00.000Z",
        }  # fmt: skip
    ],
    "freshness": FRESHNESS,
}
BEST_TIMES: dict[str, Any] = {
    "timezone": "UTC",
    "posts_considered": 4,
    "items": [
        {
            "weekday": 2,
            "weekday_name": "Tuesday",
            "hour": 10,
            "posts": 2,
            "mean_engagement_rate": 0.052,
            "mean_interactions": 110.0,
        },
    ],  # fmt: skip
    "freshness": FRESHNESS,
}
LEADERBOARD: dict[str, Any] = {
    "metric": "growth_7d",
    "platform": None,
    "items": [
        {
            "rank": 1,
            "value": 0.0204,
            **ACCOUNT,
            "label": "own",
            "followers": 10500,
            "growth_7d": GROWTH["7d"],
            "engagement_rate_30d": 0.041,
            "score": 72.4,
            "observed_at": SEEN,
            "freshness": FRESHNESS,
        }  # fmt: skip
    ],
}
TRACKED: dict[str, Any] = {
    "workspace": "ws-1", **ACCOUNT, "label": "own", "added_by": "user-17",
    "changed_at": "2026-11-22T08:00:00.000Z",
}  # fmt: skip
