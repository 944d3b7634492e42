"""Apify actors through the Apify API v2: one actor run per batch of accounts.

Short runs go through ``run-sync-get-dataset-items`` (one call). A run that
outlives the sync endpoint's 300 s answers 408 ``run-timeout-exceeded`` but
keeps running on Apify's side (and keeps costing credits), so it is found
again and continued asynchronously rather than started twice. Long runs (or
``sync=False``) start with ``POST /acts/{id}/runs``, are long-polled with
``waitForFinish`` (the server waits, the source never sleeps) and their
dataset is paged. Whatever the final state, the items that made it into the
dataset are used; accounts without any item get an error outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collectors.normalize import parse_timestamp
from collectors.sources.common import (
    Clock,
    dig,
    json_classifier,
    read_json,
    received_at,
    utc_now,
)
from collectors.upstream import (
    ErrorClass,
    PermanentError,
    RateLimitedError,
    TransientError,
    Upstream,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)

UPSTREAM = "apify"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"}
# Credits, plan limits and paid-actor rentals: paying (not retrying) fixes these.
QUOTA_TYPES = {
    "not-enough-usage-to-run-paid-actor",
    "platform-feature-disabled",  # "Monthly usage hard limit exceeded"
    "limit-reached",
    "monthly-usage-limit-too-low",
    "actor-is-not-rented",
}
# Too many runs or too much memory in use at once: wait for other runs to end.
BUSY_TYPES = {"actor-memory-limit-exceeded", "concurrent-runs-limit-exceeded"}
AUTH_TYPES = {"user-or-token-not-found", "token-not-valid", "insufficient-permissions"}
_RUN_ID_IN_MESSAGE = re.compile(r"run ID:\s*(\w+)")


class SyncRunTimedOut(UpstreamError):
    """The sync endpoint gave up waiting (408); the run itself goes on."""

    error_class, retryable = ErrorClass.TRANSIENT, False  # retrying would start a second run

    def __init__(self, message: str, *, run: dict[str, Any] | None) -> None:
        super().__init__(UPSTREAM, message, status=408)
        self.run = run


class RunDidNotSucceed(UpstreamError):
    """The sync endpoint's 400 ``run-failed``: the run ended FAILED/TIMED-OUT/ABORTED."""

    error_class, retryable = ErrorClass.TRANSIENT, False

    def __init__(self, message: str, *, run_id: str | None) -> None:
        super().__init__(UPSTREAM, message, status=400)
        self.run_id = run_id


def _read_error(status: int, body: Any, response: UpstreamResponse) -> UpstreamError | None:
    kind, message = dig(body, "error", "type"), str(dig(body, "error", "message") or "")
    if status == 408 or kind == "run-timeout-exceeded":
        run = dig(body, "data")  # older API versions answered with the still-running run
        return SyncRunTimedOut(message or "sync run timed out", run=run if dig(run, "id") else None)
    if kind in ("run-failed", "actor-run-failed"):
        match = _RUN_ID_IN_MESSAGE.search(message)
        return RunDidNotSucceed(message, run_id=match.group(1) if match else None)
    if status == 402 or kind in QUOTA_TYPES:
        return PermanentError(
            UPSTREAM, f"{kind}: {message}", error_class=ErrorClass.QUOTA, status=status
        )
    if kind in BUSY_TYPES:
        return RateLimitedError(UPSTREAM, f"{kind}: {message}", retry_after_s=60.0, status=status)
    if status in (401, 403) or kind in AUTH_TYPES:
        return PermanentError(
            UPSTREAM, f"{kind}: {message}", error_class=ErrorClass.AUTH, status=status
        )
    return None  # 429 rate-limit-exceeded, 5xx...: the generic mapping is right


CLASSIFY = json_classifier(UPSTREAM, _read_error)


@dataclass(frozen=True)
class RunItems:
    items: list[Any]
    received_at: datetime
    run_id: str | None  # None for a sync run that finished in time
    status: str


@dataclass(frozen=True)
class ApifyClient:
    """The Apify API v2 calls a batch needs; every call goes through the Upstream."""

    token: str
    base_url: str = "https://api.apify.com"
    sync: bool = True
    wait_for_finish_s: int = 60  # the API's maximum long-poll
    max_polls: int = 10  # then the run is aborted and its partial dataset used
    page_limit: int = 1000
    run_timeout_s: int | None = None  # the actor run's own timeout; None: the actor's default
    memory_mb: int | None = None
    cache_ttl_s: float | None = 600.0
    clock: Clock = utc_now

    async def run_actor(
        self, actor_id: str, actor_input: dict[str, Any], upstream: Upstream
    ) -> RunItems:
        if not self.sync:
            return await self._finish(await self._start(actor_id, actor_input, upstream), upstream)
        sent_at = self.clock()
        try:
            return await self._run_sync(actor_id, actor_input, upstream)
        except SyncRunTimedOut as exc:
            run = exc.run or await self._find_run(actor_id, actor_input, sent_at, upstream)
            return await self._finish(run, upstream)
        except RunDidNotSucceed as exc:
            if exc.run_id is None:
                raise
            return await self._finish({"id": exc.run_id, "status": "RUNNING"}, upstream)

    def _request(self, method: str, path: str, **kwargs: Any) -> UpstreamRequest:
        return UpstreamRequest(
            upstream=UPSTREAM,
            method=method,
            url=f"{self.base_url}/v2/{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            classify=CLASSIFY,
            **kwargs,
        )

    def _run_options(self) -> dict[str, str]:
        options = {"timeout": self.run_timeout_s, "memory": self.memory_mb}
        return {k: str(v) for k, v in options.items() if v is not None}

    async def _run_sync(
        self, actor_id: str, actor_input: dict[str, Any], upstream: Upstream
    ) -> RunItems:
        request = self._request(
            "POST",
            f"acts/{_path_id(actor_id)}/run-sync-get-dataset-items",
            params={**self._run_options(), "format": "json", "clean": "true"},
            json_body=actor_input,
            # Same input inside the TTL: the same answer, no second run paid for.
            cache_ttl_s=self.cache_ttl_s,
            timeout_s=330.0,  # the endpoint's 300 s plus slack to receive the items
        )
        response = await upstream.send(request)
        items = read_json(response, UPSTREAM)
        if not isinstance(items, list):
            raise TransientError(UPSTREAM, f"sync run answered {type(items).__name__}, not a list")
        return RunItems(items, received_at(response, self.clock), None, "SUCCEEDED")

    async def _start(
        self, actor_id: str, actor_input: dict[str, Any], upstream: Upstream
    ) -> dict[str, Any]:
        request = self._request(
            "POST",
            f"acts/{_path_id(actor_id)}/runs",
            params=self._run_options(),
            json_body=actor_input,
        )
        return _run_of(read_json(await upstream.send(request), UPSTREAM))

    async def _finish(self, run: dict[str, Any], upstream: Upstream) -> RunItems:
        polls = 0
        while run.get("status") not in TERMINAL and polls < self.max_polls:
            run = await self._poll(run["id"], upstream)
            polls += 1
        if run.get("status") not in TERMINAL:
            # Waited long enough: stop paying for it and keep what it found.
            run = await self._abort(run["id"], upstream)
        dataset_id = run.get("defaultDatasetId")
        if not dataset_id:
            run = await self._poll(run["id"], upstream, wait=False)
            dataset_id = run["defaultDatasetId"]
        items, when = await self._dataset(str(dataset_id), upstream)
        return RunItems(items, when, str(run["id"]), str(run.get("status")))

    async def _poll(self, run_id: str, upstream: Upstream, *, wait: bool = True) -> dict[str, Any]:
        wait_s = self.wait_for_finish_s if wait else 0
        request = self._request(
            "GET",
            f"actor-runs/{run_id}",
            params={"waitForFinish": str(wait_s)},
            # The server holds a long-poll up to wait_s before it answers.
            timeout_s=wait_s + 30.0 if wait_s else None,
        )
        return _run_of(read_json(await upstream.send(request), UPSTREAM))

    async def _abort(self, run_id: str, upstream: Upstream) -> dict[str, Any]:
        request = self._request("POST", f"actor-runs/{run_id}/abort")
        return _run_of(read_json(await upstream.send(request), UPSTREAM))

    async def _dataset(self, dataset_id: str, upstream: Upstream) -> tuple[list[Any], datetime]:
        items: list[Any] = []
        first_received: datetime | None = None
        while True:
            request = self._request(
                "GET",
                f"datasets/{dataset_id}/items",
                params={
                    "offset": str(len(items)),
                    "limit": str(self.page_limit),
                    "clean": "true",
                    "format": "json",
                },
                cache_ttl_s=self.cache_ttl_s,  # a finished run's dataset does not change
            )
            response = await upstream.send(request)
            first_received = first_received or received_at(response, self.clock)
            page = read_json(response, UPSTREAM)
            if not isinstance(page, list):
                raise TransientError(UPSTREAM, f"dataset page is {type(page).__name__}, not a list")
            items.extend(page)
            total = _header_int(response.headers, "x-apify-pagination-total")
            if len(page) < self.page_limit or (total is not None and len(items) >= total):
                return items, first_received

    async def _find_run(
        self, actor_id: str, actor_input: dict[str, Any], sent_at: datetime, upstream: Upstream
    ) -> dict[str, Any]:
        """The run a timed-out sync call started: recent, and with our exact input."""
        request = self._request(
            "GET", f"acts/{_path_id(actor_id)}/runs", params={"desc": "1", "limit": "10"}
        )
        listed = dig(read_json(await upstream.send(request), UPSTREAM), "data", "items") or []
        earliest = sent_at - timedelta(seconds=60)  # slack for clock skew
        for run in listed:
            started = parse_timestamp(dig(run, "startedAt"), now=sent_at)
            if started is None or started < earliest or not dig(run, "defaultKeyValueStoreId"):
                continue
            if await self._input_of(run["defaultKeyValueStoreId"], upstream) == actor_input:
                return dict(run)
        raise TransientError(UPSTREAM, f"{actor_id}: sync run timed out and its run was not found")

    async def _input_of(self, store_id: str, upstream: Upstream) -> Any:
        request = self._request("GET", f"key-value-stores/{store_id}/records/INPUT")
        return read_json(await upstream.send(request), UPSTREAM)


def _path_id(actor_id: str) -> str:
    return actor_id.replace("/", "~")  # "apify/instagram-profile-scraper" in a URL path


def _run_of(body: Any) -> dict[str, Any]:
    run = dig(body, "data")
    if not isinstance(run, dict) or not run.get("id"):
        raise TransientError(UPSTREAM, "run answer without data.id")
    return run


def _header_int(headers: dict[str, str], name: str) -> int | None:
    value = {k.lower(): v for k, v in headers.items()}.get(name)
    return int(value) if value is not None and value.strip().isdigit() else None
