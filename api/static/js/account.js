// One account: KPIs, follower chart (hourly/daily), change bars, top posts, sync state and
// freshness, best times, recent changes, and a comparison with competitors.

import { ApiError, accountPath, get, pool } from "./api.js";
import { changeBars, comparisonChart, followerChart } from "./charts.js";
import { h, safeLink } from "./dom.js";
import { MISSING, exact, pct, utc, utcDate } from "./format.js";
import { accountHref, scoreCell } from "./accounts.js";
import {
  avatar,
  card,
  change,
  count,
  empty,
  labelBadge,
  observedChip,
  platformBadge,
  rate,
  relTime,
  sectionError,
  segmented,
} from "./ui.js";

const INTERVAL_KEY = "socialpulse.interval";
const INTERVALS = [
  ["1h", "Hourly"],
  ["1d", "Daily"],
];
const SPAN_TEXT = { "1h": "last 7 days, per hour (UTC)", "1d": "last 30 days, per day (UTC)" };
const POST_SORTS = [
  ["engagement_rate", "Engagement"],
  ["interactions", "Interactions"],
  ["published_at", "Newest"],
];
const BOARD_METRICS = [
  ["growth_7d", "Growth 7d"],
  ["engagement_rate_30d", "Engagement"],
  ["followers", "Followers"],
];
const MAX_COMPARED = 5;
// Kept across the page's periodic refresh, which rebuilds the view.
const prefs = { postSort: "engagement_rate", boardMetric: "growth_7d" };

function settled(result) {
  return result.status === "fulfilled" ? { ok: true, value: result.value } : { ok: false, error: result.reason };
}

export async function renderAccount(platform, accountId) {
  const base = accountPath(platform, accountId);
  const interval = localStorage.getItem(INTERVAL_KEY) === "1h" ? "1h" : "1d";
  const results = await Promise.allSettled([
    get(base),
    get(`${base}/timeseries`, { interval, metric: "followers" }),
    get(`${base}/posts`, { sort: prefs.postSort, limit: 10 }),
    get(`${base}/follower-changes`, { limit: 8 }),
    get(`${base}/best-times`),
    get("/leaderboard", { metric: prefs.boardMetric, limit: 100 }),
  ]);
  const [overview, series, posts, changes, best, board] = results.map(settled);
  if (!overview.ok) {
    if (overview.error instanceof ApiError && overview.error.status === 404) {
      return { el: notVisible(platform, accountId, overview.error) };
    }
    throw overview.error;
  }
  const o = overview.value;
  const chartHost = h("div", { class: "chart", "data-testid": "follower-chart" });
  const barsHost = h("div", { class: "chart", "data-testid": "change-bars" });
  const periodHost = h("div", { class: "period", "data-testid": "period-comparison" });
  const spanHost = h("span", { class: "muted" });
  const state = { interval, series };

  function drawSeries() {
    spanHost.textContent = SPAN_TEXT[state.interval];
    if (!state.series.ok) {
      chartHost.replaceChildren(sectionError(state.series.error));
      barsHost.replaceChildren();
      periodHost.replaceChildren();
      return;
    }
    const points = state.series.value.points;
    chartHost.dataset.interval = state.interval;
    chartHost.dataset.points = String(points.length);
    barsHost.dataset.points = String(points.length);
    chartHost.dataset.last = points.length ? String(points[points.length - 1].last) : "";
    periodHost.replaceChildren(...period(state.series.value.comparison));
    if (!points.length) {
      chartHost.replaceChildren(empty("No observation in this range yet."));
      barsHost.replaceChildren(empty("No follower change in this range."));
      return;
    }
    followerChart(chartHost, points, state.interval);
    changeBars(barsHost, points, state.interval);
  }

  const toggle = segmented(
    INTERVALS,
    interval,
    async (value) => {
      state.interval = value;
      localStorage.setItem(INTERVAL_KEY, value);
      chartHost.setAttribute("aria-busy", "true");
      try {
        state.series = { ok: true, value: await get(`${base}/timeseries`, { interval: value, metric: "followers" }) };
      } catch (error) {
        state.series = { ok: false, error };
      }
      chartHost.removeAttribute("aria-busy");
      drawSeries();
    },
    { "aria-label": "Window size", "data-testid": "interval-toggle" },
  );

  const compareHost = h("div", { class: "chart", "data-testid": "comparison-chart" });
  const el = h(
    "div",
    { class: "page account-page", "data-testid": "account-view", "data-platform": platform, "data-account-id": accountId },
    header(o, board),
    kpis(o),
    h(
      "div",
      { class: "grid two" },
      card(
        "Followers",
        { class: "card span-2", actions: [spanHost, toggle] },
        chartHost,
        periodHost,
      ),
      card("Follower change", { class: "card span-2", actions: [h("span", { class: "muted" }, "net change per window")] }, barsHost),
    ),
    h(
      "div",
      { class: "grid main-side" },
      postsCard(base, posts),
      h("div", { class: "stack" }, syncCard(o), bestTimesCard(best), changesCard(changes)),
    ),
    comparisonCard(o, board, compareHost),
  );
  return {
    el,
    after: () => {
      drawSeries();
      drawComparison(o, board, compareHost);
    },
  };
}

function notVisible(platform, accountId, error) {
  return h(
    "div",
    { class: "page" },
    h("a", { class: "back", href: "#/" }, "← All accounts"),
    h("div", { class: "card notice" }, h("h1", {}, `${platform}:${accountId}`), h("p", {}, error.message)),
  );
}

function header(o, board) {
  const mine = board.ok ? board.value.items.find((i) => i.platform === o.platform && i.account_id === o.account_id) : null;
  return h(
    "div",
    { class: "account-head" },
    h("a", { class: "back", href: "#/" }, "← All accounts"),
    h(
      "div",
      { class: "title-row" },
      avatar(o.handle, o.platform),
      h(
        "div",
        {},
        h("h1", { "data-testid": "account-handle" }, o.handle),
        h("div", { class: "meta" }, platformBadge(o.platform), labelBadge(mine ? mine.label : null), h("span", { class: "muted id" }, o.account_id)),
      ),
      h("div", { class: "head-chips" }, observedChip(o.observed_at, o.freshness, { "data-testid": "observed-chip" }), syncChip(o.sync)),
    ),
  );
}

function kpi(title, value, sub, testid) {
  return h("div", { class: "kpi", "data-testid": testid }, h("div", { class: "kpi-title" }, title), h("div", { class: "kpi-value" }, value), h("div", { class: "kpi-sub" }, sub));
}

function growthKpi(o, period, title) {
  const g = (o.growth && o.growth[period]) || {};
  return kpi(title, change(g.change), [rate(g.rate, { sign: true }), g.change == null ? h("span", { class: "muted" }, " no history that far back") : null], `kpi-growth-${period}`);
}

function kpis(o) {
  const projected = o.projected_followers_30d;
  const projectedDiff = projected == null || o.followers == null ? null : Math.round(projected - o.followers);
  return h(
    "div",
    { class: "kpis", "data-testid": "kpis" },
    kpi("Followers", count(o.followers), [h("span", { class: "muted" }, exact(o.followers))], "kpi-followers"),
    growthKpi(o, "1d", "24 hours"),
    growthKpi(o, "7d", "7 days"),
    growthKpi(o, "30d", "30 days"),
    kpi("Engagement 30d", rate(o.engagement_rate_30d), h("span", { class: "muted" }, `${o.posts_30d ?? MISSING} posts in 30 days`), "kpi-engagement"),
    kpi(
      "Projected 30d",
      count(projected == null ? null : Math.round(projected)),
      projectedDiff == null ? h("span", { class: "muted" }, "needs 3 days of data") : change(projectedDiff),
      "kpi-projected",
    ),
    kpi("Score", scoreCell(o.score), h("span", { class: "muted" }, "0–100 within the platform"), "kpi-score"),
  );
}

function period(c) {
  if (!c) return [];
  const parts = [h("span", {}, "Net change in range "), change(c.net_change, { "data-testid": "period-net-change" })];
  parts.push(h("span", { class: "muted" }, " · previous range "), change(c.previous_net_change));
  if (c.change_rate != null) parts.push(h("span", { class: "muted" }, " · "), rate(c.change_rate, { sign: true }), h("span", { class: "muted" }, " vs previous"));
  return parts;
}

// --- sync and freshness ---------------------------------------------------------------------

// The overview's sync block is growing (CONTRACT §4 and issue 5's freshness states); render
// what is there, and "unknown" for what is null or missing.
const SYNC_FIELDS = [
  ["state", "Last sync"],
  ["freshness", "Freshness"],
  ["last_success_at", "Last success"],
  ["last_run_at", "Last run"],
  ["last_error", "Last error"],
  ["last_error_at", "Last error at"],
  ["next_due_at", "Next sync due"],
];

const ALWAYS_SHOWN = new Set(["state", "freshness", "last_success_at", "last_error", "next_due_at"]);

function isTimestampKey(key) {
  return key.endsWith("_at") || key === "next_due";
}

function asIso(value) {
  if (typeof value === "number") return new Date(value * 1000).toISOString(); // epoch seconds
  return value;
}

function errorText(value) {
  if (value == null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "object") return [value.class || value.code, value.message].filter(Boolean).join(": ") || JSON.stringify(value);
  return String(value);
}

function freshnessOf(o) {
  const sync = o.sync || {};
  const f = o.freshness ?? sync.freshness;
  if (f && typeof f === "object") return { state: f.state ?? null, next_due_at: f.next_due_at ?? null };
  return { state: f ?? null, next_due_at: null };
}

function syncValues(o) {
  const sync = { ...(o.sync || {}) };
  const fresh = freshnessOf(o);
  sync.freshness = fresh.state;
  sync.next_due_at = sync.next_due_at ?? sync.next_due ?? fresh.next_due_at ?? o.next_due_at ?? null;
  delete sync.next_due;
  return sync;
}

function syncChip(sync) {
  const state = sync && sync.state;
  return h("span", { class: `chip sync-${(state || "unknown").toLowerCase()}`, "data-testid": "sync-chip" }, `sync: ${state || "unknown"}`);
}

function syncValue(key, value, known) {
  if (key === "last_error") {
    const text = errorText(value);
    if (text) return h("span", { class: "negative" }, text);
    return h("span", { class: "muted" }, known ? "none" : "unknown");
  }
  if (value == null || value === "") return h("span", { class: "muted" }, "unknown");
  if (isTimestampKey(key)) return relTime(asIso(value));
  if (key === "state" || key === "freshness") return h("span", { class: `chip sync-${String(value).toLowerCase()}` }, String(value));
  return h("span", {}, typeof value === "object" ? JSON.stringify(value) : String(value));
}

function syncCard(o) {
  const values = syncValues(o);
  const known = values.state != null;
  const keys = [...SYNC_FIELDS.map(([k]) => k), ...Object.keys(values).filter((k) => !SYNC_FIELDS.some(([f]) => f === k))];
  const rows = [h("div", { class: "kv-row" }, h("dt", {}, "Observed"), h("dd", { "data-testid": "sync-observed" }, relTime(o.observed_at), h("span", { class: "muted" }, ` · ${utc(o.observed_at)}`)))];
  for (const key of keys) {
    if (!(key in values) && !ALWAYS_SHOWN.has(key)) continue;
    const title = (SYNC_FIELDS.find(([f]) => f === key) || [key, key.replace(/_/g, " ")])[1];
    rows.push(h("div", { class: "kv-row", "data-key": key }, h("dt", {}, title), h("dd", { "data-testid": `sync-${key}` }, syncValue(key, values[key], known))));
  }
  return card("Sync & freshness", { "data-testid": "sync-card" }, h("dl", { class: "kv" }, rows));
}

// --- posts, best times, recent changes ------------------------------------------------------

function postsCard(base, posts) {
  const host = h("div", { class: "table-scroll" });
  const show = (result) => host.replaceChildren(result.ok ? postsTable(result.value.items) : sectionError(result.error));
  show(posts);
  const sort = segmented(
    POST_SORTS,
    prefs.postSort,
    async (value) => {
      prefs.postSort = value;
      try {
        show({ ok: true, value: await get(`${base}/posts`, { sort: value, limit: 10 }) });
      } catch (error) {
        show({ ok: false, error });
      }
    },
    { "aria-label": "Sort posts", "data-testid": "posts-sort" },
  );
  return card("Top posts", { class: "card", actions: [sort] }, host);
}

function postsTable(items) {
  if (!items.length) return empty("No post observed yet.");
  const best = Math.max(...items.map((p) => p.engagement_rate || 0)) || 1;
  const cell = (n) => h("td", { class: "r" }, count(n));
  return h(
    "table",
    { class: "posts", "data-testid": "posts-table" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", {}, "Post"), h("th", {}, "Published"), h("th", { class: "r" }, "Likes"), h("th", { class: "r" }, "Comments"), h("th", { class: "r" }, "Shares"), h("th", { class: "r" }, "Saves"), h("th", { class: "r" }, "Views"), h("th", { class: "r" }, "Interactions"), h("th", { class: "r" }, "Engagement")),
    ),
    h(
      "tbody",
      {},
      items.map((p) =>
        h(
          "tr",
          { "data-testid": "post-row", "data-post-id": p.post_id },
          h("td", { class: "post" }, p.url ? safeLink(p.url, p.post_id) : p.post_id, p.media_type ? h("span", { class: "badge" }, p.media_type) : null),
          h("td", { class: "nowrap" }, p.published_at ? h("time", { datetime: p.published_at, title: utc(p.published_at) }, utcDate(p.published_at)) : h("span", { class: "muted" }, "unknown")),
          cell(p.likes),
          cell(p.comments),
          cell(p.shares),
          cell(p.saves),
          cell(p.views),
          h("td", { class: "r" }, count(p.interactions, { "data-testid": "interactions" })),
          h(
            "td",
            { class: "r er" },
            h("span", { class: "er-bar" }, h("span", { style: `width:${(((p.engagement_rate || 0) / best) * 100).toFixed(1)}%` })),
            rate(p.engagement_rate, { attrs: { "data-testid": "engagement" } }),
          ),
        ),
      ),
    ),
  );
}

function bestTimesCard(best) {
  let body;
  if (!best.ok) body = sectionError(best.error);
  else if (!best.value.items.length) body = empty("No post with an engagement rate yet.");
  else {
    body = h(
      "ol",
      { class: "best-times", "data-testid": "best-times" },
      best.value.items.slice(0, 3).map((c) =>
        h(
          "li",
          {},
          h("strong", {}, `${c.weekday_name} ${String(c.hour).padStart(2, "0")}:00`),
          h("span", { class: "muted" }, ` UTC · ${c.posts} post${c.posts === 1 ? "" : "s"}`),
          h("span", { class: "right" }, pct(c.mean_engagement_rate)),
        ),
      ),
    );
  }
  return card("Best time to post", {}, body);
}

function changesCard(changes) {
  let body;
  if (!changes.ok) body = sectionError(changes.error);
  else if (!changes.value.items.length) body = empty("No follower change recorded yet.");
  else {
    body = h(
      "ul",
      { class: "changes", "data-testid": "recent-changes" },
      changes.value.items.map((c) =>
        h("li", {}, relTime(c.observed_at), h("span", { class: "muted num" }, ` ${exact(c.previous_followers)} → ${exact(c.followers)}`), h("span", { class: "right" }, change(c.delta))),
      ),
    );
  }
  return card("Recent follower changes", {}, body);
}

// --- competitor comparison ------------------------------------------------------------------

function comparisonCard(o, board, chartHost) {
  const host = h("div", { class: "table-scroll" });
  const show = (result) => host.replaceChildren(result.ok ? boardTable(o, result.value.items) : sectionError(result.error));
  show(board);
  const pick = segmented(
    BOARD_METRICS,
    prefs.boardMetric,
    async (metric) => {
      prefs.boardMetric = metric;
      try {
        show({ ok: true, value: await get("/leaderboard", { metric, limit: 100 }) });
      } catch (error) {
        show({ ok: false, error });
      }
    },
    { "aria-label": "Rank on", "data-testid": "board-metric" },
  );
  const me = board.ok ? board.value.items.find((i) => i.platform === o.platform && i.account_id === o.account_id) : null;
  return card(
    me && me.label === "competitor" ? "Compared with your accounts" : "Compared with competitors",
    { class: "card comparison", "data-testid": "comparison", actions: [pick] },
    h("p", { class: "muted" }, "Followers indexed to each account's first day in the last 30 days (dashed: competitors)."),
    chartHost,
    host,
  );
}

function boardTable(o, items) {
  if (!items.length) return empty("Nothing to rank yet.");
  return h(
    "table",
    { class: "board", "data-testid": "comparison-table" },
    h("thead", {}, h("tr", {}, h("th", { class: "r" }, "#"), h("th", {}, "Account"), h("th", { class: "r" }, "Followers"), h("th", { class: "r" }, "7 days"), h("th", { class: "r" }, "Engagement 30d"), h("th", { class: "r" }, "Score"))),
    h(
      "tbody",
      {},
      items.map((i) => {
        const current = i.platform === o.platform && i.account_id === o.account_id;
        return h(
          "tr",
          { class: current ? "current" : "", "data-testid": "comparison-row", "data-account-id": i.account_id, "data-platform": i.platform },
          h("td", { class: "r muted" }, i.rank == null ? MISSING : String(i.rank)),
          h("td", {}, h("a", { href: accountHref(i.platform, i.account_id) }, i.handle), " ", labelBadge(i.label), h("span", { class: "muted" }, ` ${i.platform}`)),
          h("td", { class: "r" }, count(i.followers)),
          h("td", { class: "r" }, rate(i.growth_7d.rate, { sign: true, attrs: { "data-testid": "growth-7d-rate" } }), h("div", { class: "sub" }, change(i.growth_7d.change))),
          h("td", { class: "r" }, rate(i.engagement_rate_30d)),
          h("td", { class: "r" }, scoreCell(i.score)),
        );
      }),
    ),
  );
}

async function drawComparison(o, board, host) {
  if (!board.ok) return host.replaceChildren(sectionError(board.error));
  const me = board.value.items.find((i) => i.platform === o.platform && i.account_id === o.account_id);
  const myLabel = me ? me.label : "own";
  // Own accounts are compared with competitors, a competitor with the own accounts.
  const others = board.value.items.filter((i) => i !== me && (i.label || "own") !== (myLabel || "own")).slice(0, MAX_COMPARED);
  if (!others.length) {
    host.replaceChildren(empty("No competitor tracked: POST /v1/accounts with \"label\": \"competitor\" adds one."));
    return;
  }
  const accounts = [{ platform: o.platform, account_id: o.account_id, handle: o.handle, label: myLabel }, ...others];
  const results = await pool(
    accounts.map((a) => () => get(`${accountPath(a.platform, a.account_id)}/timeseries`, { interval: "1d", metric: "followers" })),
    4,
  );
  const lines = [];
  results.forEach((r, i) => {
    if (r.ok && r.value.points.length) {
      const a = accounts[i];
      lines.push({ label: `${a.handle}${i === 0 ? " (this)" : ""}`, points: r.value.points, current: i === 0, own: a.label !== "competitor" });
    }
  });
  host.dataset.lines = String(lines.length);
  if (!lines.length) return host.replaceChildren(empty("No daily windows to compare yet."));
  comparisonChart(host, lines);
}
