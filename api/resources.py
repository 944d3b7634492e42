"""The clients a running API holds; made once in the lifespan, or handed in by tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis
from clickhouse_connect.driver.client import Client
from fastapi import Depends, Request

from clickhouse.client import make_client
from socialpulse.settings import ApiSettings


@dataclass
class Resources:
    clickhouse: Client
    redis: redis.Redis

    @classmethod
    def connect(cls, settings: ApiSettings) -> Resources:
        return cls(
            clickhouse=make_client(settings),
            redis=redis.Redis.from_url(settings.redis_url, socket_timeout=2),
        )

    def close(self) -> None:
        self.clickhouse.close()
        self.redis.close()


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


Deps = Annotated[Resources, Depends(get_resources)]
