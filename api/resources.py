"""The clients a running API holds; made once in the lifespan, or handed in by tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import redis
from aiokafka import AIOKafkaProducer
from clickhouse_connect.driver.client import Client
from fastapi import Depends, Request
from redis.asyncio import Redis as AsyncRedis

from clickhouse.client import make_client
from socialpulse.kafka import make_producer
from socialpulse.settings import ApiSettings


@dataclass
class Resources:
    clickhouse: Client
    redis: redis.Redis
    # Async clients are bound to the event loop that serves requests, so they are made
    # in the lifespan (:meth:`with_async_clients`) unless handed in.
    redis_async: AsyncRedis | None = None
    kafka: AIOKafkaProducer | None = None

    @classmethod
    def connect(cls, settings: ApiSettings) -> Resources:
        return cls(
            clickhouse=make_client(settings),
            redis=redis.Redis.from_url(settings.redis_url, socket_timeout=2),
        )

    async def with_async_clients(
        self, settings: ApiSettings
    ) -> tuple[Resources, Callable[[], Awaitable[None]]]:
        """These resources completed with the loop-bound clients, and a closer for those made."""
        made: list[Callable[[], Awaitable[None]]] = []
        redis_async, kafka = self.redis_async, self.kafka
        if redis_async is None:
            redis_async = AsyncRedis.from_url(settings.redis_url, socket_timeout=2)
            made.append(redis_async.aclose)
        if kafka is None:
            # Started on first use (sync requests), so reads work while Kafka is away.
            kafka = make_producer(settings)
            made.append(kafka.stop)

        async def close() -> None:
            for closer in made:
                await closer()

        return dataclasses.replace(self, redis_async=redis_async, kafka=kafka), close

    def close(self) -> None:
        self.clickhouse.close()
        self.redis.close()


async def get_resources(request: Request) -> Resources:
    # async: FastAPI would run a plain function in the thread pool (a thread hop per request).
    resources: Resources = request.app.state.resources
    return resources


Deps = Annotated[Resources, Depends(get_resources)]
