// The console's only way to the hub: GET and POST on /api (hub/console/API.md).
// The session cookie is HttpOnly (JS never sees it); the CSRF token lives in
// this module's variable only (never in localStorage, sessionStorage or a
// cookie) and comes back from GET /api/session after a reload.

let csrf = "";
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Called with no argument when the hub answers 401 (no or expired session).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function hasSession() {
  return csrf !== "";
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrf;
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `the hub did not answer (${e.message})`);
  }
  const text = await res.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!res.ok) {
    const message = (doc && typeof doc.error === "string" && doc.error) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && path !== "/api/login") {
      csrf = "";
      onUnauthorized();
    }
    throw new ApiError(res.status, message);
  }
  return doc;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);

// Asks the hub whether the cookie still holds a session; true and the CSRF
// token kept when it does.
export async function resumeSession() {
  try {
    const doc = await request("GET", "/api/session");
    csrf = doc.csrf || "";
    return csrf !== "";
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

export async function login(token) {
  const doc = await request("POST", "/api/login", { token });
  csrf = doc.csrf || "";
}

export async function logout() {
  try {
    await request("POST", "/api/logout", {});
  } finally {
    csrf = "";
  }
}
