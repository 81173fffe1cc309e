// The API under /api/v1, asked with the bearer token the operator pasted
// (kept in sessionStorage: gone when the tab closes).

const KEY = 'portreeve.token';

/** The token signed in with, if any. */
export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(secret) {
  sessionStorage.setItem(KEY, secret);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** A failed request: `status` 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET `path` (under /api/v1) as JSON. */
export async function get(path, secret = token()) {
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      headers: { Authorization: `Bearer ${secret}`, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach the server: ${e.message}`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, body?.error?.message ?? `HTTP ${response.status}`);
  }
  return body;
}

/** GET `path`, or `null` when this server does not serve it (404). */
export async function getIfServed(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}
