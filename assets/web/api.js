// Talking to castd's API: HTTP Basic on every call, form-encoded bodies, and the API's own
// error messages turned into exceptions a person can read.

const KEY = 'castd.credentials';

/** The API's answer when it is not a success: `status`, `code` and `message` from its body. */
export class ApiError extends Error {
  constructor(status, code, message, params) {
    super(message);
    this.status = status;
    this.code = code;
    this.params = params || {};
  }
}

// Basic auth is `user:password` in base64 of its UTF-8 bytes (btoa alone only takes Latin-1).
function basic(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return 'Basic ' + btoa(binary);
}

let credentials = null;
try {
  credentials = JSON.parse(sessionStorage.getItem(KEY));
} catch {
  credentials = null;
}

/** Who is logged in (`{username, authorization}`), or null. */
export function session() {
  return credentials;
}

export function forget() {
  credentials = null;
  sessionStorage.removeItem(KEY);
}

/** Checks the credentials against the API and keeps them for this browser tab. */
export async function login(username, password) {
  const authorization = basic(username, password);
  const user = await call('GET', '/users/current', null, authorization);
  credentials = { username: user.username, roles: user.roles, authorization };
  sessionStorage.setItem(KEY, JSON.stringify(credentials));
  return user;
}

/** Called when the API no longer accepts the credentials (set by the page). */
export let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/** Raw fetch of an API path with the credentials; the caller reads the body. */
export async function fetchApi(path, init = {}) {
  const headers = new Headers(init.headers || {});
  if (credentials) headers.set('Authorization', credentials.authorization);
  // `omit`: the browser adds nothing of its own and, answered 401, shows no login dialog.
  const response = await fetch('/api/1' + path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = (body && body.message) || `${response.status} ${response.statusText}`;
  const error = new ApiError(response.status, body && body.code, message, body && body.params);
  if (response.status === 401 && credentials) onUnauthorized(error);
  return error;
}

/**
 * Calls the API and returns its JSON (null for 204). `form` is an object whose values are
 * sent form-encoded, objects and arrays as JSON.
 */
export async function call(method, path, form = null, authorization = null) {
  const headers = { Accept: 'application/json' };
  if (authorization) headers.Authorization = authorization;
  else if (credentials) headers.Authorization = credentials.authorization;
  let body;
  if (form) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(form)) {
      params.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
    }
    body = params;
  }
  const response = await fetch('/api/1' + path, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => call('GET', path);
export const post = (path, form) => call('POST', path, form || {});
