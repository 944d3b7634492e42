"""Blocking calls (clickhouse-connect, the sync Redis client) from async handlers.

Every async handler hands its blocking calls to this one pool (``services.offload``); plain
``def`` handlers are run in FastAPI's own. The hot reads are async so that they can overlap
their ClickHouse read with async Redis calls (the live sync status) and pay one thread hop.
A plain executor, rather than ``anyio.to_thread``: its hop measured about 0.2 ms less per
call here (docs/benchmarks.md, "Read API latency").
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Offload:
    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="api-blocking")

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
