// Who is signed in, and the management API with their credential.
//
// Two ways in: a person's email and password (an access token that lives 15 minutes and a
// refresh token that gets a new pair shortly before it runs out), or a bearer token pasted as is
// (the admin token, or a named API token `sat_...`), which is sent until the server refuses it.
// Both are kept in session storage: for this browser tab only.
'use strict';

const SESSION_KEY = 'signal-edge.session';
// Refresh this long before the access token runs out.
const REFRESH_AHEAD_MS = 60 * 1000;

/** {access, refresh?, expires_at?} from session storage, or null. */
function session() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY)) || null; } catch (_) { return null; }
}

/** Keeps a login/refresh/invitation answer, or a bare bearer token. */
function keepSession(answer) {
  const s = typeof answer === 'string' ? {access: answer}
    : {access: answer.access_token, refresh: answer.refresh_token, expires_at: Date.now() + (answer.expires_in || 900) * 1000};
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  scheduleRefresh();
}

function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
  clearTimeout(refreshTimer);
  me = null;
}

// ---- Refreshing ----------------------------------------------------------------------------

let refreshTimer = null;
// The refresh under way: a refresh token is spent when used, and one presented twice ends all of
// the user's sessions, so two callers that need a new token share one request.
let refreshing = null;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const s = session();
  if (!s || !s.refresh) return;
  const wait = Math.max(0, s.expires_at - REFRESH_AHEAD_MS - Date.now());
  refreshTimer = setTimeout(() => { refreshSession(); }, wait);
}

/** Trades the refresh token for a new pair; true when it worked. */
function refreshSession() {
  if (refreshing) return refreshing;
  const s = session();
  if (!s || !s.refresh) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const res = await fetch('/v1/admin/auth/refresh', {method: 'POST', headers: {'content-type': 'application/json'},
        body: JSON.stringify({refresh_token: s.refresh})});
      if (!res.ok) return false;
      keepSession(await res.json());
      return true;
    } catch (_) {
      return false;
    } finally { refreshing = null; }
  })();
  return refreshing;
}

/** The bearer to send now: refreshed first when it is about to run out. */
async function bearer() {
  let s = session();
  if (s && s.refresh && s.expires_at - Date.now() < REFRESH_AHEAD_MS / 2) {
    await refreshSession();
    s = session();
  }
  return s ? s.access : '';
}

// ---- The API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('the server answered ' + status));
    this.status = status;
    this.code = e.code;
    this.fields = e.fields || {};
  }
}

/** One request; the answer's status and JSON body (null when there is none). */
async function send(method, path, body, auth) {
  const headers = {};
  if (auth !== null) headers.authorization = 'Bearer ' + auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch('/v1/admin' + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new ApiError(0, {error: {message: 'signal-edge did not answer (' + e.message + '). Is the node running?'}});
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  return {status: res.status, ok: res.ok, data};
}

/**
 * Calls the management API as the signed-in person or token. A 401 refreshes the session once
 * and tries again; when that does not help it signs out, unless `checking` a token at sign-in.
 */
async function api(method, path, body, checking = false) {
  const used = await bearer();
  let r = await send(method, path, body, used);
  // Another request may have refreshed the session meanwhile: then its new token is tried.
  if (r.status === 401 && !checking && (session()?.access !== used || await refreshSession())) {
    r = await send(method, path, body, await bearer());
  }
  if (r.status === 401 && !checking) signOut('Your session has ended. Sign in again.');
  if (!r.ok) throw new ApiError(r.status, r.data);
  return r.data;
}

/** A public route (sign-in, invitation): no credential is sent. */
async function publicApi(method, path, body) {
  const r = await send(method, path, body, null);
  if (!r.ok) throw new ApiError(r.status, r.data);
  return r.data;
}

/** Ends the session at the server too (its access tokens stop working at once). */
async function logout() {
  const s = session();
  forgetSession();
  if (s && s.refresh) {
    try { await send('POST', '/auth/logout', {refresh_token: s.refresh}, null); } catch (_) { /* signed out here anyway */ }
  }
}

// ---- Roles ---------------------------------------------------------------------------------

/** GET /auth/me: {actor, role, kind, user}, asked once per sign-in. */
let me = null;

async function whoAmI() {
  if (!me) me = await api('GET', '/auth/me');
  return me;
}

const ROLES = ['viewer', 'editor', 'admin', 'owner'];

/**
 * Whether the signed-in role reaches `role`: the lowest role of a route in
 * crates/server/src/admin/routes.rs. Controls for what the role may not do are not drawn.
 */
function can(role) { return !!me && ROLES.indexOf(me.role) >= ROLES.indexOf(role); }

/** Whether the signed-in role may give `role` to a user or token, or change one that has it. */
function mayManage(role) {
  if (!me) return false;
  if (me.role === 'owner') return true;
  return me.role === 'admin' && ROLES.indexOf(role) <= ROLES.indexOf('editor');
}

/** The roles the signed-in role may give, lowest first. */
function grantable() { return ROLES.filter(mayManage); }
