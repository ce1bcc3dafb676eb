// The public API, from the browser: the session cookie (same origin) authenticates, and
// every state-changing request carries the session's CSRF token. Errors of both dialects
// (FeedBackPro's meta.error, Pay4Feedback's error) become one ApiError.

let csrfToken = null;
let onUnauthorized = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** Called with the ApiError when a request the app makes while signed in answers 401. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export class ApiError extends Error {
  constructor(status, message, {code = null, details = [], retryAfter = null} = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
    this.retryAfter = retryAfter;
  }

  /** The message of the detail naming `field`, if any. */
  about(field) {
    const found = this.details.find((d) => d && d.field === field);
    return found ? found.message : null;
  }
}

function errorOf(status, payload, retryAfter) {
  let message = `HTTP ${status}`;
  let code = null;
  let details = [];
  if (payload && payload.meta && payload.meta.error) {
    ({message, code} = payload.meta.error);
    details = payload.meta.error.details || [];
  } else if (payload && typeof payload.error === 'string') {
    message = payload.error;
    code = payload.code || null;
    details = payload.details || [];
  } else if (payload && payload.error && typeof payload.error === 'object') {
    ({message, code} = payload.error);
    details = payload.error.details || [];
  }
  return new ApiError(status, message, {code, details, retryAfter});
}

/**
 * request('GET', '/v1/feedback', {query: {status: 'new'}}) → the parsed envelope (null for 204).
 * Options: body (sent as JSON), query (null and undefined left out), quiet401 (do not call the
 * unauthorized handler: sign-in and the first session check), headers (more to send, e.g.
 * X-Confirm).
 */
function urlOf(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  return url;
}

export async function request(method, path, {body, query, quiet401 = false, signal,
                                             headers: extra = {}} = {}) {
  const url = urlOf(path, query);
  const headers = {...extra, Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(url, {
      method, headers, signal, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network');
  }
  if (response.status === 204) return null;
  return payloadOf(response, quiet401);
}

/** The JSON of an answer; an ApiError (and the 401 handler, unless quiet) when it failed. */
async function payloadOf(response, quiet401 = false) {
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    const error = errorOf(response.status, payload, Number.isFinite(retry) ? retry : null);
    if (response.status === 401 && !quiet401 && onUnauthorized) onUnauthorized(error);
    throw error;
  }
  return payload;
}

/**
 * A list fetched again only when it changed: with the ETag of the answer before (If-None-Match),
 * the API answers 304 and nothing more. → {changed: false} or {changed: true, payload, etag}.
 */
export async function getIfChanged(path, etag, {query} = {}) {
  const url = urlOf(path, query);
  const headers = {Accept: 'application/json', ...(etag ? {'If-None-Match': etag} : {})};
  let response;
  try {
    response = await fetch(url, {headers, credentials: 'same-origin', cache: 'no-store'});
  } catch {
    throw new ApiError(0, 'network');
  }
  if (response.status === 304) return {changed: false};
  return {changed: true, payload: await payloadOf(response), etag: response.headers.get('ETag')};
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, body, options) => request('POST', path, {...options, body});
export const patch = (path, body, options) => request('PATCH', path, {...options, body});
export const del = (path, options) => request('DELETE', path, options);

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Like request, but waits out a 429 (Retry-After, at most `maxWait` seconds each time)
 * and tries again: bulk actions send one request per entry under the tenant's write limit.
 */
export async function patiently(method, path, options = {}, {maxWait = 65, onWait} = {}) {
  for (;;) {
    try {
      return await request(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 429) throw error;
      const seconds = Math.min(Math.max(error.retryAfter ?? 1, 1), maxWait);
      if (onWait) onWait(seconds);
      await sleep(seconds * 1000);
    }
  }
}

// --- the calls the app makes ------------------------------------------------------------

const data = (envelope) => (envelope ? envelope.data : null);

// Sign-in, invitation and the current session answer the session body in the FeedBackPro
// envelope: {data: {user, csrf_token, expires_at, idle_expires_at}}.
export const session = {
  current: async () => data(await get('/v1/session', {quiet401: true})),
  signIn: async (email, password) => data(await post('/v1/sessions', {email, password},
    {quiet401: true})),
  signOut: () => del('/v1/session', {quiet401: true}),
  list: () => get('/v1/sessions'),
  revoke: (id) => del(`/v1/sessions/${encodeURIComponent(id)}`),
  acceptInvitation: async (token, password, name) => data(await post(
    '/v1/invitations/accept', name ? {token, password, name} : {token, password},
    {quiet401: true})),
  requestReset: (email) => post('/v1/password-resets', {email}, {quiet401: true}),
  completeReset: (token, password) => post('/v1/password-resets/complete', {token, password},
    {quiet401: true}),
};

export const entryPath = (id) => `/v1/feedback/${encodeURIComponent(id)}`;
export const responsePath = (id) => `/api/v1/responses/${encodeURIComponent(id)}`;

/** Every page of a FeedBackPro list (limit 200), up to `max` rows. */
export async function everyRow(path, max = 1000) {
  const rows = [];
  for (let page = 1; rows.length < max; page += 1) {
    const answer = await get(path, {query: {limit: 200, page}});
    rows.push(...answer.data);
    if (!answer.links || !answer.links.next || answer.data.length === 0) break;
  }
  return rows;
}
