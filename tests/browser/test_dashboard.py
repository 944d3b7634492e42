"""The dashboard (`/dashboard`) in headless Chromium, used as a person would, on real data.

Profile and post snapshots go through Kafka and a real worker into ClickHouse; the API runs as
its own process (`socialpulse api` on a free port); Chromium opens the page, gets a token
pasted in, browses the list and an account, and every number it shows is checked against what
the API answers. No page may log a console error or load anything from another origin.

Screenshots land in var/screenshots/ (git-ignored); with SOCIALPULSE_UPDATE_DOC_SCREENSHOTS=1
the ones the docs show are copied to docs/img/ too.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from api.tokens import mint
from clickhouse import queries_tracking
from socialpulse.contract import Platform, PostSnapshot, ProfileSnapshot, snapshot_id
from socialpulse.settings import REPO_ROOT, ApiSettings
from tests.browser.conftest import FAILED, chromium_path
from tests.conftest import Namespace, wait_until
from tests.http_server import free_port
from tests.integration.test_pipeline import wait_for_quiescence
from tests.pipeline import produce_raw

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

pytestmark = [
    pytest.mark.browser,
    pytest.mark.kafka,
    pytest.mark.clickhouse_db,
    pytest.mark.redis_db,
    pytest.mark.slow,
]

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
DOC_IMAGES = REPO_ROOT / "docs" / "img"
WORKSPACE = "ws-dash"
HOURS = 32 * 24  # hourly snapshots over 32 days, so 30-day growth and projection are defined
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
MINUS = "\u2212"


@dataclass(frozen=True)
class Account:
    platform: str
    account_id: str
    handle: str
    label: str
    start: int  # followers 32 days ago
    per_day: float  # trend
    wave: float  # size of the daily rhythm
    posts: int = 0
    observed: bool = True

    def followers(self, hour: int) -> int:
        rnd = random.Random(f"{self.account_id}:{hour}")
        daily = self.wave * math.sin(2 * math.pi * (hour % 24) / 24)
        return max(0, round(self.start + self.per_day * hour / 24 + daily + rnd.gauss(0, 2)))


ACME = Account("instagram", "17841400001", "acme.coffee", "own", 1_183_000, 820, 240, posts=9)
ACCOUNTS = [
    ACME,
    Account("tiktok", "6800000002", "acmecoffee", "own", 41_200, 230, 60, posts=6),
    Account("bluesky", "did:plc:acme3x7", "acme.bsky.social", "own", 8_150, 22, 6, posts=4),
    Account(
        "instagram", "17841400009", "rival.roasters", "competitor", 2_310_000, 510, 400, posts=5
    ),
    Account("tiktok", "6800000010", "beanbros", "competitor", 63_900, -35, 40, posts=3),
    Account("instagram", "17841400077", "newcafe", "own", 0, 0, 0, observed=False),
]
OBSERVED = [a for a in ACCOUNTS if a.observed]


def at(hour: int) -> datetime:
    return END - timedelta(hours=HOURS - 1 - hour)


def profiles(a: Account) -> list[ProfileSnapshot]:
    return [
        ProfileSnapshot(
            snapshot_id=snapshot_id(a.platform, a.account_id, k),
            platform=Platform(a.platform),
            account_id=a.account_id,
            handle=a.handle,
            observed_at=at(k),
            followers=a.followers(k),
            following=180,
            posts_count=400 + k // 48,
            source="test",
        )  # fmt: skip
        for k in range(HOURS)
    ]


def posts(a: Account) -> list[PostSnapshot]:
    """Each post seen twice (its latest counts count); TikTok gives no saves (null, not 0)."""
    out = []
    rnd = random.Random(a.account_id)
    for n in range(a.posts):
        published = HOURS - 1 - (n * 61 + 7) % (26 * 24)
        for seen in (published + 2, min(published + 30, HOURS - 1)):
            reach = a.start * rnd.uniform(0.004, 0.03) * (1 if seen == published + 2 else 1.6)
            out.append(
                PostSnapshot(
                    snapshot_id=snapshot_id("post", a.account_id, n, seen),
                    platform=Platform(a.platform),
                    account_id=a.account_id,
                    post_id=f"{a.handle.split('.')[0]}-{n + 1:02d}",
                    published_at=at(published),
                    observed_at=at(seen),
                    url=f"https://example.test/{a.account_id}/{n}",
                    media_type=("video", "image", "carousel")[n % 3],
                    likes=round(reach),
                    comments=round(reach * 0.04),
                    shares=round(reach * 0.02),
                    saves=None if a.platform == "tiktok" else round(reach * 0.03),
                    views=round(reach * 9),
                    source="test",
                )  # fmt: skip
            )
    return out


# --- the formatting the page promises (api/static/js/format.js) ---------------------------


def _js_number(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


def compact(n: float | None) -> str:
    if n is None:
        return "—"
    sign, a = (MINUS if n < 0 else ""), abs(n)
    if a < 10_000:
        return f"{sign}{math.floor(a + 0.5):,}"
    units = [(1e9, "B"), (1e6, "M"), (1e3, "K")]
    for i, (size, suffix) in enumerate(units):
        if a < size:
            continue
        v = math.floor(a / size * 10 + 0.5) / 10
        if v >= 1000 and i > 0:
            bigger, bigger_suffix = units[i - 1]
            return sign + _js_number(math.floor(a / bigger * 10 + 0.5) / 10) + bigger_suffix
        return sign + _js_number(v) + suffix
    return f"{sign}{math.floor(a + 0.5):,}"


def signed(n: float | None) -> str:
    return "—" if n is None else ("+" if n > 0 else "") + compact(n)


def pct(rate: float | None, sign: bool = False) -> str:
    if rate is None:
        return "—"
    # toFixed(2) rounds the double's exact value half up.
    text = str(Decimal(abs(rate) * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)) + "%"
    if rate < 0 and text != "0.00%":
        return MINUS + text
    return ("+" if sign and rate > 0 and text != "0.00%" else "") + text


def test_formatting_mirror_matches_the_pages_rules() -> None:
    assert [compact(n) for n in (0, 998, 9_999, 10_000, 12_345, 999_960, 1_183_000, -37)] == [
        "0", "998", "9,999", "10K", "12.3K", "1M", "1.2M", f"{MINUS}37",
    ]  # fmt: skip
    assert [pct(r) for r in (0.041, 0.0, -0.0204)] == ["4.10%", "0.00%", f"{MINUS}2.04%"]
    assert pct(0.0204, sign=True) == "+2.04%"


# --- services: data through Kafka and the worker, the API as its own process ---------------


@dataclass
class Site:
    base: str
    token: str
    http: httpx.Client

    def api(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def site(module_ns: tuple[Namespace, Client]) -> Iterator[Site]:
    ns, ch = module_ns
    feeds: list[tuple[str, list[ProfileSnapshot | PostSnapshot]]] = [
        (ns.topics.profile_snapshots, [p for a in OBSERVED for p in profiles(a)]),
        (ns.topics.post_snapshots, [p for a in OBSERVED for p in posts(a)]),
    ]
    for topic, records in feeds:
        ordered = sorted(records, key=lambda r: r.observed_at)
        feed: list[tuple[bytes | None, bytes]] = [
            (r.key.encode(), r.to_json_bytes()) for r in ordered
        ]
        asyncio.run(produce_raw(ns.settings(), topic, feed))
    for a in ACCOUNTS:
        row = queries_tracking.TrackedAccount(
            WORKSPACE, a.platform, a.account_id, a.handle, a.label, "test"
        )
        queries_tracking.write(ch, row, None)
    ns.start_worker()
    wait_for_quiescence(ns, ch, timeout_s=180, topics=[t for t, _ in feeds])

    port = free_port()
    log_path = ns.tmp / "api.log"
    with open(log_path, "ab") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "socialpulse.cli", "api"],
            env={**os.environ, **ns.env, "SOCIALPULSE_API_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    ns.children.append(api)  # stopped with the namespace
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert api.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 60, "the API to answer /healthz")
    settings = ns.settings(ApiSettings)
    assert isinstance(settings, ApiSettings)
    token = mint(settings, "browser-test", WORKSPACE, "analyst")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        yield Site(base, token, http)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    # After ``site``: playwright's sync API keeps an event loop running in this thread, and
    # feeding Kafka (asyncio.run) cannot start inside it.
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    assert executable is not None
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page with what it logged and what it asked for."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Watched]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, device_scale_factor=1, color_scheme="light"
    )
    origin = urlsplit(site.base).netloc

    def offline(route: Any) -> None:
        # The page must work offline: anything not from the API's own origin is refused.
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    w = Watched(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            w.errors.append(f"console: {message.text} ({message.location})")

    def on_request(req: Request) -> None:
        w.requests.append(req.url)

    page.on("console", console)
    page.on("pageerror", lambda exc: w.errors.append(f"page error: {exc}"))
    page.on("request", on_request)
    yield w
    if request.node.stash.get(FAILED, False):
        shot(page, f"failed-{request.node.name}")
    context.close()


def shot(page: Page, name: str, doc_name: str | None = None, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if doc_name and os.environ.get("SOCIALPULSE_UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / f"{doc_name}.png")
    return path


def painted_pixels(page: Page, selector: str) -> int:
    """How many pixels of the chart's canvas are drawn on (0 for a blank chart)."""
    count: int = page.eval_on_selector(
        f"{selector} canvas",
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""",
    )
    return count


def text(page: Page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def sign_in(w: Watched, site: Site) -> None:
    page = w.page
    page.goto(f"{site.base}/dashboard")
    page.wait_for_selector("[data-testid=token-needed]")
    page.fill("#token", site.token)
    page.click("#token-use")


# --- the tests ---------------------------------------------------------------------------


def test_the_page_asks_for_a_token_and_says_when_the_api_refuses_it(
    watched: Watched, site: Site
) -> None:
    page = watched.page
    page.goto(f"{site.base}/dashboard")
    assert page.url == f"{site.base}/dashboard/"  # redirected, so relative URLs resolve
    page.wait_for_selector("[data-testid=token-needed]")
    assert not [u for u in watched.requests if "/v1/" in u], "no API call without a token"
    assert page.evaluate("document.activeElement.id") == "token"

    page.fill("#token", "not-a-valid-token")
    page.click("#token-use")
    page.wait_for_selector("#banner:not([hidden])")
    assert "The API refused the token" in text(page, "#banner")
    assert text(page, "#token-state") == "not a JWT"
    # The 401 itself is the only error Chromium logs ("Failed to load resource").
    assert all("401" in e for e in watched.errors), watched.errors
    shot(page, "00-token-refused", full_page=False)


def test_a_link_with_the_token_signs_in_and_a_deep_link_opens_the_account(
    watched: Watched, site: Site
) -> None:
    page = watched.page
    # `socialpulse run` prints such a link; the fragment never reaches the server.
    page.goto(f"{site.base}/dashboard/#token={site.token}")
    page.wait_for_selector("[data-testid=account-row]")
    assert page.evaluate("localStorage.getItem('socialpulse.token')") == site.token
    assert "token=" not in page.url
    assert not [u for u in watched.requests if "token=" in u]

    page.goto(f"{site.base}/dashboard/#/account/{ACME.platform}/{ACME.account_id}")
    page.wait_for_selector("[data-testid=follower-chart] canvas")
    assert text(page, "[data-testid=account-handle]") == ACME.handle

    page.goto(f"{site.base}/dashboard/#/account/instagram/nobody-tracks-this")
    page.wait_for_selector(".notice")
    assert "not tracked there" in text(page, ".notice")
    # The 404s themselves are the only errors Chromium logs ("Failed to load resource").
    assert all("404" in e for e in watched.errors), watched.errors


def test_a_person_browses_the_list_and_an_account(watched: Watched, site: Site) -> None:
    page = watched.page
    sign_in(watched, site)

    # The list: every tracked account, with numbers as the API gives them.
    listed = site.api("/v1/accounts", limit=100)["items"]
    assert len(listed) == len(ACCOUNTS)
    page.wait_for_selector("[data-testid=account-row]")
    assert page.locator("[data-testid=account-row]").count() == len(listed)
    page.wait_for_function(
        "n => document.querySelectorAll('td.spark svg.sparkline').length === n", arg=len(OBSERVED)
    )
    assert f"{WORKSPACE} · analyst · expires in" in text(page, "#token-state")
    for item in listed:
        row = page.locator(
            f"tr[data-platform='{item['platform']}'][data-account-id='{item['account_id']}']"
        )
        followers = row.locator("[data-testid=followers]")
        assert followers.inner_text() == compact(item["followers"])
        assert followers.get_attribute("data-value") == (
            "" if item["followers"] is None else str(item["followers"])
        )
        assert row.locator("[data-testid=growth-7d]").inner_text() == signed(
            item["growth"]["7d"]["change"]
        )
        assert row.locator("[data-testid=engagement]").inner_text() == pct(
            item["engagement_rate_30d"]
        )
        chip = row.locator("[data-testid=observed]").inner_text()
        state = (item.get("freshness") or {}).get("state")
        if item["observed_at"] is None and not state:
            assert chip == "not observed yet"
        else:
            assert chip.startswith(state or "observed"), chip
        if item["followers"] is not None:
            series = site.api(
                f"/v1/accounts/{item['platform']}/{item['account_id']}/timeseries", interval="1d"
            )
            cell = row.locator("[data-testid=sparkline-cell]")
            assert cell.get_attribute("data-points") == str(len(series["points"]))
            assert cell.get_attribute("data-last") == str(series["points"][-1]["last"])
            assert cell.locator("svg.sparkline path.line").count() == 1
    own = [i for i in listed if i["label"] == "own" and i["followers"] is not None]
    assert text(page, "[data-testid=summary-own] .tile-value") == compact(
        sum(i["followers"] for i in own)
    )
    shot(page, "01-accounts", "dashboard-accounts")

    # Into one account, by clicking its row.
    page.locator(f"tr[data-account-id='{ACME.account_id}'] td.r").first.click()
    page.wait_for_selector("[data-testid=account-view]")
    assert page.url.endswith(f"#/account/{ACME.platform}/{ACME.account_id}")
    path = f"/v1/accounts/{ACME.platform}/{ACME.account_id}"
    overview = site.api(path)
    assert text(page, "[data-testid=account-handle]") == ACME.handle
    followers = page.locator("[data-testid=kpi-followers] .kpi-value .num")
    assert followers.inner_text() == compact(overview["followers"]) == "1.2M"
    assert followers.get_attribute("data-value") == str(overview["followers"])
    for period in ("1d", "7d", "30d"):
        kpi = page.locator(f"[data-testid=kpi-growth-{period}]")
        growth = overview["growth"][period]
        assert growth["change"] is not None
        assert kpi.locator(".kpi-value .num").inner_text() == signed(growth["change"])
        assert kpi.locator(".kpi-sub .num").inner_text() == pct(growth["rate"], sign=True)
    assert text(page, "[data-testid=kpi-engagement] .kpi-value") == pct(
        overview["engagement_rate_30d"]
    )
    assert f"{overview['posts_30d']} posts in 30 days" in text(page, "[data-testid=kpi-engagement]")
    assert text(page, "[data-testid=kpi-projected] .kpi-value") == compact(
        round(overview["projected_followers_30d"])
    )

    # Sync state and freshness: what the overview says, "unknown" where it says nothing.
    sync = overview.get("sync") or {}
    freshness = overview.get("freshness") or {}
    assert text(page, "[data-testid=sync-state]") == (sync.get("state") or "unknown")
    assert text(page, "[data-testid=sync-chip]") == f"sync: {sync.get('state') or 'unknown'}"
    assert text(page, "[data-testid=sync-freshness]") == (freshness.get("state") or "unknown")
    if not sync.get("last_success_at"):
        assert text(page, "[data-testid=sync-last_success_at]") == "unknown"
    if not (sync.get("next_due_at") or freshness.get("next_due_at")):
        assert text(page, "[data-testid=sync-next_due_at]") == "unknown"
    assert "ago" in text(page, "[data-testid=sync-observed]")

    # The follower chart and the change bars, daily first, then hourly.
    for interval in ("1d", "1h"):
        if interval == "1h":
            page.click("[data-testid=interval-toggle] button[data-value='1h']")
        chart = "[data-testid=follower-chart]"
        page.wait_for_selector(f"{chart}[data-interval='{interval}'] canvas")
        series = site.api(f"{path}/timeseries", interval=interval)
        points = series["points"]
        assert len(points) >= (28 if interval == "1d" else 7 * 24 - 2)
        assert page.get_attribute(chart, "data-points") == str(len(points))
        assert page.get_attribute(chart, "data-last") == str(points[-1]["last"])
        assert page.get_attribute("[data-testid=change-bars]", "data-points") == str(len(points))
        assert painted_pixels(page, chart) > 1000
        assert painted_pixels(page, "[data-testid=change-bars]") > 200
        assert text(page, "[data-testid=period-net-change]") == signed(
            series["comparison"]["net_change"]
        )
        if interval == "1d":
            shot(page, "02-account-daily")

    # Top posts, as the API ranks them.
    top = site.api(f"{path}/posts", sort="engagement_rate", limit=10)["items"]
    rows = page.locator("[data-testid=post-row]")
    assert rows.count() == len(top) == ACME.posts
    for i, post in enumerate(top):
        row = rows.nth(i)
        assert row.get_attribute("data-post-id") == post["post_id"]
        assert row.locator("[data-testid=interactions]").inner_text() == compact(
            post["interactions"]
        )
        assert row.locator("[data-testid=engagement]").inner_text() == pct(post["engagement_rate"])

    # The comparison with competitors: the leaderboard and one line per account compared.
    board = site.api("/v1/leaderboard", metric="growth_7d", limit=100)["items"]
    page.wait_for_selector("[data-testid=comparison-chart][data-lines] canvas")
    competitors = [i for i in board if i["label"] == "competitor"]
    assert page.get_attribute("[data-testid=comparison-chart]", "data-lines") == str(
        1 + len(competitors)
    )
    assert painted_pixels(page, "[data-testid=comparison-chart]") > 1000
    table = page.locator("[data-testid=comparison-row]")
    assert [table.nth(i).get_attribute("data-account-id") for i in range(table.count())] == [
        i["account_id"] for i in board
    ]
    for i, item in enumerate(board):
        assert table.nth(i).locator("[data-testid=growth-7d-rate]").inner_text() == pct(
            item["growth_7d"]["rate"], sign=True
        )
    current = page.locator("[data-testid=comparison-row].current")
    assert current.get_attribute("data-account-id") == ACME.account_id
    shot(page, "03-account-hourly", "dashboard-account")

    # The same page in the dark theme (auto -> light -> dark).
    page.click("#theme")
    page.click("#theme")
    page.wait_for_selector("html[data-theme='dark']")
    page.wait_for_selector("[data-testid=follower-chart] canvas")
    shot(page, "04-account-dark", "dashboard-account-dark", full_page=False)
    page.click("#theme")  # back to auto

    # On to a competitor from the comparison table.
    rival = competitors[0]
    page.click(f"[data-testid=comparison-row][data-account-id='{rival['account_id']}'] a")
    page.wait_for_selector(f"[data-testid=account-view][data-account-id='{rival['account_id']}']")
    assert text(page, "[data-testid=account-handle]") == rival["handle"]
    assert page.locator(".meta .badge.label-competitor").count() == 1
    page.wait_for_selector("[data-testid=follower-chart][data-interval='1h'] canvas")  # kept
    page.wait_for_selector("[data-testid=comparison-chart][data-lines] canvas")
    own = [i for i in board if i["label"] == "own"]  # a competitor is compared with these
    assert page.get_attribute("[data-testid=comparison-chart]", "data-lines") == str(1 + len(own))
    page.set_viewport_size({"width": 820, "height": 1000})  # a narrow window: one column
    page.wait_for_timeout(300)  # the charts follow the width (ResizeObserver)
    shot(page, "05-competitor-narrow")
    page.set_viewport_size({"width": 1440, "height": 900})

    # Back to the list with the browser's back button.
    page.go_back()
    page.go_back()
    page.wait_for_selector("[data-testid=account-list]")

    assert watched.errors == []
    origin = urlsplit(site.base).netloc
    foreign = [u for u in watched.requests if urlsplit(u).netloc != origin]
    assert foreign == [], "the page must load nothing from elsewhere"


def test_the_page_is_served_with_a_strict_policy(site: Site) -> None:
    for path in ("/dashboard/", "/dashboard/js/main.js", "/dashboard/vendor/uplot/uPlot.esm.js"):
        response = httpx.get(site.base + path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "javascript" in httpx.get(site.base + "/dashboard/js/main.js").headers["content-type"]
    redirect = httpx.get(site.base + "/dashboard", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "dashboard/"
    missing = httpx.get(site.base + "/dashboard/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    escape = httpx.get(site.base + "/dashboard/..%2f..%2fapp.py")
    assert escape.status_code == 404
