"""The read API's hand-written JSON paths write what the pydantic models would."""

from __future__ import annotations

from api.routes_timeseries import POINT_FIELDS
from clickhouse import queries_timeseries


def test_series_points_have_the_point_models_fields_in_order() -> None:
    """The timeseries route zips query rows with these names instead of building `Point`s;
    the integration tests compare whole answers with the contract's windows."""
    assert tuple(POINT_FIELDS) == queries_timeseries.SERIES_FIELDS


def test_uvicorn_runs_on_uvloop_and_httptools() -> None:
    """`socialpulse api` runs uvicorn with loop and http "auto": these when installed."""
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol
    loop = auto_loop_factory()()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
