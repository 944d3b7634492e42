// Charts: uPlot (vendored) for the follower line, the change bars and the comparison; small
// SVG sparklines for the account list, where dozens of canvases would be wasteful.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { compactTicks, exact, pct, signed, toSeconds, utc } from "./format.js";
import { s } from "./dom.js";

const live = new Set();
const FONT = "12px system-ui, -apple-system, 'Segoe UI', sans-serif";

/** Colours from the stylesheet's variables, so charts follow the light/dark theme. */
export function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v("--muted"),
    grid: v("--grid"),
    accent: v("--accent"),
    accentSoft: v("--accent-soft"),
    positive: v("--positive"),
    negative: v("--negative"),
    series: [1, 2, 3, 4, 5, 6].map((i) => v(`--c${i}`)),
  };
}

export function disposeCharts() {
  for (const chart of live) chart.destroy();
  live.clear();
}

// The API's windows are UTC hours and days: show them as such, whatever the browser's zone.
const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");

function windowLabel(ts, interval) {
  if (ts == null) return "—";
  const iso = new Date(ts * 1e3).toISOString();
  return interval === "1h" ? utc(iso) : iso.slice(0, 10);
}

// 24-hour UTC tick labels, the date under the first tick of each day (uPlot's format table:
// tick step, label, then the label when the year / month / day / hour / minute changes).
const NL_DATE = "\n{MMM} {D}";
const TIME_TICKS = [
  [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
  [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600 * 24, "{MMM} {D}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600, "{HH}:{mm}", NL_DATE, null, NL_DATE, null, null, null, 1],
  [60, "{HH}:{mm}", NL_DATE, null, NL_DATE, null, null, null, 1],
];

function axes(p, yValues, ySize = 64) {
  const common = {
    stroke: p.text,
    font: FONT,
    grid: { stroke: p.grid, width: 1 },
    ticks: { stroke: p.grid, width: 1, size: 4 },
  };
  return [
    { ...common, values: TIME_TICKS },
    { ...common, size: ySize, values: (u, splits) => yValues(splits) },
  ];
}

// Bars grow from zero, so the value axis always includes it.
function fromZero(u, lo, hi) {
  const a = Math.min(0, lo);
  const b = Math.max(0, hi);
  const pad = (b - a) * 0.08 || 1;
  return [a < 0 ? a - pad : 0, b > 0 ? b + pad : 0];
}

function mount(el, opts, data) {
  el.replaceChildren();
  const width = Math.max(el.clientWidth || 0, 240);
  const chart = new uPlot({ tzDate, ...opts, width }, data, el);
  const observer = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (w && Math.abs(w - chart.width) > 1) chart.setSize({ width: w, height: opts.height });
  });
  observer.observe(el);
  const handle = {
    chart,
    destroy() {
      observer.disconnect();
      chart.destroy();
    },
  };
  live.add(handle);
  return handle;
}

/** Followers at the end of each window (with the window's min–max as a band). */
export function followerChart(el, points, interval) {
  const p = palette();
  const xs = points.map((pt) => toSeconds(pt.ts));
  const dense = points.length > 60;
  return mount(
    el,
    {
      height: 260,
      cursor: { points: { size: 7 } },
      scales: { x: { time: true } },
      axes: axes(p, (splits) => compactTicks(splits)),
      series: [
        { value: (u, ts) => windowLabel(ts, interval) },
        {
          label: "Followers",
          stroke: p.accent,
          width: 2,
          fill: p.accentSoft,
          points: { show: !dense, size: 5, fill: p.accent },
          value: (u, v) => exact(v),
        },
        { label: "Low", stroke: p.text, width: 1, dash: [3, 4], show: false, value: (u, v) => exact(v) },
        { label: "High", stroke: p.text, width: 1, dash: [3, 4], show: false, value: (u, v) => exact(v) },
      ],
    },
    [xs, points.map((pt) => pt.last), points.map((pt) => pt.min), points.map((pt) => pt.max)],
  );
}

/** Net follower change per window: gains up in green, losses down in red. */
export function changeBars(el, points, interval) {
  const p = palette();
  const xs = points.map((pt) => toSeconds(pt.ts));
  const gains = points.map((pt) => (pt.net_change >= 0 ? pt.net_change : null));
  const losses = points.map((pt) => (pt.net_change < 0 ? pt.net_change : null));
  const bars = uPlot.paths.bars({ size: [0.7, 48], align: 0 });
  return mount(
    el,
    {
      height: 170,
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: fromZero } },
      axes: axes(p, (splits) => compactTicks(splits, { sign: true })),
      series: [
        { value: (u, ts) => windowLabel(ts, interval) },
        { label: "Gained", stroke: p.positive, fill: p.positive, paths: bars, points: { show: false }, value: (u, v) => (v == null ? "—" : signed(v)) },
        { label: "Lost", stroke: p.negative, fill: p.negative, paths: bars, points: { show: false }, value: (u, v) => (v == null ? "—" : signed(v)) },
      ],
    },
    [xs, gains, losses],
  );
}

/**
 * Each account's followers indexed to its first day in the range (percentage change), so an
 * account of 2M and one of 20K can share one axis.
 */
export function comparisonChart(el, lines) {
  const p = palette();
  const aligned = uPlot.join(
    lines.map((line) => [line.points.map((pt) => toSeconds(pt.ts)), indexed(line.points)]),
  );
  return mount(
    el,
    {
      height: 240,
      scales: { x: { time: true } },
      axes: axes(p, (splits) => splits.map((v) => pct(v, { sign: true })), 70),
      series: [
        { value: (u, ts) => windowLabel(ts, "1d") },
        ...lines.map((line, i) => ({
          label: line.label,
          stroke: p.series[i % p.series.length],
          width: line.current ? 3 : 1.5,
          dash: line.own === false ? [6, 3] : undefined,
          spanGaps: true,
          points: { show: false },
          value: (u, v) => (v == null ? "—" : pct(v, { sign: true })),
        })),
      ],
    },
    aligned,
  );
}

export function indexed(points) {
  const base = points.length ? points[0].last : null;
  return points.map((pt) => (base ? (pt.last - base) / base : null));
}

/** A 120×32 SVG line of the windows' last values, coloured by the trend over the range. */
export function sparkline(points, { width = 120, height = 32 } = {}) {
  const values = points.map((pt) => pt.last);
  const svg = s("svg", {
    class: "sparkline",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "data-points": String(values.length),
  });
  if (values.length === 0) return svg;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  const step = values.length > 1 ? (width - 2) / (values.length - 1) : 0;
  const xy = values.map((v, i) => [
    1 + i * step,
    hi === lo ? height / 2 : 2 + (1 - (v - lo) / span) * (height - 4),
  ]);
  const line = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  const change = values[values.length - 1] - values[0];
  const cls = change > 0 ? "positive" : change < 0 ? "negative" : "neutral";
  svg.classList.add(cls);
  svg.setAttribute("aria-label", `followers over the range: ${signed(change)}`);
  const last = xy[xy.length - 1];
  svg.append(
    s("path", { class: "area", d: `${line}L${last[0].toFixed(1)},${height}L1,${height}Z` }),
    s("path", { class: "line", d: line }),
    s("circle", { class: "dot", cx: last[0].toFixed(1), cy: last[1].toFixed(1), r: 2.5 }),
  );
  return svg;
}
