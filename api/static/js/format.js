// Number and time formatting. tests/browser/test_dashboard.py mirrors compact() and pct(),
// so a change here needs the same change there.

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const UNITS = [
  [1e9, "B"],
  [1e6, "M"],
  [1e3, "K"],
];
export const MISSING = "—";
const MINUS = "\u2212";

function oneDecimal(x) {
  // Math.round is half-up; String drops a trailing ".0" (1.0 -> "1").
  return Math.round(x * 10) / 10;
}

/** 9,999 as is; from 10,000 on one decimal with K, M, B (12.3K, 1.2M). */
export function compact(n) {
  if (n == null || !Number.isFinite(n)) return MISSING;
  const abs = Math.abs(n);
  const sign = n < 0 ? MINUS : "";
  if (abs < 10000) return sign + grouped.format(Math.round(abs));
  for (let i = 0; i < UNITS.length; i++) {
    const [size, suffix] = UNITS[i];
    if (abs < size) continue;
    const v = oneDecimal(abs / size);
    if (v >= 1000 && i > 0) {
      // 999,960 rounds to "1000K": say "1M" instead.
      return sign + String(oneDecimal(abs / UNITS[i - 1][0])) + UNITS[i - 1][1];
    }
    return sign + String(v) + suffix;
  }
  return sign + grouped.format(Math.round(abs));
}

/** The exact value with thousands separators (for tooltips and tables). */
export function exact(n) {
  if (n == null || !Number.isFinite(n)) return MISSING;
  return (n < 0 ? MINUS : "") + grouped.format(Math.abs(n));
}

/** A change with its sign: +1.2K, −37, 0. */
export function signed(n) {
  if (n == null || !Number.isFinite(n)) return MISSING;
  return (n > 0 ? "+" : "") + compact(n);
}

/** A fraction as a percentage with two decimals (0.041 -> "4.10%"). */
export function pct(rate, { sign = false } = {}) {
  if (rate == null || !Number.isFinite(rate)) return MISSING;
  const text = (Math.abs(rate) * 100).toFixed(2) + "%";
  if (rate < 0 && text !== "0.00%") return MINUS + text;
  return (sign && rate > 0 && text !== "0.00%" ? "+" : "") + text;
}

/** "positive" / "negative" / "neutral", for colouring a change. */
export function trend(n) {
  if (n == null || !Number.isFinite(n) || n === 0) return "neutral";
  return n > 0 ? "positive" : "negative";
}

export function toSeconds(iso) {
  return Date.parse(iso) / 1000;
}

/** "2026-11-21 10:15 UTC". */
export function utc(iso) {
  if (!iso) return MISSING;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function utcDate(iso) {
  if (!iso) return MISSING;
  return new Date(iso).toISOString().slice(0, 10);
}

/** "just now", "12 min ago", "3 h ago", "4 d ago"; "in 5 min" for the future. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "unknown";
  const seconds = (now - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "unknown";
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 60) return future ? "in under a minute" : "just now";
  if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 48 * 3600) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** How old an observation is, for colouring freshness without a state from the API. */
export function ageClass(iso, now = Date.now()) {
  if (!iso) return "unknown";
  const hours = (now - Date.parse(iso)) / 3.6e6;
  if (hours < 2) return "fresh";
  if (hours < 26) return "aging";
  return "stale";
}

const axisSmall = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/**
 * Axis labels: compact, with as many decimals as the tick step needs for neighbours to
 * differ (1.202M, 1.204M rather than 1.2M three times); exact beyond three decimals.
 */
export function compactTicks(splits, { sign = false } = {}) {
  const finite = splits.filter((v) => v != null && Number.isFinite(v));
  const plus = (v) => (sign && v > 0 ? "+" : "");
  const max = Math.max(0, ...finite.map(Math.abs));
  const unit = UNITS.find(([size]) => max >= size * 10 || (size > 1e3 && max >= size));
  const step = finite.length > 1 ? Math.abs(finite[1] - finite[0]) : 0;
  if (!unit) return splits.map((v) => (v == null ? "" : plus(v) + (v < 0 ? MINUS : "") + axisSmall.format(Math.abs(v))));
  const [size, suffix] = unit;
  const decimals = step ? Math.max(0, Math.ceil(-Math.log10(step / size) - 1e-9)) : 1;
  return splits.map((v) => {
    if (v == null) return "";
    if (v === 0) return "0";
    const sign_ = plus(v) + (v < 0 ? MINUS : "");
    if (decimals > 3) return sign_ + grouped.format(Math.abs(v));
    return sign_ + (Math.abs(v) / size).toFixed(decimals) + suffix;
  });
}
