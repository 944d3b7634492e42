"""Apify runs and credits counted from the answers as they pass through the Upstream.

Sources stay free of metrics plumbing: ``HttpUpstream`` hands every fresh
(non-cached) answer to its observers, and this one recognises the Apify API v2
shapes. A ``run-sync-get-dataset-items`` answer is one run (2xx SUCCEEDED, a
408 continues as an async run, counted when it ends); a run object with a
final status (``GET /v2/actor-runs/{id}``) is one run, and its
``usageTotalUsd`` is added to the credits.
"""

from __future__ import annotations

import json
import re

from collectors import metrics
from collectors.upstream import UpstreamRequest, UpstreamResponse

_FINAL = {"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"}
_SYNC = re.compile(r"/v2/acts/(?P<actor>[^/]+)/run-sync-get-dataset-items")
_RUN = re.compile(r"/v2/actor-runs/[^/?]+$")


def observe_apify(request: UpstreamRequest, response: UpstreamResponse) -> None:
    if request.upstream != "apify":
        return
    path = request.url.split("?", 1)[0]
    if sync := _SYNC.search(path):
        if 200 <= response.status < 300:
            metrics.APIFY_RUNS.labels(sync["actor"].replace("~", "/"), "SUCCEEDED").inc()
        return
    if not _RUN.search(path) or response.status != 200:
        return
    try:
        run = json.loads(response.body).get("data") or {}
    except (ValueError, AttributeError):
        return
    status = run.get("status")
    if status in _FINAL:
        actor = str(run.get("actId") or "unknown")
        metrics.APIFY_RUNS.labels(actor, status).inc()
        usage = run.get("usageTotalUsd")
        if isinstance(usage, int | float) and usage > 0:
            metrics.APIFY_CREDITS.labels(actor).inc(usage)
