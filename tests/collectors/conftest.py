"""The real upstream machinery for the source tests: HttpUpstream on the test Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from collectors.clock import ManualClock
from collectors.http import HttpUpstream
from tests.collectors.helpers import Wire, Wires, wires_for
from tests.conftest import Namespace
from tests.fakes.fixtures import NOW


@pytest_asyncio.fixture(loop_scope="function")
async def wires(ns: Namespace) -> AsyncIterator[Wires]:
    async with wires_for(ns) as made:
        yield made


@pytest_asyncio.fixture(loop_scope="function")
async def wire(wires: Wires) -> Wire:
    """An upstream whose clock stands at the fakes' NOW (every answer arrives then)."""
    return await wires.make(ManualClock(NOW.timestamp()))


@pytest_asyncio.fixture(loop_scope="function")
async def upstream(wire: Wire) -> HttpUpstream:
    return wire.upstream
