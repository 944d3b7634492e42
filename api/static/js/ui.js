// Small building blocks shared by the views: cards, badges, numbers that keep their exact
// value at hand (title and data-value), section errors.

import { h } from "./dom.js";
import { MISSING, ago, ageClass, compact, exact, pct, signed, trend, utc } from "./format.js";

export function card(title, attrs, ...children) {
  const { actions, ...rest } = attrs || {};
  return h(
    "section",
    { class: "card", ...rest },
    h("header", { class: "card-head" }, h("h2", {}, title), actions ? h("div", { class: "card-actions" }, actions) : null),
    ...children,
  );
}

/** A compact count whose exact value is in its tooltip and data-value attribute. */
export function count(n, attrs = {}) {
  return h(
    "span",
    { class: "num", title: n == null ? "no value" : exact(n), "data-value": n == null ? "" : String(n), ...attrs },
    compact(n),
  );
}

export function change(n, attrs = {}) {
  return h(
    "span",
    { class: `num ${trend(n)}`, title: n == null ? "no value" : exact(n), "data-value": n == null ? "" : String(n), ...attrs },
    signed(n),
  );
}

export function rate(r, { sign = false, attrs = {} } = {}) {
  return h(
    "span",
    { class: `num ${sign ? trend(r) : ""}`, "data-value": r == null ? "" : String(r), ...attrs },
    pct(r, { sign }),
  );
}

export function labelBadge(label) {
  if (!label) return null;
  return h("span", { class: `badge label-${label}` }, label === "competitor" ? "competitor" : "own");
}

export function platformBadge(platform) {
  return h("span", { class: `badge platform platform-${platform}` }, platform);
}

export function avatar(handle, platform) {
  const letter = (handle || "?").replace(/^@/, "").charAt(0).toUpperCase() || "?";
  return h("span", { class: `avatar platform-${platform}`, "aria-hidden": "true" }, letter);
}

/**
 * Freshness: the API's state (synced, pending, stale, …) when it gives one, else the age of
 * the latest observation ("observed 12 min ago", coloured by age). UTC time in the tooltip.
 */
export function observedChip(iso, freshness, attrs = {}) {
  const state = freshness && typeof freshness === "object" ? freshness.state : freshness;
  const when = iso ? ago(iso) : null;
  const cls = state ? `sync-${String(state).toLowerCase()}` : `age-${ageClass(iso)}`;
  let text;
  if (state) text = when ? `${state} · ${when}` : String(state);
  else text = iso ? `observed ${when}` : "not observed yet";
  return h(
    "span",
    { class: `chip ${cls}`, title: iso ? `latest observation ${utc(iso)}` : "never observed", "data-state": state || "", ...attrs },
    text,
  );
}

export function relTime(iso, attrs = {}) {
  return h("time", { datetime: iso || "", title: iso ? utc(iso) : "", ...attrs }, iso ? ago(iso) : MISSING);
}

export function sectionError(error) {
  return h("p", { class: "section-error", role: "status" }, `Could not load: ${error.message}`);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function segmented(options, current, onPick, attrs = {}) {
  const group = h("div", { class: "segmented", role: "group", ...attrs });
  for (const [value, text] of options) {
    const button = h("button", { type: "button", "data-value": value, "aria-pressed": String(value === current) }, text);
    button.addEventListener("click", () => {
      for (const b of group.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
      onPick(value);
    });
    group.append(button);
  }
  return group;
}
