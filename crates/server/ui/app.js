// signal-edge management UI: one file, no build step, no dependencies. It talks only to the
// management API (/v1/admin) with the admin token kept in session storage. Everything that came
// from outside (event names, properties, vendor answers) is put in the page as text, never as HTML.
'use strict';

const TOKEN_KEY = 'signal-edge.admin-token';
const app = document.getElementById('app');

// ---- DOM ------------------------------------------------------------------------------------

/** Makes an element: h('a', {href: '#/x', class: 'button'}, 'text', child, [more]). */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

function badge(text, kind) { return h('span', {class: 'badge ' + (kind || text)}, text); }

function pretty(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (_) { return value; }
  }
  return JSON.stringify(value, null, 2);
}

/** A field label from a config key: api_key -> API Key. */
function label(key) {
  return key.split('_').map((w) => (w === 'api' || w === 'id' || w === 'url') ? w.toUpperCase()
    : w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

function time(at) {
  const d = new Date(at);
  return isNaN(d) ? String(at || '') : d.toLocaleTimeString([], {hour12: false}) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function notice(kind, title, text) {
  return h('div', {class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status'}, title ? h('strong', {}, title) : null, text);
}

function empty(text, action) { return h('div', {class: 'empty'}, h('p', {}, text), action); }

function table(head, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

// ---- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('the server answered ' + status));
    this.status = status;
    this.code = e.code;
    this.fields = e.fields || {};
  }
}

/** Calls the management API; a 401 signs out, unless `checking` a token at sign-in. */
async function api(method, path, body, checking = false) {
  const headers = {authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '')};
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
  if (res.status === 401 && !checking) {
    signOut('The admin token was not accepted any more. Sign in again.');
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---- Routing --------------------------------------------------------------------------------

// What the current page started (timers, streams) and must stop when the page changes.
let cleanups = [];
function onLeave(fn) { cleanups.push(fn); }
// A message to show once on the next page (after an install, a delete).
let flash = null;

function go(hash) { if (location.hash === hash) render(); else location.hash = hash; }

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  flash = message ? {kind: 'warn', text: message} : null;
  go('#/signin');
}

async function render() {
  for (const fn of cleanups.splice(0)) { try { fn(); } catch (_) { /* already stopped */ } }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (!sessionStorage.getItem(TOKEN_KEY)) return signIn();
  if (parts[0] === 'signin') return go('#/integrations/library');
  const main = shell(['live', 'sources', 'audit'].includes(parts[0]) ? parts[0] : 'integrations');
  if (flash) { main.append(notice(flash.kind, null, flash.text)); flash = null; }
  try {
    if (parts[0] === 'catalog' && parts[1] && parts[2] === 'install') await installPage(main, parts[1]);
    else if (parts[0] === 'catalog' && parts[1]) await blueprintPage(main, parts[1]);
    else if (parts[0] === 'integration' && parts[1]) await integrationPage(main, parts[1], parts[2] || 'overview');
    else if (parts[0] === 'live') await livePage(main, parts[1]);
    else if (parts[0] === 'sources') await sourcesPage(main);
    else if (parts[0] === 'audit') await auditPage(main);
    else if (parts[0] === 'integrations' && parts[1] === 'mine') await minePage(main);
    else await libraryPage(main);
  } catch (e) {
    main.append(notice('error', 'This page could not be loaded', e.message));
  }
}

window.addEventListener('hashchange', render);
window.addEventListener('DOMContentLoaded', render);

// ---- Sign in and the shell ------------------------------------------------------------------

function signIn() {
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-help'});
  const error = h('p', {id: 'token-error', class: 'field-error', hidden: true});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {class: 'panel', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    error.hidden = true;
    input.removeAttribute('aria-invalid');
    if (!input.value.trim()) return fail('Enter the admin token.');
    button.disabled = true;
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api('GET', '/integrations?limit=1', undefined, true);
      go(location.hash && !location.hash.startsWith('#/signin') ? location.hash : '#/integrations/library');
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      fail(err.status === 401 ? 'signal-edge did not accept this token.' : err.message);
    } finally { button.disabled = false; }
  }},
  h('h1', {}, 'signal-edge'),
  h('p', {class: 'sub'}, 'Sign in to manage integrations and watch live events.'),
  flash ? notice(flash.kind, null, flash.text) : null,
  h('div', {class: 'field'}, h('label', {for: 'token'}, 'Admin token'), input,
    h('p', {id: 'token-help', class: 'help'}, 'The value of SIGNAL_ADMIN_TOKEN, or the token signal-edge printed on its first start (saved as admin-token in its data directory). It is kept for this browser tab only.'),
    error),
  h('div', {class: 'actions'}, button));
  flash = null;
  function fail(text) {
    error.textContent = text;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', 'token-error token-help');
    input.focus();
  }
  clear(app).append(h('div', {class: 'signin'}, form));
  input.focus();
}

function shell(section) {
  const link = (href, text, key) => h('li', {}, h('a', {href, 'aria-current': section === key ? 'page' : null}, text));
  const main = h('main', {id: 'main', tabindex: '-1'});
  clear(app).append(h('div', {class: 'shell'},
    h('aside', {class: 'side'},
      h('div', {class: 'brand'}, 'signal-edge', h('small', {}, 'edge node management')),
      h('nav', {'aria-label': 'Main'}, h('ul', {},
        link('#/integrations/library', 'Integrations', 'integrations'),
        link('#/live', 'Live Events', 'live'),
        link('#/sources', 'Sources', 'sources'),
        link('#/audit', 'Audit log', 'audit'))),
      h('div', {class: 'spacer'}),
      h('button', {type: 'button', onclick: () => signOut()}, 'Sign out')),
    main));
  return main;
}

function pageHead(title, sub, ...actions) {
  return h('div', {class: 'page-head'}, h('div', {}, h('h1', {}, title), sub ? h('p', {class: 'sub'}, sub) : null),
    actions.length ? h('div', {class: 'actions'}, actions) : null);
}

function tabs(label, items, current) {
  return h('nav', {class: 'tabs', 'aria-label': label},
    items.map(([key, text, href]) => h('a', {href, 'aria-current': key === current ? 'page' : null}, text)));
}

function integrationsHead(current) {
  return [pageHead('Integrations', 'Send events on to the vendors your teams use, server to server.'),
    tabs('Integrations', [['library', 'Integration Library', '#/integrations/library'], ['mine', 'My Integrations', '#/integrations/mine']], current)];
}

// ---- Integration Library --------------------------------------------------------------------

async function libraryPage(main) {
  const all = (await api('GET', '/integration-catalog?limit=100')).data;
  const categories = [...new Set(['Analytics', ...all.map((b) => b.category)])].sort();
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const search = h('input', {id: 'library-search', type: 'search', placeholder: 'Search by name or description', value: params.get('q') || ''});
  const category = h('select', {id: 'library-category'},
    h('option', {value: ''}, 'All categories'), categories.map((c) => h('option', {value: c}, c)));
  const results = h('div', {'aria-live': 'polite'});
  main.append(...integrationsHead('library'),
    h('div', {class: 'toolbar', role: 'search'},
      h('div', {class: 'grow'}, h('label', {for: 'library-search'}, 'Search'), search),
      h('div', {}, h('label', {for: 'library-category'}, 'Category'), category)),
    results);
  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const q = new URLSearchParams();
    if (search.value.trim()) q.set('q', search.value.trim());
    if (category.value) q.set('category', category.value);
    q.set('limit', '100');
    let list;
    try { list = (await api('GET', '/integration-catalog?' + q)).data; } catch (e) {
      clear(results).append(notice('error', 'The library could not be loaded', e.message));
      return;
    }
    if (mine !== seq) return;
    clear(results);
    if (!list.length) {
      results.append(empty('No integration matches these filters.',
        h('button', {type: 'button', onclick: () => { search.value = ''; category.value = ''; refresh(); }}, 'Clear filters')));
      return;
    }
    results.append(h('p', {class: 'sub'}, list.length === 1 ? '1 integration' : list.length + ' integrations'),
      h('div', {class: 'cards'}, list.map(card)));
  }
  let timer = null;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(refresh, 150); });
  category.addEventListener('change', refresh);
  onLeave(() => clearTimeout(timer));
  await refresh();
}

function card(bp) {
  return h('article', {class: 'card', 'data-key': bp.key, 'aria-labelledby': 'card-' + bp.key},
    h('div', {class: 'title'}, h('span', {class: 'logo', 'aria-hidden': 'true'}, bp.name.charAt(0)),
      h('h3', {id: 'card-' + bp.key}, bp.name), bp.status ? badge(bp.status, bp.status) : null),
    h('div', {class: 'meta'}, h('span', {class: 'category'}, bp.category), ' · ', h('span', {class: 'version'}, 'v' + bp.version)),
    h('p', {class: 'desc'}, bp.description),
    h('div', {class: 'actions'},
      h('a', {class: 'button primary', href: '#/catalog/' + encodeURIComponent(bp.key) + '/install', 'aria-label': 'Install ' + bp.name}, 'Install'),
      h('a', {class: 'button', href: '#/catalog/' + encodeURIComponent(bp.key)}, 'Details')));
}

// ---- Blueprint detail -----------------------------------------------------------------------

async function blueprintPage(main, key) {
  const bp = await api('GET', '/integration-catalog/' + encodeURIComponent(key));
  main.append(h('div', {class: 'crumbs'}, h('a', {href: '#/integrations/library'}, '← Integration Library')),
    pageHead(bp.name, bp.category + ' · v' + bp.version + (bp.consent_category ? ' · consent category: ' + bp.consent_category : ''),
      bp.status ? badge(bp.status, bp.status) : null,
      h('a', {class: 'button primary', href: '#/catalog/' + encodeURIComponent(bp.key) + '/install'}, 'Install')),
    h('p', {}, bp.description));
  for (const v of bp.variants) main.append(notice('info', 'Variant: ' + v.name, v.description));
  main.append(h('h2', {}, 'Configuration'),
    table(['Field', 'Required', 'Type', 'Default', 'Description'], bp.config_fields.map((f) => [
      h('code', {}, f.key), f.required ? 'yes' : 'no', f.enum ? f.enum.join(' | ') : f.type,
      f.default === undefined ? '' : h('code', {}, JSON.stringify(f.default)), f.description])));
  for (const m of bp.event_mapping || []) {
    main.append(h('h2', {id: 'event-mapping'}, 'Event mapping', bp.event_mapping.length > 1 ? ' (' + m.variant + ')' : ''),
      table(['Datafly event', 'Type', bp.name + ' event', 'Notes'], m.rows.map((r) => [
        [h('code', {}, r.datafly_event), (r.aliases || []).length ? h('div', {class: 'help'}, 'also: ' + r.aliases.join(', ')) : null],
        r.type, r.vendor_event, r.notes || ''])));
  }
  main.append(h('h2', {id: 'identity'}, 'Identity'),
    table(['Datafly field', bp.name + ' field', 'Notes'], (bp.identity || []).map((r) => [h('code', {}, r.source), h('code', {}, r.target), r.notes || ''])),
    h('h2', {}, 'Troubleshooting'),
    table(['Symptom', 'Cause', 'Fix'], (bp.troubleshooting || []).map((t) => [t.symptom, t.cause, t.fix])));
}

// ---- Forms generated from config_fields ------------------------------------------------------

/**
 * The inputs of a blueprint's config_fields. `current` is an installed integration's config
 * (edit mode: secrets are left empty and kept unless typed). Returns {nodes, read, showErrors}.
 */
function configInputs(fields, current) {
  const controls = new Map();
  const errors = new Map();
  function one(f) {
    const id = 'f-config-' + f.key;
    const helpId = id + '-help';
    const errId = 'err-config-' + f.key;
    const value = current ? current[f.key] : undefined;
    let input;
    if (f.enum) {
      input = h('select', {id, name: f.key},
        f.enum.map((v) => h('option', {value: v}, v + (v === f.default ? ' (default)' : ''))));
      input.value = value !== undefined ? value : (f.default !== undefined ? f.default : f.enum[0]);
    } else if (f.type === 'boolean') {
      input = h('input', {id, name: f.key, type: 'checkbox', checked: value !== undefined ? value : !!f.default});
    } else if (f.type === 'integer' || f.type === 'number') {
      input = h('input', {id, name: f.key, type: 'number', inputmode: 'numeric', min: f.minimum,
        value: value !== undefined ? value : (f.default !== undefined ? f.default : '')});
    } else if (f.type === 'object') {
      input = h('textarea', {id, name: f.key, spellcheck: 'false', rows: f.privacy ? 4 : null,
        placeholder: f.privacy ? PRIVACY_EXAMPLE : f.key === 'event_mapping' ? '{"Signed Up": "trial_started"}' : '{}'});
      input.value = value !== undefined && value !== null ? JSON.stringify(value, null, 2) : '';
    } else {
      const secret = !!f.secret;
      input = h('input', {id, name: f.key, type: secret ? 'password' : 'text', autocomplete: 'off', spellcheck: 'false',
        placeholder: secret && current && value ? 'unchanged (' + value + '); type a new value to replace it' : null,
        value: !secret && value !== undefined ? value : ''});
    }
    input.setAttribute('aria-describedby', helpId);
    if (f.required) input.setAttribute('aria-required', 'true');
    const err = h('p', {id: errId, class: 'field-error', hidden: true});
    controls.set(f.key, {f, input});
    errors.set('config.' + f.key, {input, err, helpId});
    const title = [label(f.key), f.required ? h('span', {class: 'req', 'aria-hidden': 'true'}, '*') : null];
    return h('div', {class: 'field', 'data-field': f.key},
      f.type === 'boolean' ? h('label', {class: 'check', for: id}, input, title) : [h('label', {for: id}, title), input],
      h('p', {id: helpId, class: 'help'}, h('code', {}, f.key), ' · ', f.description), f.privacy ? privacyHelp() : null, err);
  }
  // Privacy rules are always among the advanced settings.
  const isAdvanced = (f) => f.advanced || f.privacy;
  const basic = fields.filter((f) => !isAdvanced(f)).map(one);
  const advanced = fields.filter(isAdvanced);
  const folded = advanced.length ? h('details', {class: 'advanced'},
    h('summary', {}, 'Advanced settings (' + advanced.length + ', optional)'), advanced.map(one)) : null;

  /** The config object to send, or null with errors shown when a field cannot be read. */
  function read() {
    const out = {};
    const bad = {};
    for (const [key, {f, input}] of controls) {
      if (f.type === 'boolean') out[key] = input.checked;
      else if (f.type === 'object') {
        const t = input.value.trim();
        if (!t) { if (current && current[key] !== undefined) out[key] = null; continue; }
        try { out[key] = JSON.parse(t); } catch (e) { bad['config.' + key] = 'must be a JSON object: ' + e.message; }
      } else if (f.type === 'integer' || f.type === 'number') {
        const t = input.value.trim();
        if (!t) continue;
        out[key] = Number.isFinite(Number(t)) ? Number(t) : t;
      } else {
        const t = input.value.trim();
        if (!t && (f.secret && current)) continue; // keep the stored secret
        if (!t && !f.enum) continue; // absent: the server says whether it is required
        out[key] = t;
      }
    }
    if (Object.keys(bad).length) { show(bad); return null; }
    return out;
  }

  /** Shows field errors ({"config.x": "is required"}) beside their fields; returns the rest. */
  function show(fieldErrors) {
    const rest = {};
    let first = null;
    for (const [key, {input, err, helpId}] of errors) {
      const msg = fieldErrors[key];
      err.hidden = !msg;
      err.textContent = msg ? label(key.slice(7)) + ' ' + msg : '';
      if (msg) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', err.id + ' ' + helpId);
        if (folded && folded.contains(input)) folded.open = true;
        first = first || input;
      } else {
        input.removeAttribute('aria-invalid');
        input.setAttribute('aria-describedby', helpId);
      }
    }
    for (const [k, v] of Object.entries(fieldErrors)) if (!errors.has(k)) rest[k] = v;
    if (first) first.focus();
    return {rest, focused: !!first};
  }
  return {nodes: [basic, folded], read, show};
}

/** An example of a privacy field's value. */
const PRIVACY_EXAMPLE = '{"hash": ["traits.email", "context.traits.email"], "remove": ["context.ip"]}';

/** What a privacy field (a config field with privacy: true) holds, for people. */
function privacyHelp() {
  return h('div', {class: 'help privacy-help'},
    h('p', {}, 'Privacy rules, applied while the request is written (nothing is sent before they are): a JSON object with two lists of event paths, both optional.'),
    h('ul', {},
      h('li', {}, h('code', {}, '"hash"'), ': each value is sent as the lowercase hex SHA-256 of its text (an identity too: hashing ', h('code', {}, 'userId'), ' hashes the user id the vendor gets).'),
      h('li', {}, h('code', {}, '"remove"'), ': each path, and everything under it, is left out of the request.')),
    h('p', {}, 'Paths name the event exactly (', h('code', {}, 'traits.email'), ' does not cover ', h('code', {}, 'context.traits.email'), '), e.g. ', h('code', {}, PRIVACY_EXAMPLE), '. A path the node cannot read is refused when you save.'));
}

/** A labelled field with its help and its own error line: {node, input, show(message)}. */
function field(key, text, input, help) {
  input.id = 'f-' + key;
  input.name = key;
  input.setAttribute('aria-describedby', 'f-' + key + '-help');
  const err = h('p', {id: 'err-' + key, class: 'field-error', hidden: true});
  const node = h('div', {class: 'field', 'data-field': key}, h('label', {for: 'f-' + key}, text), input,
    h('p', {id: 'f-' + key + '-help', class: 'help'}, help), err);
  return {node, input, show(msg) {
    err.hidden = !msg;
    err.textContent = msg ? text + ' ' + msg : '';
    if (msg) { input.setAttribute('aria-invalid', 'true'); input.focus(); } else input.removeAttribute('aria-invalid');
  }};
}

/** Errors above a form: a title and a list. */
function summary(container, title, items) {
  clear(container);
  if (!items.length && !title) return;
  container.append(notice('error', title, items.length ? h('ul', {}, items.map((t) => h('li', {}, t))) : null));
}

/**
 * The form of an integration: its name, `extra` fields ({key: field(...)}, e.g. the variant) and
 * the blueprint's config_fields. `send(name, config)` saves it and returns a message to show, or
 * navigates away; the API's field errors (422) appear beside their fields, a name conflict (409)
 * beside the name, anything else above the form.
 */
function integrationForm({bp, current, name, nameHelp, extra = {}, submitText, failed, send, cancel}) {
  const nameField = field('name', 'Name', h('input', {type: 'text', value: name}), nameHelp);
  const own = {name: nameField, ...extra};
  const config = configInputs(bp.config_fields, current);
  const top = h('div', {'aria-live': 'assertive', tabindex: '-1'});
  const submit = h('button', {type: 'submit', class: 'primary'}, submitText);
  const form = h('form', {class: 'fields', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    summary(top, null, []);
    for (const f of Object.values(own)) f.show(null);
    const cfg = config.read();
    if (!cfg) return;
    submit.disabled = true;
    try {
      const message = await send(nameField.input.value.trim(), cfg);
      if (message) clear(top).append(notice('ok', 'Saved', message));
    } catch (err) {
      const fields = err.status === 422 ? err.fields : err.status === 409 ? {name: 'is taken: ' + err.message} : {};
      const {rest, focused} = config.show(fields);
      const others = [];
      for (const [k, v] of Object.entries(rest)) {
        if (own[k]) own[k].show(v); else others.push(k + ' ' + v);
      }
      if (err.status === 422) summary(top, failed + ': fix the fields marked below.', others);
      else summary(top, failed + '.', [err.message]);
      if (!focused && !Object.keys(rest).some((k) => own[k])) top.focus();
    } finally { submit.disabled = false; }
  }},
  top, nameField.node, Object.values(extra).map((f) => f.node), config.nodes,
  h('div', {class: 'actions'}, submit, cancel));
  return {form, nameField};
}

// ---- Install --------------------------------------------------------------------------------

async function installPage(main, key) {
  const bp = await api('GET', '/integration-catalog/' + encodeURIComponent(key));
  const variant = field('variant', 'Variant', h('select', {}, bp.variants.map((v) => h('option', {value: v.key}, v.name))),
    bp.variants.map((v) => v.name + ': ' + v.description).join(' '));
  const {form, nameField} = integrationForm({
    bp, current: null, name: bp.name, nameHelp: 'How this integration is listed; each installed integration has its own name.',
    extra: {variant}, submitText: 'Install Integration', failed: 'The integration was not installed',
    cancel: h('a', {class: 'button', href: '#/catalog/' + encodeURIComponent(bp.key)}, 'Cancel'),
    send: async (name, config) => {
      const made = await api('POST', '/integration-catalog/' + encodeURIComponent(bp.key) + '/install',
        {name, variant: variant.input.value, config, delivery_mode: 'server_side'});
      flash = {kind: 'ok', text: made.name + ' is installed. Events sent to the gateway from now on are delivered to ' + bp.name + '.'};
      go('#/integration/' + encodeURIComponent(made.id));
      return null;
    },
  });
  main.append(h('div', {class: 'crumbs'}, h('a', {href: '#/integrations/library'}, '← Integration Library')),
    pageHead('Install ' + bp.name, bp.category + ' · v' + bp.version + ' · delivered server to server', bp.status ? badge(bp.status, bp.status) : null),
    form);
  (form.querySelector('#f-config-api_key') || nameField.input).focus();
}

// ---- My Integrations ------------------------------------------------------------------------

async function minePage(main) {
  const list = (await api('GET', '/integrations?limit=100')).data;
  main.append(...integrationsHead('mine'));
  if (!list.length) {
    main.append(empty('No integration is installed yet. Install one from the Integration Library to start sending events.',
      h('a', {class: 'button primary', href: '#/integrations/library'}, 'Open the Integration Library')));
    return;
  }
  main.append(table(['Name', 'Blueprint', 'Region', 'Status', 'Updated'], list.map((i) => [
    h('a', {href: '#/integration/' + encodeURIComponent(i.id)}, i.name), i.blueprint + ' v' + i.blueprint_version,
    i.config.data_region || '', [statusBadge(i), i.diagnosis ? h('div', {class: 'help'}, i.diagnosis.message) : null],
    new Date(i.updated_at).toLocaleString()])));
}

function statusBadge(i) { return i.enabled === false ? badge('disabled', 'disabled') : badge(i.status, i.status); }

// ---- One integration ------------------------------------------------------------------------

/** The vendor's name (the blueprint's `name`) for a blueprint key, from the catalog. */
const vendorNames = new Map();
async function vendorName(key) {
  if (!vendorNames.has(key)) {
    try { vendorNames.set(key, (await api('GET', '/integration-catalog/' + encodeURIComponent(key))).name); } catch (_) { return 'the vendor'; }
  }
  return vendorNames.get(key);
}

async function integrationPage(main, id, tab) {
  let integration = await api('GET', '/integrations/' + encodeURIComponent(id));
  const vendor = await vendorName(integration.blueprint);
  const base = '#/integration/' + encodeURIComponent(id);
  const head = h('div', {});
  const diagnosis = h('div', {id: 'diagnosis', 'aria-live': 'polite'});
  const body = h('div', {});
  main.append(h('div', {class: 'crumbs'}, h('a', {href: '#/integrations/mine'}, '← My Integrations')), head, diagnosis,
    tabs('Integration', [['overview', 'Overview', base], ['live', 'Live Events', base + '/live'],
      ['config', 'Configuration', base + '/config'], ['dead-letters', 'Dead letters', base + '/dead-letters']], tab), body);

  function drawHead() {
    const i = integration;
    const toggle = h('button', {type: 'button', onclick: async () => {
      toggle.disabled = true;
      try { integration = await api('PATCH', '/integrations/' + encodeURIComponent(id), {enabled: !i.enabled}); drawHead(); drawDiagnosis(); } catch (e) { diagnosis.prepend(notice('error', 'Not changed', e.message)); } finally { toggle.disabled = false; }
    }}, i.enabled ? 'Disable' : 'Enable');
    const remove = h('button', {type: 'button', class: 'danger', onclick: async () => {
      if (!confirm('Remove ' + i.name + '? Its undelivered events and dead letters are dropped.')) return;
      try { await api('DELETE', '/integrations/' + encodeURIComponent(id)); flash = {kind: 'ok', text: i.name + ' was removed.'}; go('#/integrations/mine'); } catch (e) { diagnosis.prepend(notice('error', 'Not removed', e.message)); }
    }}, 'Remove');
    clear(head).append(pageHead(i.name, i.blueprint + ' v' + i.blueprint_version + ' · ' + i.variant + ' · region ' + (i.config.data_region || 'us') + ' · ' + i.delivery_mode,
      h('span', {id: 'status'}, statusBadge(i)), toggle, remove));
  }
  function drawDiagnosis() {
    const i = integration;
    clear(diagnosis);
    if (!i.enabled) diagnosis.append(notice('warn', 'Disabled', 'Events are kept in the spool and not sent until the integration is enabled again.'));
    else if (i.diagnosis) {
      const kind = i.status === 'active' ? 'warn' : 'error';
      diagnosis.append(h('div', {class: 'notice ' + kind, role: 'alert', 'data-code': i.diagnosis.code},
        h('strong', {}, (i.status === 'paused' ? 'Paused: ' : '') + i.diagnosis.message),
        h('p', {class: 'fix'}, 'Fix: ', i.diagnosis.fix),
        i.status === 'paused' ? h('p', {}, 'Events are kept, not dropped, and go out once the configuration is updated. ',
          h('a', {href: base + '/config'}, 'Edit the configuration')) : null));
    }
  }
  drawHead();
  drawDiagnosis();
  const poll = setInterval(async () => {
    try { integration = await api('GET', '/integrations/' + encodeURIComponent(id)); drawDiagnosis(); clear(head.querySelector('#status') || h('span')).append(statusBadge(integration)); } catch (_) { /* shown on the next page load */ }
  }, 2000);
  onLeave(() => clearInterval(poll));

  if (tab === 'live') liveStream(body, integration);
  else if (tab === 'config') await configTab(body, integration, (i) => { integration = i; drawHead(); drawDiagnosis(); });
  else if (tab === 'dead-letters') await deadLettersTab(body, id, vendor);
  else await overviewTab(body, id, vendor);
}

async function overviewTab(body, id, vendor) {
  const stats = h('div', {class: 'stats', id: 'stats'});
  const result = h('div', {id: 'test-result', 'aria-live': 'polite'});
  const test = h('button', {type: 'button', class: 'primary', id: 'send-test', onclick: async () => {
    test.disabled = true;
    clear(result).append(h('p', {class: 'sub'}, 'Sending a test event…'));
    try {
      const r = await api('POST', '/integrations/' + encodeURIComponent(id) + '/test');
      clear(result).append(r.delivered
        ? notice('ok', 'The test event was delivered', vendor + ' answered ' + r.vendor_response.status + '.')
        : h('div', {class: 'notice error', role: 'alert'}, h('strong', {}, 'The test event was not delivered'),
          r.diagnosis ? [h('p', {}, r.diagnosis.message), h('p', {class: 'fix'}, 'Fix: ', r.diagnosis.fix)] : null),
      h('details', {}, h('summary', {}, 'Request and response'),
        h('h4', {}, 'Request'), h('pre', {}, r.vendor_request.method + ' ' + r.vendor_request.url + '\n\n' + pretty(r.vendor_request.body)),
        h('h4', {}, 'Response'), h('pre', {}, r.vendor_response ? r.vendor_response.status + '\n\n' + pretty(r.vendor_response.body) : 'no answer')));
    } catch (e) {
      clear(result).append(notice('error', 'The test event could not be sent', e.message));
    } finally { test.disabled = false; }
  }}, 'Send test event');
  // On JetStream: each node's part of the cluster's counts.
  const nodes = h('div', {id: 'nodes'});
  body.append(h('div', {class: 'live-head'}, h('h2', {}, 'Delivery'), h('div', {class: 'actions'}, test)), result, stats, nodes);
  async function refresh() {
    let s;
    try { s = await api('GET', '/integrations/' + encodeURIComponent(id) + '/stats'); } catch (_) { return; }
    const c = s.counts || {};
    const l = s.latency_ms || {};
    const ms = (v) => (v === null || v === undefined) ? '–' : v + ' ms';
    const cells = [['Delivered', c.delivered || 0], ['Dropped', c.dropped || 0], ['Retrying', c.retrying || 0],
      ['Failed', c.failed || 0], ['Dead-lettered', c.dead_lettered || 0], ['Queue depth', s.queue_depth || 0],
      ['In flight', s.in_flight || 0], ['Latency p50', ms(l.p50)], ['Latency p90', ms(l.p90)], ['Latency p99', ms(l.p99)]];
    append(clear(stats), cells.map(([k, n]) => h('div', {class: 'stat'}, h('div', {class: 'n'}, typeof n === 'number' ? n.toLocaleString() : n), h('div', {class: 'k'}, k))));
    clear(nodes);
    if (Array.isArray(s.nodes)) {
      const rows = s.nodes.map((p) => {
        const pc = p.counts || {}, pl = p.latency_ms || {};
        return h('tr', {'data-node': p.node || ''}, h('td', {}, p.node || '–'), h('td', {}, (pc.delivered || 0).toLocaleString()),
          h('td', {}, ((pc.failed || 0) + (pc.dead_lettered || 0)).toLocaleString()), h('td', {}, (p.in_flight || 0).toLocaleString()),
          h('td', {}, ms(pl.p99)), h('td', {}, p.status || '–'));
      });
      const missing = (s.nodes_alive || 0) - s.nodes.length;
      append(nodes, [h('h3', {}, 'Nodes: ' + s.nodes.length + ' of ' + (s.nodes_alive || s.nodes.length) + ' answered'),
        h('table', {class: 'nodes'}, h('thead', {}, h('tr', {}, ['Node', 'Delivered', 'Failed or dead-lettered', 'In flight', 'Latency p99', 'Status'].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows)),
        missing > 0 ? h('p', {class: 'muted'}, missing + ' node(s) did not answer in time: their counts are not in the totals above.') : null]);
    }
  }
  await refresh();
  const t = setInterval(refresh, 2000);
  onLeave(() => clearInterval(t));
}

async function configTab(body, integration, saved) {
  const bp = await api('GET', '/integration-catalog/' + encodeURIComponent(integration.blueprint));
  const {form} = integrationForm({
    bp, current: integration.config, name: integration.name, nameHelp: 'How this integration is listed.',
    submitText: 'Save changes', failed: 'Nothing was saved',
    send: async (name, config) => {
      saved(await api('PATCH', '/integrations/' + encodeURIComponent(integration.id), {name, config}));
      return 'Delivery restarted with the new configuration; held events go out now.';
    },
  });
  body.append(h('p', {class: 'sub'}, 'Secret fields show only their last four characters; leave them empty to keep them.'), form);
}

async function deadLettersTab(body, id, vendor) {
  const path = '/integrations/' + encodeURIComponent(id) + '/dead-letters';
  const top = h('div', {'aria-live': 'polite'});
  const list = h('div', {});
  body.append(top, list);
  async function refresh() {
    const data = (await api('GET', path + '?limit=100')).data;
    clear(list);
    if (!data.length) {
      list.append(empty('No dead letters. Events that ' + vendor + ' refuses for good (a 4xx other than an auth or region error, or too many retries) land here with the reason, for replay.'));
      return;
    }
    const boxes = data.map((d) => h('input', {type: 'checkbox', value: d.id, 'aria-label': 'Select dead letter ' + d.id}));
    const act = async (what, fn) => {
      try { clear(top).append(notice('ok', null, await fn())); } catch (e) { clear(top).append(notice('error', what + ' failed', e.message)); }
      await refresh();
    };
    list.append(h('div', {class: 'actions spaced'},
      h('button', {type: 'button', onclick: () => act('Replay', async () => {
        const ids = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!ids.length) throw new Error('select the dead letters to replay first');
        const r = await api('POST', path + '/replay', {ids});
        return r.replayed + ' replayed: they are delivered again from the spool.';
      })}, 'Replay selected'),
      h('button', {type: 'button', class: 'primary', onclick: () => act('Replay', async () => {
        const r = await api('POST', path + '/replay', {});
        return r.replayed + ' replayed: they are delivered again from the spool.';
      })}, 'Replay all'),
      h('button', {type: 'button', class: 'danger', onclick: () => act('Purge', async () => {
        if (!confirm('Delete every dead letter of this integration? They cannot be replayed after this.')) return 'Nothing was deleted.';
        await api('DELETE', path);
        return 'Dead letters deleted.';
      })}, 'Purge all')),
    table(['', 'When', 'Reason', 'Status', 'Attempts', 'Event'], data.map((d, n) => [boxes[n], new Date(d.at_ms).toLocaleString(),
      [d.reason, d.body ? h('div', {class: 'help'}, d.body.slice(0, 200)) : null], d.status || '–', d.attempts,
      h('details', {}, h('summary', {}, 'show'), h('pre', {}, pretty(d.event)))])));
  }
  await refresh();
}

// ---- Sources --------------------------------------------------------------------------------

async function sourcesPage(main) {
  const list = (await api('GET', '/sources?limit=100')).data;
  const top = h('div', {id: 'source-result', 'aria-live': 'polite', tabindex: '-1'});
  main.append(pageHead('Sources', 'Where events come from: each source has its own pipeline key (its write key), the browser origins it accepts and a rate limit.'), top);
  main.append(list.length ? table(['Name', 'Pipeline key', 'Allowed origins', 'Rate limit', 'Created', ''], list.map((src) => [
    src.name, h('code', {class: 'key'}, src.pipeline_key),
    src.allowed_origins.length ? src.allowed_origins.join(', ') : h('span', {class: 'help'}, 'any origin'),
    src.rate_limit_per_second.toLocaleString() + ' events/s', new Date(src.created_at).toLocaleString(),
    h('button', {type: 'button', class: 'danger', 'aria-label': 'Remove ' + src.name, onclick: async () => {
      if (!confirm('Remove the source ' + src.name + '? Clients using its key are refused from now on.')) return;
      try { await api('DELETE', '/sources/' + encodeURIComponent(src.id)); flash = {kind: 'ok', text: src.name + ' was removed.'}; go('#/sources'); } catch (e) { clear(top).append(notice('error', 'Not removed', e.message)); }
    }}, 'Remove')]))
    : empty('No source yet: add one below to get a pipeline key.'));

  const name = field('name', 'Name', h('input', {type: 'text'}), 'e.g. Marketing site, iOS app, billing backend.');
  const origins = field('allowed_origins', 'Allowed origins', h('textarea', {spellcheck: 'false', placeholder: 'https://www.example.com'}),
    'One per line. Browsers on other origins are blocked (CORS); leave empty to accept any origin (server-side clients send no origin).');
  const rate = field('rate_limit_per_second', 'Rate limit (events/s)', h('input', {type: 'number', min: 1, inputmode: 'numeric'}),
    'Leave empty for the node\'s default.');
  const own = {name, allowed_origins: origins, rate_limit_per_second: rate};
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Add source');
  const form = h('form', {class: 'fields', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    for (const f of Object.values(own)) f.show(null);
    const body = {name: name.input.value.trim(),
      allowed_origins: origins.input.value.split(/[\s,]+/).filter(Boolean)};
    if (rate.input.value.trim()) body.rate_limit_per_second = Number(rate.input.value);
    submit.disabled = true;
    try {
      const made = await api('POST', '/sources', body);
      flash = {kind: 'ok', text: [made.name + ' is added. Its pipeline key: ', h('code', {}, made.pipeline_key),
        '. Its HMAC secret, shown this once only: ', h('code', {id: 'new-secret'}, made.secret),
        '. Clients send events with the header Authorization: Bearer <pipeline key>.']};
      go('#/sources');
    } catch (err) {
      const fields = err.status === 422 ? err.fields : {};
      let shown = false;
      for (const [k, v] of Object.entries(fields)) if (own[k]) { own[k].show(v); shown = true; }
      if (!shown) clear(top).append(notice('error', 'The source was not added', err.message));
    } finally { submit.disabled = false; }
  }}, name.node, origins.node, rate.node, h('div', {class: 'actions'}, submit));
  main.append(h('h2', {}, 'Add a source'), form);
}

// ---- Audit log ------------------------------------------------------------------------------

/// Who changed what, newest first: filtered by action and resource, a page at a time.
async function auditPage(main) {
  const actions = ['', 'integration.', 'integration.installed', 'integration.updated', 'integration.enabled',
    'integration.disabled', 'integration.removed', 'source.', 'source.created', 'source.updated', 'source.removed',
    'dead_letters.replayed', 'dead_letters.purged'];
  const action = h('select', {id: 'audit-action'}, actions.map((a) => h('option', {value: a}, a || 'All actions')));
  const resource = h('input', {type: 'text', id: 'audit-resource', placeholder: 'integrations/int_…', spellcheck: 'false'});
  const rows = h('tbody', {});
  const more = h('button', {type: 'button', id: 'audit-more', hidden: true}, 'Older changes');
  const top = h('div', {id: 'audit-result', 'aria-live': 'polite'});
  let cursor = null;
  const summary = (changes) => Object.entries(changes || {}).map(([k, v]) =>
    h('div', {}, h('code', {}, k), ': ', JSON.stringify(v.old), ' → ', JSON.stringify(v.new)));
  async function load(reset) {
    if (reset) { clear(rows); cursor = null; }
    const q = new URLSearchParams({limit: '50'});
    if (action.value) q.set('action', action.value);
    if (resource.value.trim()) q.set('resource', resource.value.trim());
    if (cursor) q.set('cursor', cursor);
    let page;
    try { page = await api('GET', '/audit-logs?' + q.toString()); } catch (e) { clear(top).append(notice('error', 'The audit log could not be read', e.message)); return; }
    clear(top);
    append(rows, page.data.map((r) => h('tr', {'data-action': r.action},
      h('td', {}, new Date(r.at).toLocaleString()), h('td', {}, r.actor), h('td', {}, h('code', {}, r.action)),
      h('td', {}, r.resource), h('td', {class: 'changes'}, summary(r.changes)), h('td', {}, r.ip, r.user_agent ? h('div', {class: 'help'}, r.user_agent) : null))));
    if (!rows.firstChild) append(rows, [h('tr', {}, h('td', {colspan: 6}, 'No change recorded matches.'))]);
    cursor = page.next_cursor;
    more.hidden = !page.has_more;
  }
  action.addEventListener('change', () => load(true));
  resource.addEventListener('change', () => load(true));
  more.addEventListener('click', () => load(false));
  main.append(pageHead('Audit log', 'Every change made through the management API: who, when, from where, and each field old and new (secrets masked).'),
    h('div', {class: 'filters'}, h('label', {}, 'Action ', action), h('label', {}, 'Resource ', resource)), top,
    h('table', {id: 'audit'}, h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Resource', 'Changes', 'From'].map((t) => h('th', {}, t)))), rows),
    h('div', {class: 'actions'}, more));
  await load(true);
}

// ---- Live Events ----------------------------------------------------------------------------

async function livePage(main, id) {
  const list = (await api('GET', '/integrations?limit=100')).data;
  main.append(pageHead('Live Events', 'Each event as it goes through: the input, what was sent to the vendor, its answer and the outcome.'));
  if (!list.length) {
    main.append(empty('No integration is installed, so there are no events to show yet.',
      h('a', {class: 'button primary', href: '#/integrations/library'}, 'Install an integration')));
    return;
  }
  const chosen = list.find((i) => i.id === id) || list[0];
  const pick = h('select', {id: 'live-integration', onchange: () => go('#/live/' + encodeURIComponent(pick.value))},
    list.map((i) => h('option', {value: i.id}, i.name)));
  pick.value = chosen.id;
  const body = h('div', {});
  main.append(h('div', {class: 'toolbar'}, h('div', {}, h('label', {for: 'live-integration'}, 'Integration'), pick)), body);
  liveStream(body, chosen);
}

/** The live event list of one integration: the most recent, then new ones as they happen. */
function liveStream(body, integration) {
  const path = '/v1/admin/integrations/' + encodeURIComponent(integration.id) + '/events';
  const state = h('span', {class: 'live-state', id: 'live-state', role: 'status'}, 'Connecting…');
  const list = h('ol', {class: 'events', id: 'live-events', 'aria-label': 'Live events, newest first'});
  const none = empty('Waiting for events. Send one to the gateway (or press Send test event on the Overview tab) and it appears here.');
  const seen = new Set();
  let paused = false;
  const pauseButton = h('button', {type: 'button', 'aria-pressed': 'false', onclick: () => {
    paused = !paused;
    pauseButton.setAttribute('aria-pressed', String(paused));
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
  }}, 'Pause');
  body.append(h('div', {class: 'live-head'}, state, h('div', {class: 'actions'}, pauseButton,
    h('button', {type: 'button', onclick: () => { clear(list); seen.clear(); list.before(none); }}, 'Clear'))), none, list);

  function add(ev, fresh) {
    if (!ev || seen.has(ev.id)) return;
    seen.add(ev.id);
    none.remove();
    const li = row(ev);
    if (fresh) { li.classList.add('fresh'); list.prepend(li); } else list.append(li);
    while (list.children.length > 300) list.lastChild.remove();
  }

  const controller = new AbortController();
  onLeave(() => controller.abort());
  (async () => {
    try {
      const recent = await api('GET', '/integrations/' + encodeURIComponent(integration.id) + '/events?limit=50');
      for (const ev of recent.data) add(ev, false);
    } catch (_) { /* the stream below says whether the node answers */ }
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(path, {headers: {accept: 'text/event-stream', authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY)}, signal: controller.signal});
        if (res.status === 401) { signOut('The admin token was not accepted any more. Sign in again.'); return; }
        if (!res.ok) {
          const e = await res.json().catch(() => ({}));
          state.className = 'live-state off';
          state.textContent = (e.error && e.error.message) || ('not streaming (' + res.status + ')');
        } else {
          state.className = 'live-state on';
          state.textContent = 'Live: new events appear as they happen';
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          let buffer = '';
          for (;;) {
            const {value, done} = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, {stream: true});
            let cut;
            while ((cut = buffer.indexOf('\n\n')) >= 0) {
              const message = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              const data = message.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
              if (data && !paused) { try { add(JSON.parse(data), true); } catch (_) { /* not an event */ } }
            }
          }
          state.className = 'live-state off';
          state.textContent = 'Disconnected; reconnecting…';
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        state.className = 'live-state off';
        state.textContent = 'Disconnected (' + e.message + '); reconnecting…';
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
}

/** What a row names: the event, else who an identify or group is about. */
function subject(ev) {
  const input = ev.input || {};
  if (ev.event) return ev.event;
  if (ev.type === 'group' && (input.groupId || input.group_id)) return 'group ' + (input.groupId || input.group_id);
  const who = input.userId || input.user_id || input.anonymousId || input.anonymous_id;
  return who ? 'user ' + who : (ev.message_id || '(unnamed)');
}

function row(ev) {
  const detailId = 'ev-' + ev.id;
  const detail = h('div', {class: 'ev-detail', id: detailId, hidden: true});
  let built = false;
  const button = h('button', {type: 'button', class: 'ev-row', 'aria-expanded': 'false', 'aria-controls': detailId, onclick: () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    if (open && !built) { build(); built = true; }
    detail.hidden = !open;
  }},
  h('span', {class: 'chev', 'aria-hidden': 'true'}, '▸'),
  h('span', {class: 'time'}, time(ev.at)),
  h('span', {class: 'type'}, ev.type),
  h('span', {class: 'name'}, subject(ev)),
  h('span', {}, badge(ev.outcome, ev.outcome)),
  h('span', {class: 'reason'}, ev.reason || (ev.warnings && ev.warnings.length ? ev.warnings.length + ' warning' + (ev.warnings.length > 1 ? 's' : '') : '')),
  h('span', {class: 'lat'}, ev.latency_ms !== undefined ? ev.latency_ms + ' ms' : ''));
  function build() {
    const req = ev.vendor_request;
    const res = ev.vendor_response;
    append(detail, [
      h('div', {}, h('h4', {}, 'Input event'), h('pre', {class: 'input'}, ev.input ? pretty(ev.input) : 'not kept')),
      h('div', {}, h('h4', {}, 'Vendor payload'), h('pre', {class: 'vendor-request'}, req ? req.method + ' ' + req.url + '\n\n' + pretty(req.body) : 'nothing was sent (' + (ev.reason || ev.outcome) + ')')),
      h('div', {}, h('h4', {}, 'Vendor response'), h('pre', {class: 'vendor-response'}, res ? res.status + '\n\n' + pretty(res.body) : 'no response')),
      h('div', {}, h('h4', {}, 'Outcome'), h('ul', {class: 'outcome'},
        h('li', {}, 'outcome: ', h('strong', {}, ev.outcome)), ev.reason ? h('li', {}, 'reason: ', h('strong', {}, ev.reason)) : null,
        h('li', {}, 'attempt: ' + ev.attempt), ev.node ? h('li', {}, 'delivered by node: ' + ev.node) : null, ev.latency_ms !== undefined ? h('li', {}, 'latency: ' + ev.latency_ms + ' ms') : null,
        ev.message_id ? h('li', {}, 'messageId: ', h('code', {}, ev.message_id)) : null,
        ev.diagnosis ? h('li', {}, ev.diagnosis.message + '. Fix: ' + ev.diagnosis.fix) : null),
      h('h4', {}, 'Warnings'), ev.warnings && ev.warnings.length
        ? h('ul', {class: 'warnings'}, ev.warnings.map((w) => h('li', {}, h('code', {}, w.code), ' ', w.message)))
        : h('p', {class: 'help'}, 'None.')),
    ]);
  }
  return h('li', {'data-outcome': ev.outcome, 'data-id': ev.id}, button, detail);
}
