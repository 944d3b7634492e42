// Boot: token, theme, hash routing (#/ and #/account/{platform}/{account_id}), refresh.

import { renderAccount } from "./account.js";
import { renderAccounts } from "./accounts.js";
import { ApiError, claims, getToken, setToken } from "./api.js";
import { disposeCharts } from "./charts.js";
import { h } from "./dom.js";
import { ago } from "./format.js";

const THEME_KEY = "socialpulse.theme";
const THEMES = ["auto", "light", "dark"];
const REFRESH_MS = 60_000;

const view = document.getElementById("view");
const banner = document.getElementById("banner");
const tokenInput = document.getElementById("token");
const tokenState = document.getElementById("token-state");
let rendering = 0;

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "account" && parts.length === 3) return { name: "account", platform: parts[1], accountId: parts[2] };
  return { name: "accounts" };
}

function showBanner(message, kind = "error") {
  banner.className = `banner ${kind}`;
  banner.textContent = message;
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
}

function describeToken() {
  const token = getToken();
  tokenInput.value = token;
  tokenState.title = "";
  if (!token) {
    tokenState.textContent = "no token";
    tokenState.className = "token-state missing";
    return;
  }
  const c = claims(token);
  if (!c) {
    tokenState.textContent = "not a JWT";
    tokenState.className = "token-state bad";
    return;
  }
  const expires = typeof c.exp === "number" ? new Date(c.exp * 1000).toISOString() : null;
  const expired = expires && Date.parse(expires) < Date.now();
  tokenState.textContent = `${c.workspace ?? "?"} · ${c.role ?? "?"} · ${expired ? "expired" : `expires ${ago(expires)}`}`;
  tokenState.title = `subject ${c.sub ?? "?"}; the API checks the signature`;
  tokenState.className = `token-state ${expired ? "bad" : "ok"}`;
}

function askForToken() {
  disposeCharts();
  view.replaceChildren(
    h(
      "div",
      { class: "card notice", "data-testid": "token-needed" },
      h("h1", {}, "Paste an API token to start"),
      h("p", {}, "The dashboard reads the /v1 API with a bearer token (a JWT) and shows what that token's workspace may see. The token stays in this browser (localStorage)."),
      h("p", { class: "muted" }, "For development: ", h("code", {}, "socialpulse token --workspace demo --role analyst"), ", or the demo token that ", h("code", {}, "socialpulse run"), " prints."),
    ),
  );
  tokenInput.focus();
}

async function render({ quiet = false } = {}) {
  const ticket = ++rendering;
  if (!getToken()) return askForToken();
  if (!quiet) {
    disposeCharts();
    view.replaceChildren(h("div", { class: "loading", "aria-busy": "true" }, "Loading…"));
  }
  const r = route();
  try {
    const page = r.name === "account" ? await renderAccount(r.platform, r.accountId) : await renderAccounts();
    if (ticket !== rendering) return; // a newer navigation won
    const scroll = window.scrollY;
    disposeCharts();
    view.replaceChildren(page.el);
    if (page.after) page.after();
    if (quiet) window.scrollTo(0, scroll);
    else window.scrollTo(0, 0);
    hideBanner();
    document.title = r.name === "account" ? `${page.el.querySelector("h1")?.textContent ?? r.accountId} · socialpulse` : "Accounts · socialpulse";
  } catch (error) {
    if (ticket !== rendering) return;
    if (error instanceof ApiError && error.status === 401) {
      showBanner(`The API refused the token: ${error.message}. Paste a valid token above.`);
      tokenInput.focus();
      if (!quiet) askForToken();
    } else if (!quiet) {
      showBanner(error.message || String(error));
      view.replaceChildren(h("div", { class: "card notice" }, h("h1", {}, "Something went wrong"), h("p", {}, error.message || String(error))));
    }
  }
}

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme");
  button.textContent = { auto: "◐ Auto", light: "☀ Light", dark: "☾ Dark" }[theme];
  button.title = "Colour theme (auto follows the system)";
}

function boot() {
  // A link may carry the token in its fragment (#token=…): the fragment never reaches a server.
  const fromLink = /^#token=(.+)$/.exec(location.hash);
  if (fromLink) {
    setToken(decodeURIComponent(fromLink[1]));
    history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  }
  describeToken();
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(tokenInput.value);
    describeToken();
    hideBanner();
    render();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    setToken("");
    describeToken();
    render();
  });
  document.getElementById("token-show").addEventListener("click", (event) => {
    const shown = tokenInput.type === "text";
    tokenInput.type = shown ? "password" : "text";
    event.currentTarget.setAttribute("aria-pressed", String(!shown));
  });
  let theme = localStorage.getItem(THEME_KEY) || "auto";
  applyTheme(theme);
  document.getElementById("theme").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    localStorage.setItem(THEME_KEY, theme);
    applyTheme(theme);
    render({ quiet: true }); // charts take their colours when drawn
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => render({ quiet: true }));
  document.getElementById("refresh").addEventListener("click", () => render({ quiet: true }));
  window.addEventListener("hashchange", () => render());
  setInterval(() => {
    // Not while someone types in a field: the rebuilt view would take the focus away.
    const typing = document.activeElement && document.activeElement.matches("input");
    if (document.visibilityState === "visible" && getToken() && !typing) render({ quiet: true });
  }, REFRESH_MS);
  render();
}

boot();
