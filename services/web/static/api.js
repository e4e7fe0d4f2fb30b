// The JSON API client: same-origin fetch with the session cookie, the CSRF header on
// state-changing requests, error bodies turned into ApiError, and the login form on 401.

const SESSION_PATH = "/api/v1/session";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

let csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
let loginShown = false;

/** An API failure: HTTP status (0 when the server could not be reached), code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function setCsrfToken(token) {
  csrfToken = token || "";
}

async function errorFrom(response) {
  let code = response.statusText || `HTTP ${response.status}`;
  let message = `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON (a proxy's error page, say): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

async function send(method, path, headers, body, signal) {
  try {
    return await fetch(path, {
      method,
      headers,
      body,
      signal,
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "UNAVAILABLE", "Cannot reach the server. Check the connection and try again.");
  }
}

/** The CSRF token from the page, or else from the session. */
async function currentCsrfToken() {
  if (!csrfToken) await refreshSession();
  return csrfToken;
}

/** GET /api/v1/session; remembers its csrf_token. Returns the session or null when signed out. */
export async function refreshSession() {
  const response = await send("GET", SESSION_PATH, { Accept: "application/json" });
  if (response.status === 401) return null;
  if (!response.ok) throw await errorFrom(response);
  const session = await response.json();
  setCsrfToken(session.csrf_token);
  return session;
}

/**
 * Calls the API. options: method (GET), json (a body to send as JSON), form (a FormData),
 * signal, login (false: do not show the login form on 401). Resolves with the parsed JSON
 * (null for 204); rejects with ApiError.
 */
export async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const headers = { Accept: "application/json" };
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form;
  }
  const needsCsrf = UNSAFE.has(method) && !(method === "POST" && path === SESSION_PATH);
  if (needsCsrf) headers["X-CSRF-Token"] = await currentCsrfToken();

  let response = await send(method, path, headers, body, options.signal);
  if (response.status === 403 && needsCsrf) {
    // The token may be stale (a new session in another tab): fetch it again and retry once.
    const sent = headers["X-CSRF-Token"];
    const session = await refreshSession().catch(() => null);
    if (session && session.csrf_token && session.csrf_token !== sent) {
      headers["X-CSRF-Token"] = session.csrf_token;
      response = await send(method, path, headers, body, options.signal);
    }
  }
  if (response.status === 401 && options.login !== false) showLogin();
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** Shows the sign-in form in a modal dialog (the session has ended or never began). */
export async function showLogin() {
  if (loginShown) return;
  loginShown = true;
  const { buildLoginDialog } = await import("./login.js");
  const dialog = buildLoginDialog();
  document.body.append(dialog);
  dialog.addEventListener("close", () => {
    loginShown = false;
    dialog.remove();
  });
  dialog.showModal();
}
