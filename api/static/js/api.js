// The read API, called with the bearer token the person pasted. Paths resolve against the
// page's own URL (…/dashboard/ -> …/v1/), so the page also works behind a path prefix.

const TOKEN_KEY = "socialpulse.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  const clean = token.trim().replace(/^bearer\s+/i, "");
  if (clean) localStorage.setItem(TOKEN_KEY, clean);
  else localStorage.removeItem(TOKEN_KEY);
  return clean;
}

/** The token's claims, decoded for display only (the API is what verifies it). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    return JSON.parse(atob(padded));
  } catch {
    return null;
  }
}

function url(path, params) {
  const u = new URL("../v1" + path, document.baseURI);
  for (const [key, value] of Object.entries(params || {})) {
    if (value != null && value !== "") u.searchParams.set(key, String(value));
  }
  return u;
}

export async function get(path, params) {
  const token = getToken();
  if (!token) throw new ApiError(401, "unauthorized", "no token: paste one above");
  let response;
  try {
    response = await fetch(url(path, params), {
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    });
  } catch (err) {
    throw new ApiError(0, "unreachable", `the API did not answer (${err.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // an answer without JSON (a proxy's error page): reported below by status
  }
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiError(
      response.status,
      error.code || "http_error",
      error.message || `HTTP ${response.status}`,
    );
  }
  return body;
}

export const accountPath = (platform, accountId) =>
  `/accounts/${encodeURIComponent(platform)}/${encodeURIComponent(accountId)}`;

/** Run ``tasks`` (functions returning promises) at most ``limit`` at a time. */
export async function pool(tasks, limit = 4) {
  const results = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await tasks[i]() };
      } catch (error) {
        results[i] = { ok: false, error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
