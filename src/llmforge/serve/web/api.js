// The page's only way to the server: the same HTTP API as any client, with the signed-in user's
// access token. The tokens live in this module's variables only (never localStorage, sessionStorage
// or a cookie): nothing is sent by the browser on its own, so another site cannot make requests in
// the user's name (no CSRF), and a reload signs out.

const session = { access: null, refresh: null, timer: null, refreshing: null, me: null };
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function me() {
  return session.me;
}

export function can(permission) {
  return Boolean(session.me && session.me.permissions.includes(permission));
}

export async function signIn(username, password) {
  const response = await fetch("/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }),
    credentials: "omit", cache: "no-store",
  });
  if (!response.ok) throw await errorOf(response);
  adopt(await response.json());
  session.me = await call("GET", "/v1/auth/me");
  return session.me;
}

export async function signOut() {
  const token = session.refresh;
  forget();
  if (token) {
    await fetch("/v1/auth/logout", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
      credentials: "omit",
    }).catch(() => {});
  }
}

function forget() {
  clearTimeout(session.timer);
  Object.assign(session, { access: null, refresh: null, timer: null, refreshing: null, me: null });
}

// Keep the new pair and renew it before the access token expires (at 80% of its life).
function adopt(pair) {
  session.access = pair.access_token;
  session.refresh = pair.refresh_token;
  clearTimeout(session.timer);
  const seconds = Math.max(5, Number(pair.expires_in || 900) * 0.8);
  session.timer = setTimeout(() => renew().catch(() => {}), seconds * 1000);
}

// One renewal at a time: a refresh token is spent when used, and presenting it twice ends the session.
function renew() {
  if (!session.refreshing) {
    const token = session.refresh;
    session.refreshing = (async () => {
      const response = await fetch("/v1/auth/refresh", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
        credentials: "omit", cache: "no-store",
      });
      if (!response.ok) {
        forget();
        onSignedOut("session_ended");
        throw await errorOf(response);
      }
      adopt(await response.json());
    })().finally(() => { session.refreshing = null; });
  }
  return session.refreshing;
}

// fetch() with the access token; a 401 renews the token once and tries again.
export async function authorized(path, options = {}, retried = false) {
  if (!session.access) throw new ApiError(401, "AuthError", "not signed in");
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${session.access}` };
  const response = await fetch(path, { ...options, headers, credentials: "omit", cache: "no-store" });
  if (response.status === 401 && !retried && session.refresh) {
    await renew();
    return authorized(path, options, true);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

// A JSON route: `body` is sent as JSON, or as multipart when it is FormData.
export async function call(method, path, body) {
  const options = { method };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  const response = await authorized(path, options);
  return response.status === 204 ? null : response.json();
}

// Server-sent events of a POST (EventSource can only GET, without an Authorization header).
export async function stream(path, body, onEvent) {
  const response = await authorized(path, {
    method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart());
      if (data.length) onEvent(JSON.parse(data.join("\n")));
    }
  }
}

// A download through the API (the token cannot ride on a plain link): saved under the name the
// server gives in Content-Disposition.
export async function download(path, fallbackName) {
  const response = await authorized(path);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName(response.headers.get("Content-Disposition")) || fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function fileName(disposition) {
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition || "");
  if (encoded) {
    try { return decodeURIComponent(encoded[1]); } catch { /* fall through to the plain name */ }
  }
  const plain = /filename="([^"]+)"/i.exec(disposition || "");
  return plain ? plain[1] : "";
}

async function errorOf(response) {
  let type = "http_error", message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) ({ type, message } = body.error);
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(response.status, type, message);
}
