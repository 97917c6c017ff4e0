// The studio's one way to the server: the editor key from this tab's session, the one error shape.
const KEY = "huashu.studio.key";

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
};

let onSignedOut = () => {};
export function whenSignedOut(callback) { onSignedOut = callback; }

/** Calls the API; answers the parsed JSON (or the Response for `raw`), throws ApiError. */
export async function api(method, path, { body, query, raw = false, contentType, key = session.key } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${key}` };
  let payload = body;
  if (body instanceof FormData) {
    // The browser writes the multipart Content-Type itself, with the boundary.
  } else if (body !== undefined && contentType === undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload });
  } catch (error) {
    throw new ApiError(0, "network", `连不上服务器：${error.message}`);
  }
  if (response.ok) {
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
  let error = { code: "http_" + response.status, message: response.statusText };
  try { error = (await response.json()).error || error; } catch { /* not our shape */ }
  if (response.status === 401 && key === session.key) {
    session.key = null;
    onSignedOut("密钥无效或已被吊销，请重新登录。");
  }
  throw new ApiError(response.status, error.code, error.message, error.detail);
}

/** Like api(), but answers null for a route this server does not have yet (404 not_found). */
export async function optional(method, path, options) {
  try {
    return await api(method, path, options);
  } catch (error) {
    if (error.status === 404 || error.status === 405) return null;
    throw error;
  }
}
