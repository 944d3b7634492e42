// Building DOM nodes. Text always goes in as text (never innerHTML), so nothing an account
// handle or post URL contains can run as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = value;
    // CSSOM, not a style attribute, so the page's Content-Security-Policy allows it.
    else if (key === "style") el.style.cssText = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** h("div", {class: "card"}, "text", h("span", {}, "child")) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** A link only for http(s) URLs; anything else (javascript:, data:) stays plain text. */
export function safeLink(url, text, attrs = {}) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") {
      return h("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer", ...attrs }, text);
    }
  } catch {
    // not a URL: fall through to plain text
  }
  return h("span", attrs, text);
}
