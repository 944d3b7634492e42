"""Read API latency: overview, timeseries and the accounts list through the real API, next to
the same SQL issued directly through clickhouse-connect.

A fresh ClickHouse database ``benchapi<hex>`` is made with the project's migrations and filled
inside ClickHouse (``INSERT ... SELECT ... FROM numbers()``, no rows travel through Python):

- ``profile_snapshots``: ``--accounts`` accounts over five platforms, one snapshot per account
  per hour, ``--snapshots`` in all (10M / 10k = 1000 hours, about 41.7 days, ending in the
  current hour). Followers follow a closed-form curve per account: a log-uniform size from a
  few hundred to about a million, a trend between -0.1% and +0.4% a day, and steps every six
  hours (unfollow and follow waves), so that consecutive snapshots can be compared in SQL.
- ``account_metrics_hourly`` (one window per snapshot, CONTRACT §3's net change),
  ``follower_changes`` (one row per pair of snapshots whose followers differ), both from the
  same curve; ``account_metrics_daily`` aggregated from the hourly windows (net changes
  telescope); ``account_latest`` from the snapshots (growth over 1d/7d/30d, projection from the
  daily windows; engagement and posts are synthetic since no measured endpoint reads posts);
  ``accounts``: each account tracked in one of ``--workspaces`` workspaces (a tenth of them in
  a second one, a fifth labelled competitor, 2% untracked again, ten never-observed accounts
  per workspace); ``sync_runs`` (hourly runs over the last day, 1% failed) and, from it, the
  collectors' live sync status in Redis (``<prefix>:sync-status``, which the API reads first).
- Like a live system, and unlike one bulk load, the tables have overlapping parts for
  ``FINAL`` to merge: history is inserted per range of accounts, the last 24 hours in six time
  slices over every account (as the worker writes), and 1% of windows and changes, the
  current days' daily windows and every ``account_latest`` row are written twice with a
  higher version.

The API runs as ``python -m socialpulse.cli api`` (uvicorn, as deployed) on a free port with a
random JWT secret and the topic prefix ``benchapi<hex>`` (its Redis keys); requests carry a
valid analyst token of workspace ``ws-00``, whose observed accounts are asked for at random.
The per-token rate limit is set far above what the benchmark sends (it still runs, so its
Redis call is measured), and the response cache is off, so that every API request runs the
same SQL as the direct side (``--with-cache`` keeps the cache's default TTLs instead).

Each endpoint is timed request by request, API and direct in alternating order (so both see
the same load), then for throughput with ``--concurrency`` clients at once. The direct side
calls the very query functions the route calls (same SQL, same parameters, same
clickhouse-connect client settings); what the API does besides (token check, rate limit,
sync status from Redis, validation, serialisation, HTTP) is what it adds. An API request is
timed until its answer's last byte is read; the client's ``json.loads`` of the answer comes
after the clock and is printed on its own line (it is the client's parser's work: 2.7 ms for
a 30-day hourly series with the standard library, under 1 ms with orjson):

- overview: ``queries.overview``;
- timeseries (30 days, hourly): ``queries_timeseries.with_previous`` (the windows, the
  previous 30 days' net change for the period comparison and the account's ``observed_at``
  for freshness, in one query), then ``queries.is_visible`` and ``queries_sync.observed_at``
  only when that is empty;
- accounts list: ``queries_accounts.list_accounts`` (50 a page, from a random cursor).

Services as in ``bench_worker``: ``SOCIALPULSE_*_URL`` when set, else the test services.

    python -m bench.bench_api [--accounts 10000 --snapshots 10000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import urllib3
from clickhouse_connect.driver.client import Client

from api.routes_common import encode_cursor
from api.tokens import mint
from bench.bench_worker import note, services
from clickhouse import queries, queries_accounts, queries_sync, queries_timeseries
from clickhouse.client import make_client, quote_ident
from clickhouse.migrations import runner
from clickhouse.queries import Scope
from clickhouse.queries_accounts import AccountFilter
from socialpulse.settings import REPO_ROOT, ApiSettings, CommonSettings
from tests.http_server import free_port
from tests.services import ServiceUrls

TARGET_OVERVIEW_P99_MS = 30.0
TARGET_TIMESERIES_P99_MS = 60.0
TARGET_API_ADDS_P50_MS = 5.0
PLATFORMS = ("instagram", "tiktok", "x", "youtube", "bluesky")
HOUR_MS = 3_600_000
TAIL_HOURS = 24  # written in time slices over every account, as the worker writes
TAIL_SLICES = 6
WORKSPACE = "ws-00"  # the measured token's workspace
PAGE = 50  # accounts list page size (the endpoint's default)
SPAN = timedelta(days=30)  # timeseries range
NO_CACHE = {
    f"SOCIALPULSE_CACHE_TTL_{kind}_S": "0" for kind in ("OVERVIEW", "ACCOUNTS", "TIMESERIES")
}


def code_version() -> str:
    """The commit measured, with ``+dirty`` when the API's or the queries' code has changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"  # e.g. a `git archive` export
    dirty = git("status", "--porcelain", "--", "api", "clickhouse", "socialpulse")
    return head + ("+dirty" if dirty else "")


# --- data, generated in ClickHouse ----------------------------------------------------------

_PLATFORM = "[" + ", ".join(f"'{p}'" for p in PLATFORMS) + f"][a % {len(PLATFORMS)} + 1]"
_ACCOUNT = "concat('acct-', leftPad(toString(a), 6, '0'))"
# One account's follower curve at hour k: size, trend, and six-hourly steps.
_BASE = "toInt64(exp(5.5 + (cityHash64(a, 'base') % 10000) / 1170.0))"
_TREND = f"({_BASE} * ((cityHash64(a, 'trend') % 10000) / 10000.0 - 0.2) / 20000.0)"


def _followers(k: str) -> str:
    step = f"toInt64(cityHash64(a, intDiv({k}, 6), 'step') % (1 + intDiv({_BASE}, 1000)))"
    return f"greatest(0, {_BASE} + toInt64(floor({k} * {_TREND})) + {step})"


def _observed(k: str, start_ms: int) -> str:
    jitter = f"cityHash64(a, {k}, 'jitter') % {HOUR_MS // 2}"
    return f"fromUnixTimestamp64Milli(toInt64({start_ms} + {k} * {HOUR_MS} + {jitter}), 'UTC')"


def _grid(a0: int, a1: int, k0: int, k1: int) -> str:
    """Every (account a, hour k) with a in [a0, a1) and k in [k0, k1)."""
    span = k1 - k0
    return (
        f"(SELECT toInt64(intDiv(number, {span}) + {a0}) AS a, toInt64({k0} + number % {span})"
        f" AS k FROM numbers({(a1 - a0) * span}))"
    )


@dataclass(frozen=True)
class Shape:
    accounts: int
    hours: int  # snapshots per account
    start_ms: int  # the first hour (aligned)
    workspaces: int

    @property
    def end(self) -> datetime:
        """The end of the last hour with data (the current hour's start)."""
        return datetime.fromtimestamp((self.start_ms + self.hours * HOUR_MS) / 1000, UTC)


def _facts(shape: Shape) -> str:
    """The columns every per-snapshot table is made from, for the grid's (a, k)."""
    return (
        f"SELECT a, k, {_PLATFORM} AS platform, {_ACCOUNT} AS account_id,"
        f" {_followers('k')} AS f, {_followers('(k - 1)')} AS f_prev,"
        f" {_observed('k', shape.start_ms)} AS obs, {_observed('(k - 1)', shape.start_ms)}"
        f" AS obs_prev, fromUnixTimestamp64Milli(toInt64({shape.start_ms} + k * {HOUR_MS}),"
        " 'UTC') AS window_start FROM "
    )


def _insert_grid(ch: Client, shape: Shape, grid: str, where: str = "", version: int = 1) -> None:
    facts = f"({_facts(shape)}{grid})"
    ch.command(
        "INSERT INTO profile_snapshots (platform, account_id, observed_at, snapshot_id, handle,"
        " display_name, followers, following, posts_count, source, sync_run_id, schema_version,"
        " ingested_at)"
        " SELECT platform, account_id, obs, lower(hex(cityHash64(a, k, 'sid'))),"
        " concat('user_', toString(a)), concat('User ', toString(a)), f,"
        " toInt64(50 + cityHash64(a, 'following') % 2000),"
        " toInt64(100 + intDiv(k, 24) + cityHash64(a, 'posts') % 500), 'bench', NULL, 1,"
        f" obs + toIntervalSecond(2) FROM {facts} {where}"
    )
    ch.command(
        "INSERT INTO account_metrics_hourly (platform, account_id, window_start, first, last,"
        " min, max, samples, net_change, first_observed_at, last_observed_at, version)"
        " SELECT platform, account_id, window_start, f, f, f, f, 1, if(k = 0, 0, f - f_prev),"
        f" obs, obs, {version} FROM {facts} {where}"
    )
    changed = "WHERE k > 0 AND f != f_prev" + (
        f" AND {where.removeprefix('WHERE ')}" if where else ""
    )
    ch.command(
        "INSERT INTO follower_changes (platform, account_id, observed_at, previous_observed_at,"
        " previous_followers, followers, delta, version, is_deleted)"
        " SELECT platform, account_id, obs, obs_prev, f_prev, f, f - f_prev,"
        f" toUInt64(k + {version}), 0 FROM {facts} {changed}"
    )


def _account_range(a0: int, a1: int, column: str = "account_id") -> str:
    return f"{column} >= 'acct-{a0:06d}' AND {column} < 'acct-{a1:06d}'"


def _insert_daily(ch: Client, a0: int, a1: int) -> None:
    ch.command(
        "INSERT INTO account_metrics_daily (platform, account_id, window_start, first, last, min,"
        " max, samples, net_change, first_observed_at, last_observed_at, version)"
        " SELECT platform, account_id, toStartOfDay(window_start) AS day,"
        " argMin(first, window_start), argMax(last, window_start), min(min), max(max),"
        " sum(samples), sum(net_change), min(first_observed_at), max(last_observed_at), 1"
        f" FROM account_metrics_hourly FINAL WHERE {_account_range(a0, a1)}"
        " GROUP BY platform, account_id, day"
    )


def _growth(days: int) -> str:
    cond = f"p.observed_at <= m.t - INTERVAL {days} DAY"
    return (
        f"if(countIf({cond}) > 0,"
        f" argMaxIf(assumeNotNull(p.followers), p.observed_at, {cond}), NULL) AS base_{days}d"
    )


def _insert_latest(ch: Client, shape: Shape, a0: int, a1: int, version: int) -> None:
    """Current KPIs from the snapshots (growth exact per CONTRACT §3, as of each account's
    latest snapshot); the projection from the daily windows of the last 30 days."""
    kpis = ", ".join(
        f"f_t - base_{d}d, if(base_{d}d > 0, (f_t - base_{d}d) / base_{d}d, NULL)"
        for d in (1, 7, 30)
    )
    end_ms = shape.start_ms + shape.hours * HOUR_MS
    ch.command(
        "INSERT INTO account_latest (platform, account_id, handle, display_name, followers,"
        " following, posts_count, observed_at, growth_1d_change, growth_1d_rate,"
        " growth_7d_change, growth_7d_rate, growth_30d_change, growth_30d_rate,"
        " engagement_rate_30d, posts_30d, projected_followers_30d, version)"
        f" SELECT platform, account_id, handle, display_name, f_t, following, posts_count, t,"
        f" {kpis}, if(h % 10 = 0, NULL, (h % 800) / 10000.0), if(h % 10 = 0, 0, 1 + h % 60),"
        " if(d.n >= 3, d.lr.1 * (toUnixTimestamp64Milli(t) / 1000 + 30 * 86400) + d.lr.2, NULL),"
        f" {version} FROM ("
        " SELECT p.platform AS platform, p.account_id AS account_id, m.t AS t,"
        " cityHash64(p.account_id, 'engagement') AS h,"
        " argMax(p.handle, p.observed_at) AS handle,"
        " argMax(p.display_name, p.observed_at) AS display_name,"
        " argMax(assumeNotNull(p.followers), p.observed_at) AS f_t,"
        " argMax(p.following, p.observed_at) AS following,"
        " argMax(p.posts_count, p.observed_at) AS posts_count,"
        f" {_growth(1)}, {_growth(7)}, {_growth(30)}"
        " FROM profile_snapshots AS p INNER JOIN (SELECT platform, account_id,"
        " max(observed_at) AS t FROM profile_snapshots"
        f" WHERE {_account_range(a0, a1)} GROUP BY platform, account_id) AS m"
        " ON p.platform = m.platform AND p.account_id = m.account_id"
        f" WHERE {_account_range(a0, a1, 'p.account_id')}"
        " GROUP BY platform, account_id, t) AS l"
        " LEFT JOIN (SELECT platform, account_id, count() AS n, simpleLinearRegression("
        " toUnixTimestamp64Milli(last_observed_at) / 1000, toFloat64(last)) AS lr"
        " FROM account_metrics_daily FINAL"
        f" WHERE {_account_range(a0, a1)} AND window_start >"
        f" fromUnixTimestamp64Milli({end_ms - 30 * 24 * HOUR_MS}, 'UTC')"
        " GROUP BY platform, account_id) AS d USING (platform, account_id)"
        " SETTINGS join_use_nulls = 0"
    )


def _insert_tracking(ch: Client, shape: Shape) -> None:
    ws = f"concat('ws-', leftPad(toString(cityHash64(a, 'ws') % {shape.workspaces}), 2, '0'))"
    ws2 = (
        f"concat('ws-', leftPad(toString((cityHash64(a, 'ws') + 1) % {shape.workspaces}), 2, '0'))"
    )
    label = "if(cityHash64(a, 'label') % 5 = 0, 'competitor', 'own')"
    columns = "(workspace, platform, account_id, handle, label, added_by, changed_at, is_deleted)"
    accounts = f"(SELECT toInt64(number) AS a FROM numbers({shape.accounts}))"
    first_seen = f"fromUnixTimestamp64Milli({shape.start_ms}, 'UTC')"
    row = f"{_PLATFORM}, {_ACCOUNT}, concat('user_', toString(a)), {label}, 'bench', {first_seen}"
    ch.command(f"INSERT INTO accounts {columns} SELECT {ws}, {row}, 0 FROM {accounts}")
    ch.command(
        f"INSERT INTO accounts {columns} SELECT {ws2}, {row}, 0 FROM {accounts}"
        " WHERE cityHash64(a, 'second') % 10 = 0"
    )
    untracked = f"fromUnixTimestamp64Milli({shape.start_ms + HOUR_MS}, 'UTC')"
    ch.command(
        f"INSERT INTO accounts {columns} SELECT {ws}, {_PLATFORM}, {_ACCOUNT},"
        f" concat('user_', toString(a)), {label}, 'bench', {untracked}, 1 FROM {accounts}"
        " WHERE cityHash64(a, 'untrack') % 50 = 0"
    )
    ghosts = f"(SELECT toInt64(number) AS a FROM numbers({shape.workspaces * 10}))"
    ch.command(
        f"INSERT INTO accounts {columns} SELECT concat('ws-', leftPad(toString(a % "
        f"{shape.workspaces}), 2, '0')), {_PLATFORM}, concat('ghost-', toString(a)),"
        f" concat('ghost_', toString(a)), 'own', 'bench', {first_seen}, 0 FROM {ghosts}"
    )


def _insert_sync_runs(ch: Client, shape: Shape) -> None:
    """The collectors' durable copy of their runs: one scheduled run per account and hour
    over the last day (1% failed), as the worker writes them from ``sync.events``."""
    hours = min(24, shape.hours)
    first = shape.hours - hours
    ch.command(
        "INSERT INTO sync_runs (run_id, platform, account_id, handle, trigger, state, created_at,"
        " started_at, finished_at, duration_ms, profiles, posts, upstream_calls, batch_accounts,"
        " cache_hit, error_class, error, version, updated_at)"
        " SELECT lower(hex(cityHash64(a, k, 'run'))), platform, account_id,"
        " concat('user_', toString(a)), 'schedule', if(failed, 'FAILURE', 'SUCCESS'),"
        " obs - toIntervalSecond(20), obs - toIntervalSecond(15), obs + toIntervalSecond(1),"
        " 16000, if(failed, 0, 1), 0, 1, 50, 0, if(failed, 'UpstreamError', NULL),"
        " if(failed, 'upstream answered 503', NULL), 2, obs + toIntervalSecond(2)"
        f" FROM (SELECT *, cityHash64(a, k, 'fail') % 100 = 0 AS failed FROM ({_facts(shape)}"
        f"{_grid(0, shape.accounts, first, shape.hours)}))"
    )


def fill_sync_status(ch: Client, redis_url: str, key: str) -> int:
    """The collectors' live per-account sync summary (``SyncRuns.record_status``), from
    each account's newest run in ``sync_runs``: what the API reads before the table."""
    rows = ch.query(
        "SELECT platform, account_id, argMax(run_id, created_at), argMax(state, created_at),"
        " toUnixTimestamp64Milli(max(finished_at)),"
        " toUnixTimestamp64Milli(maxIf(finished_at, state = 'SUCCESS')),"
        " toUnixTimestamp64Milli(maxIf(finished_at, state = 'FAILURE'))"
        " FROM sync_runs FINAL GROUP BY platform, account_id"
    ).result_rows
    client = redis.Redis.from_url(redis_url)
    try:
        for start in range(0, len(rows), 1000):
            mapping: dict[str, str] = {}
            for platform, account, run_id, state, finished, success, failure in rows[
                start : start + 1000
            ]:
                status: dict[str, Any] = {
                    "last_run_id": run_id,
                    "last_state": state,
                    "last_finished_at": finished / 1000,
                    "last_success_at": success / 1000 if success else None,
                    "next_due_at": finished / 1000 + 3600,
                }
                if failure:
                    status["last_error"] = {"class": "UpstreamError", "message": "503"}
                    status["last_error_at"] = failure / 1000
                mapping[f"{platform}:{account}"] = json.dumps(status)
            client.hset(key, mapping=mapping)  # type: ignore[arg-type]
    finally:
        client.close()
    return len(rows)


def drop_sync_status(redis_url: str, key: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(key)
    finally:
        client.close()


def load(ch: Client, shape: Shape, chunk: int) -> dict[str, float]:
    """Fill every table the measured endpoints read; seconds per step."""
    took: dict[str, float] = {}
    history = max(0, shape.hours - TAIL_HOURS)

    def step(name: str, run: Callable[[], None]) -> None:
        started = time.perf_counter()
        run()
        took[name] = time.perf_counter() - started
        note(f"loaded {name} in {took[name]:.1f} s")

    def history_chunks() -> None:
        for a0 in range(0, shape.accounts, chunk):
            _insert_grid(ch, shape, _grid(a0, min(a0 + chunk, shape.accounts), 0, history))

    def tail_slices() -> None:
        size = -(-(shape.hours - history) // TAIL_SLICES)
        for k0 in range(history, shape.hours, size):
            _insert_grid(ch, shape, _grid(0, shape.accounts, k0, min(k0 + size, shape.hours)))

    def rewrites() -> None:
        every = _grid(0, shape.accounts, 0, shape.hours)
        _insert_grid(ch, shape, every, "WHERE cityHash64(a, k, 'rewrite') % 100 = 0", version=2)

    def per_account_chunk(fn: Callable[[int, int], None]) -> Callable[[], None]:
        def run() -> None:
            for a0 in range(0, shape.accounts, chunk):
                fn(a0, min(a0 + chunk, shape.accounts))

        return run

    def daily_rewrites() -> None:
        since = shape.start_ms + (shape.hours - 48) * HOUR_MS
        ch.command(
            "INSERT INTO account_metrics_daily SELECT * REPLACE (2 AS version)"
            f" FROM account_metrics_daily WHERE window_start >= fromUnixTimestamp64Milli({since},"
            " 'UTC')"
        )

    step("snapshots, hourly windows, changes (history)", history_chunks)
    step(f"the same, last {TAIL_HOURS} h in {TAIL_SLICES} slices", tail_slices)
    step("1% rewritten with a higher version", rewrites)
    step("daily windows", per_account_chunk(lambda a0, a1: _insert_daily(ch, a0, a1)))
    step("daily windows of the last 2 days rewritten", daily_rewrites)
    for version in (1, 2):

        def latest(a0: int, a1: int, v: int = version) -> None:
            _insert_latest(ch, shape, a0, a1, v)

        step(f"account_latest v{version}", per_account_chunk(latest))
    step("tracked accounts", lambda: _insert_tracking(ch, shape))
    step("sync runs of the last day", lambda: _insert_sync_runs(ch, shape))
    return took


def stored_shape(ch: Client, workspaces: int) -> Shape:
    """The shape of a database filled by an earlier run (``--keep``)."""
    row: Sequence[int] = ch.query(
        "SELECT toUnixTimestamp64Milli(min(window_start)),"
        " toUnixTimestamp64Milli(max(window_start)), uniqExact(platform, account_id)"
        " FROM account_metrics_hourly"
    ).result_rows[0]
    first, last, accounts = row
    return Shape(accounts, (last - first) // HOUR_MS + 1, first, workspaces)


def table_rows(ch: Client) -> dict[str, int]:
    names = (
        "profile_snapshots", "account_metrics_hourly", "account_metrics_daily",
        "follower_changes", "account_latest", "accounts", "sync_runs",
    )  # fmt: skip
    return {name: int(ch.query(f"SELECT count() FROM {name}").result_rows[0][0]) for name in names}


def table_parts(ch: Client) -> dict[str, int]:
    rows = ch.query(
        "SELECT table, count() FROM system.parts WHERE database = currentDatabase() AND active"
        " GROUP BY table"
    ).result_rows
    return {str(name): int(n) for name, n in rows}


# --- measurement ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request's parameters, the same for the API and the direct side."""

    platform: str
    account_id: str
    after: tuple[str, str] | None = None  # accounts list: the keyset cursor


@dataclass(frozen=True)
class Endpoint:
    name: str
    request: Callable[[Case], tuple[str, dict[str, str]]]  # path and query parameters
    direct: Callable[[Client, Case], object]  # the route's queries, through clickhouse-connect
    check: Callable[[Any], None]  # the API's answer is a real one
    target_p99_ms: float | None


def endpoints(shape: Shape, workspace: str) -> list[Endpoint]:
    scope = Scope(workspace)
    end = shape.end
    start = end - SPAN
    hours = int(SPAN / timedelta(hours=1))
    range_params = {"from": start.isoformat(), "to": end.isoformat()}

    def overview_direct(ch: Client, c: Case) -> object:
        return queries.overview(ch, scope, c.platform, c.account_id)

    def overview_check(body: Any) -> None:
        assert body["followers"] >= 0 and set(body["growth"]) == {"1d", "7d", "30d"}, body

    def timeseries_direct(ch: Client, c: Case) -> object:
        args = (ch, scope, c.platform, c.account_id)
        series = queries_timeseries.with_previous(
            *args, interval="1h", start=start, end=end, previous_start=start - SPAN
        )
        if not series.observed:
            assert queries.is_visible(*args)
            return series, queries_sync.observed_at(ch, c.platform, c.account_id)
        return series

    def timeseries_check(body: Any) -> None:
        assert len(body["points"]) == min(hours, shape.hours), len(body["points"])

    def list_request(c: Case) -> tuple[str, dict[str, str]]:
        params = {"limit": str(PAGE)}
        if c.after is not None:
            params["cursor"] = encode_cursor(*c.after)
        return "/v1/accounts", params

    def list_direct(ch: Client, c: Case) -> object:
        return queries_accounts.list_accounts(
            ch, scope, workspace, AccountFilter(), after=c.after, limit=PAGE + 1
        )

    def list_check(body: Any) -> None:
        assert body["items"], body

    return [
        Endpoint(
            "overview",
            lambda c: (f"/v1/accounts/{c.platform}/{c.account_id}", {}),
            overview_direct,
            overview_check,
            TARGET_OVERVIEW_P99_MS,
        ),
        Endpoint(
            "timeseries 30 d hourly",
            lambda c: (
                f"/v1/accounts/{c.platform}/{c.account_id}/timeseries",
                {"interval": "1h", **range_params},
            ),  # fmt: skip
            timeseries_direct,
            timeseries_check,
            TARGET_TIMESERIES_P99_MS,
        ),
        Endpoint("accounts list", list_request, list_direct, list_check, None),
    ]


def cases(ch: Client, workspace: str, n: int, rng: random.Random) -> list[Case]:
    """Random observed accounts of the workspace; list pages start after a random one of its
    tracked accounts (or at the top), so every page is a full one unless it is the last."""
    observed = ch.query(
        "SELECT platform, account_id FROM accounts FINAL WHERE workspace = {ws:String}"
        " AND (platform, account_id) IN (SELECT platform, account_id FROM account_latest)"
        " ORDER BY platform, account_id",
        parameters={"ws": workspace},
    ).result_rows
    if not observed:
        raise RuntimeError(f"workspace {workspace} tracks no observed account")
    keys = [(str(p), str(a)) for p, a in observed]
    out = []
    for _ in range(n):
        platform, account = rng.choice(keys)
        cut = rng.randrange(-1, max(1, len(keys) - PAGE))
        out.append(Case(platform, account, None if cut < 0 else keys[cut]))
    return out


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": pct(ms, 50),
        "p90_ms": pct(ms, 90),
        "p99_ms": pct(ms, 99),
        "max_ms": max(ms),
        "mean_ms": statistics.fmean(ms),
    }


class ApiClient:
    """The API side's HTTP client: urllib3, the library clickhouse-connect uses for the direct
    side, so that both sides pay the same client cost (httpx took about 1 ms more CPU per
    request here, which the figures would have counted as the API's)."""

    def __init__(self, base: str, token: str) -> None:
        url = urllib3.util.parse_url(base)
        self.http = urllib3.HTTPConnectionPool(
            url.host or "127.0.0.1", url.port, maxsize=1, retries=False
        )
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, endpoint: Endpoint, case: Case) -> bytes:
        """The answer's body, read to its end: what a request's latency measures."""
        path, params = endpoint.request(case)
        response = self.http.request("GET", path, fields=params, headers=self.headers)
        if response.status != 200:
            raise RuntimeError(f"{path} {params}: {response.status} {response.data[:500]!r}")
        return response.data

    def close(self) -> None:
        self.http.close()


@dataclass
class Timings:
    api_s: list[float]
    direct_s: list[float]
    api_cpu_s: float  # the API process's CPU over the timed requests
    direct_cpu_s: float  # this thread's CPU in the timed direct calls (the client's share)
    parse_s: list[float]  # the client's json.loads of each API answer (not in api_s)


def latency(
    endpoint: Endpoint, api: ApiClient, api_pid: int, ch: Client, work: list[Case], warmup: int
) -> Timings:
    """Sequential requests; each case goes to the API and directly, in alternating order, so
    both sides see the same data and the same moment's load."""
    out = Timings([], [], 0.0, 0.0, [])
    api_cpu = 0.0
    for i, case in enumerate(work):
        if i == warmup:
            api_cpu = cpu_seconds(api_pid)
        body = b""

        def via_api(c: Case = case) -> None:
            nonlocal body
            body = api.get(endpoint, c)

        def via_direct(c: Case = case) -> None:
            endpoint.direct(ch, c)

        order = ((via_api, out.api_s), (via_direct, out.direct_s))
        for run, into in order if i % 2 == 0 else reversed(order):
            started, cpu = time.perf_counter(), time.thread_time()
            run()
            if i >= warmup:
                into.append(time.perf_counter() - started)
                if run is via_direct:
                    out.direct_cpu_s += time.thread_time() - cpu
        # Checked after the clock: parsing the JSON is the client's work, done by whatever
        # parser the client has (a browser's is native), not the API's.
        started = time.perf_counter()
        answer = json.loads(body)
        if i >= warmup:
            out.parse_s.append(time.perf_counter() - started)
        endpoint.check(answer)
    out.api_cpu_s = cpu_seconds(api_pid) - api_cpu
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(run: Callable[[int, Case], None], work: list[Case], clients: int) -> float:
    """Requests per second with ``clients`` threads sharing the cases."""
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for case in work[index::clients]:
                run(index, case)
        except BaseException as exc:  # reported after the join
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return len(work) / elapsed


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """``socialpulse api`` in its own process, on a free port, until it answers /readyz."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "socialpulse.cli", "api"],
            env={
                **os.environ,
                **env,
                "SOCIALPULSE_API_HOST": "127.0.0.1",
                "SOCIALPULSE_API_PORT": str(port),
            },  # fmt: skip
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the API exited with {child.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(f"{base}/readyz", timeout=5, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API was not ready in 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield base, child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def cpu_ticks() -> tuple[int, int]:
    """The machine's (steal, total) CPU ticks: time the hypervisor gave to other guests
    slows this one down without showing in the load average."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


def measure_one(
    args: argparse.Namespace, endpoint: Endpoint, work: list[Case], ch: Client, api: ApiProcess
) -> dict[str, Any]:
    load, ticks = [os.getloadavg()[0]], cpu_ticks()
    note(f"{endpoint.name}: {args.requests} requests each way, after {args.warmup} warm-up")
    client = ApiClient(api.base, api.token)
    try:
        timed = latency(endpoint, client, api.pid, ch, work, args.warmup)
    finally:
        client.close()
    note(f"{endpoint.name}: throughput with {args.concurrency} clients")
    clients = [ApiClient(api.base, api.token) for _ in range(args.concurrency)]
    batch = work[: args.throughput_requests]

    def via_api(index: int, case: Case) -> None:
        clients[index].get(endpoint, case)

    def via_direct(_: int, case: Case) -> None:
        endpoint.direct(ch, case)

    try:
        api_rps = throughput(via_api, batch, args.concurrency)
        direct_rps = throughput(via_direct, batch, args.concurrency)
    finally:
        for each in clients:
            each.close()
    load.append(os.getloadavg()[0])
    steal, total = (b - a for a, b in zip(ticks, cpu_ticks(), strict=True))
    api_stats, direct_stats = summary(timed.api_s), summary(timed.direct_s)
    n = len(timed.api_s)
    return {
        "api": {
            **api_stats,
            "requests_per_s": api_rps,
            "process_cpu_ms_per_request": timed.api_cpu_s / n * 1000,
            "client_json_parse_p50_ms": summary(timed.parse_s)["p50_ms"],
        },
        "direct": {
            **direct_stats,
            "requests_per_s": direct_rps,
            "client_cpu_ms_per_request": timed.direct_cpu_s / n * 1000,
        },
        "api_adds_p50_ms": api_stats["p50_ms"] - direct_stats["p50_ms"],
        "target_p99_ms": endpoint.target_p99_ms,
        "loadavg_1m": load,
        "cpu_steal": steal / total if total else 0.0,
    }


@dataclass(frozen=True)
class ApiProcess:
    base: str
    pid: int
    token: str


def measure(args: argparse.Namespace, shape: Shape, ch: Client, api: ApiProcess) -> dict[str, Any]:
    rng = random.Random(args.seed)
    out: dict[str, Any] = {}
    for endpoint in endpoints(shape, WORKSPACE):
        work = cases(ch, WORKSPACE, args.warmup + args.requests, rng)
        out[endpoint.name] = measure_one(args, endpoint, work, ch, api)
    return out


def benchmark(args: argparse.Namespace, urls: ServiceUrls, tmp: Path) -> dict[str, Any]:
    hours = args.snapshots // args.accounts
    if hours < 2 * TAIL_HOURS:
        raise SystemExit(f"--snapshots / --accounts is {hours} hours; at least {2 * TAIL_HOURS}")
    end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    shape = Shape(args.accounts, hours, end_ms - hours * HOUR_MS, args.workspaces)
    name = args.database or f"benchapi{uuid.uuid4().hex[:10]}"
    secret = secrets.token_hex(32)
    env = {
        **urls.env(),
        "SOCIALPULSE_CLICKHOUSE_DATABASE": name,
        "SOCIALPULSE_TOPIC_PREFIX": name,
        "SOCIALPULSE_JWT_SECRET": secret,
        # High enough never to refuse a benchmark request, so that it is still checked.
        "SOCIALPULSE_RATE_LIMIT_PER_MINUTE": str(10**9),
        "SOCIALPULSE_RATE_LIMIT_BURST": str(10**9),
        **({} if args.with_cache else NO_CACHE),
        **dict(item.split("=", 1) for item in args.api_env),
    }
    settings = CommonSettings.model_validate(
        {k.removeprefix("SOCIALPULSE_").lower(): v for k, v in env.items()}
    )
    api_settings = ApiSettings(jwt_secret=secret)
    token = mint(api_settings, "bench", WORKSPACE, "analyst")
    ch = make_client(settings)
    load_s: dict[str, float] = {}
    try:
        if args.database is None:
            note(f"database {name}: {shape.accounts:,} accounts x {shape.hours:,} hours")
            runner.migrate(ch, name)
            load_s = load(ch, shape, args.chunk)
        else:
            shape = stored_shape(ch, args.workspaces)
            note(f"using the filled database {name} as it is: {shape}")
        rows, parts = table_rows(ch), table_parts(ch)
        status_key = f"{name}:sync-status"
        fill_sync_status(ch, urls.redis_url, status_key)
        try:
            with api_server(env, tmp / "api.log") as (base, pid):
                figures = measure(args, shape, ch, ApiProcess(base, pid, token))
        finally:
            drop_sync_status(urls.redis_url, status_key)
    finally:
        if args.database is None and not args.keep:
            ch.command(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        elif args.database is None:
            note(f"kept database {name} (use --database {name} to measure it again)")
        ch.close()
    return {
        "accounts": shape.accounts,
        "snapshots_per_account": shape.hours,
        "workspaces": shape.workspaces,
        "rows": rows,
        "active_parts": parts,
        "load_seconds": load_s,
        "requests": args.requests,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "throughput_requests": args.throughput_requests,
        "api_cache": "default TTLs" if args.with_cache else "off",
        "nproc": os.cpu_count(),
        "code": code_version(),
        "endpoints": figures,
        "targets": {
            "overview_p99_ms": TARGET_OVERVIEW_P99_MS,
            "timeseries_p99_ms": TARGET_TIMESERIES_P99_MS,
            "api_adds_p50_ms": TARGET_API_ADDS_P50_MS,
        },
    }


def table(r: dict[str, Any]) -> str:
    def ms(value: float) -> str:
        return f"{value:.1f} ms"

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    rows: list[tuple[str, ...]] = [
        ("accounts / snapshots", f"{r['accounts']:,} / {r['rows']['profile_snapshots']:,}"),
        ("code / nproc", f"{r['code']} / {r['nproc']}"),
        ("API response cache", r["api_cache"]),
        ("requests per figure", f"{r['requests']} sequential, {r['throughput_requests']}"
         f" for req/s with {r['concurrency']} clients"),
    ]  # fmt: skip
    adds = TARGET_API_ADDS_P50_MS
    for name, e in r["endpoints"].items():
        api, direct, target = e["api"], e["direct"], e["target_p99_ms"]
        la = e["loadavg_1m"]
        noise = f"load avg 1m {la[0]:.1f}-{la[1]:.1f}, CPU steal {e['cpu_steal']:.0%}"
        rows.append((name, "", "", "", noise))
        for q in ("p50", "p90", "p99"):
            goal = ""
            if q == "p99" and target is not None:
                goal = f"< {target:.0f} ms: {verdict(api['p99_ms'] < target)}"
            if q == "p50":
                goal = f"API adds < {adds:.0f} ms: {verdict(e['api_adds_p50_ms'] < adds)}"
            extra = api[f"{q}_ms"] - direct[f"{q}_ms"]
            rows.append(
                (f"  {q}", ms(api[f"{q}_ms"]), ms(direct[f"{q}_ms"]), f"{extra:+.1f} ms", goal)
            )
        rows.append(
            ("  requests/s", f"{api['requests_per_s']:,.0f}/s",
             f"{direct['requests_per_s']:,.0f}/s", "", "")
        )  # fmt: skip
        api_cpu, client_cpu = api["process_cpu_ms_per_request"], direct["client_cpu_ms_per_request"]
        rows.append(
            ("  CPU/request (API proc, client)", ms(api_cpu), ms(client_cpu),
             f"{api_cpu - client_cpu:+.1f} ms", "")
        )  # fmt: skip
        rows.append(
            ("  client json.loads of the answer (p50)", ms(api["client_json_parse_p50_ms"]),
             "-", "", "not in the latencies")
        )  # fmt: skip
    header = ("metric", "API", "direct", "API - direct", "target")
    cells = [header, *[(*row, "", "", "", "")[:5] for row in rows]]
    widths = [max(len(row[i]) for row in cells if i == 0 or len(cells[0]) > i) for i in range(4)]
    widths[0] = max(len(row[0]) for row in cells if row[2] or row is header)
    lines = []
    for a, b, c, d, e in cells:
        if not c and not d and b:  # a fact line spans the value columns
            lines.append(f"{a.ljust(widths[0])}  {b}")
            continue
        cols = [b.rjust(widths[1]), c.rjust(widths[2]), d.rjust(widths[3])]
        lines.append(f"{a.ljust(widths[0])}  {'  '.join(cols)}  {e}".rstrip())
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--accounts", type=int, default=10_000, help="distinct accounts")
    parser.add_argument(
        "--snapshots", type=int, default=10_000_000, help="profile snapshots in all (hourly)"
    )
    parser.add_argument("--workspaces", type=int, default=10, help="workspaces tracking them")
    parser.add_argument("--requests", type=int, default=500, help="timed requests per figure")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first")
    parser.add_argument("--concurrency", type=int, default=4, help="clients for requests/s")
    parser.add_argument(
        "--throughput-requests", type=int, default=400, help="requests per requests/s figure"
    )
    parser.add_argument("--chunk", type=int, default=1000, help="accounts per history insert")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--with-cache", action="store_true", help="keep the API's Redis response cache on"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--database", help="measure this already filled database (no load)")
    parser.add_argument(
        "--api-env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment of the API process (repeatable)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if min(args.accounts, args.snapshots, args.requests, args.concurrency, args.workspaces) < 1:
        parser.error("counts must be positive")
    if any("=" not in item for item in args.api_env):
        parser.error("--api-env takes NAME=VALUE")
    args.throughput_requests = min(args.throughput_requests, args.warmup + args.requests)
    with services() as urls, tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        results = benchmark(args, urls, Path(tmp))
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
