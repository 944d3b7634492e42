// The account list: every account the token may see, with current KPIs and a 30-day
// sparkline each (GET /v1/accounts, then one daily timeseries per observed account).

import { get, accountPath, pool } from "./api.js";
import { sparkline } from "./charts.js";
import { h } from "./dom.js";
import { signed, trend } from "./format.js";
import { avatar, change, count, empty, labelBadge, observedChip, platformBadge, rate, sectionError, segmented } from "./ui.js";

const filters = { q: "", label: "" };
const PAGE = 100;

export function accountHref(platform, accountId) {
  return `#/account/${encodeURIComponent(platform)}/${encodeURIComponent(accountId)}`;
}

export async function renderAccounts() {
  const first = await loadPage(null);
  const tableHost = h("div", { class: "table-host" });
  const summaryHost = h("div", { class: "summary-host" });
  const search = h("input", {
    type: "search",
    placeholder: "Search handle or id",
    value: filters.q,
    "aria-label": "Search accounts",
    "data-testid": "account-search",
  });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      filters.q = search.value.trim();
      reload();
    }, 250);
  });
  const labels = segmented(
    [["", "All"], ["own", "Own"], ["competitor", "Competitors"]],
    filters.label,
    (value) => {
      filters.label = value;
      reload();
    },
    { "aria-label": "Filter by label" },
  );

  async function reload() {
    try {
      show(await loadPage(null));
    } catch (error) {
      tableHost.replaceChildren(sectionError(error));
    }
  }

  function show(page) {
    summaryHost.replaceChildren(summary(page.items));
    tableHost.replaceChildren(table(page));
    fillSparklines(tableHost);
  }

  const el = h(
    "div",
    { class: "page accounts-page" },
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Accounts"), h("p", { class: "muted" }, "Tracked in your workspace · followers, growth and engagement as of each account's latest observation")),
      h("div", { class: "toolbar" }, search, labels),
    ),
    summaryHost,
    tableHost,
  );
  return { el, after: () => show(first) };
}

async function loadPage(cursor) {
  return get("/accounts", { limit: PAGE, q: filters.q || null, label: filters.label || null, cursor });
}

function summary(items) {
  const group = (label) => items.filter((i) => (label ? i.label === label : true));
  const tile = (title, list, testid) => {
    const observed = list.filter((i) => i.followers != null);
    const followers = observed.reduce((sum, i) => sum + i.followers, 0);
    const week = observed.map((i) => i.growth["7d"].change).filter((c) => c != null);
    const weekSum = week.length ? week.reduce((a, b) => a + b, 0) : null;
    return h(
      "div",
      { class: "tile", "data-testid": testid },
      h("div", { class: "tile-title" }, title),
      h("div", { class: "tile-value" }, count(observed.length ? followers : null)),
      h("div", { class: "tile-sub" }, `${list.length} account${list.length === 1 ? "" : "s"} · 7 days `, change(weekSum)),
    );
  };
  return h(
    "div",
    { class: "tiles" },
    tile("All followers", group(""), "summary-all"),
    tile("Own accounts", group("own"), "summary-own"),
    tile("Competitors", group("competitor"), "summary-competitor"),
  );
}

function table(page) {
  if (!page.items.length) {
    return empty(filters.q || filters.label ? "No account matches these filters." : "No account is tracked in this workspace yet: POST /v1/accounts adds one.");
  }
  const body = h("tbody", {});
  for (const item of page.items) body.append(row(item));
  const wrap = h(
    "div",
    { class: "card table-card" },
    h(
      "table",
      { class: "accounts", "data-testid": "account-list" },
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "Account"), h("th", {}, "30 days"), h("th", { class: "r" }, "Followers"), h("th", { class: "r" }, "7 days"), h("th", { class: "r" }, "Engagement 30d"), h("th", { class: "r" }, "Score"), h("th", {}, "Freshness")),
      ),
      body,
    ),
  );
  if (page.next_cursor) {
    const more = h("button", { type: "button", class: "more" }, "Load more");
    let cursor = page.next_cursor;
    more.addEventListener("click", async () => {
      more.disabled = true;
      const next = await loadPage(cursor);
      for (const item of next.items) body.append(row(item));
      fillSparklines(body);
      cursor = next.next_cursor;
      if (cursor) more.disabled = false;
      else more.remove();
    });
    wrap.append(more);
  }
  return wrap;
}

function row(item) {
  const href = accountHref(item.platform, item.account_id);
  const week = item.growth["7d"] || {};
  const observed = item.followers != null;
  const tr = h(
    "tr",
    {
      class: "account-row",
      "data-testid": "account-row",
      "data-platform": item.platform,
      "data-account-id": item.account_id,
      tabindex: "0",
    },
    h(
      "td",
      { class: "who" },
      avatar(item.handle, item.platform),
      h(
        "div",
        {},
        h("a", { class: "handle", href }, item.handle),
        h("div", { class: "meta" }, platformBadge(item.platform), labelBadge(item.label), h("span", { class: "muted id" }, item.account_id)),
      ),
    ),
    h("td", { class: "spark", "data-testid": "sparkline-cell" }, observed ? h("span", { class: "skeleton spark-skeleton" }) : h("span", { class: "muted" }, "—")),
    h("td", { class: "r" }, count(item.followers, { "data-testid": "followers" })),
    h("td", { class: "r" }, change(week.change, { "data-testid": "growth-7d" }), h("div", { class: "sub" }, rate(week.rate, { sign: true }))),
    h("td", { class: "r" }, rate(item.engagement_rate_30d, { attrs: { "data-testid": "engagement" } })),
    h("td", { class: "r" }, scoreCell(item.score)),
    h("td", {}, observedChip(item.observed_at, item.freshness, { "data-testid": "observed" })),
  );
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a")) return; // the link navigates by itself
    location.hash = href;
  });
  tr.addEventListener("keydown", (event) => {
    if (event.key === "Enter") location.hash = href;
  });
  return tr;
}

export function scoreCell(score) {
  if (score == null) return h("span", { class: "muted" }, "—");
  return h(
    "span",
    { class: "score", title: "0–100 within the platform", "data-value": String(score) },
    h("span", { class: "score-bar" }, h("span", { style: `width:${Math.max(0, Math.min(100, score))}%` })),
    h("span", { class: "num" }, score.toFixed(1)),
  );
}

function fillSparklines(root) {
  const cells = [...root.querySelectorAll("tr.account-row")].filter((tr) => tr.querySelector(".spark-skeleton"));
  const tasks = cells.map((tr) => async () => {
    const { platform, accountId } = tr.dataset;
    const cell = tr.querySelector("td.spark");
    try {
      const series = await get(`${accountPath(platform, accountId)}/timeseries`, { interval: "1d", metric: "followers" });
      const spark = sparkline(series.points);
      const total = series.comparison ? series.comparison.net_change : null;
      cell.replaceChildren(spark, h("span", { class: `spark-change ${trend(total)}`, title: "net change over the range" }, total == null ? "" : signed(total)));
      cell.dataset.points = String(series.points.length);
      cell.dataset.last = series.points.length ? String(series.points[series.points.length - 1].last) : "";
    } catch (error) {
      cell.replaceChildren(h("span", { class: "muted", title: error.message }, "n/a"));
    }
  });
  return pool(tasks, 4);
}
