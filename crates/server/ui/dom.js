// The page's building blocks: elements made from data (everything that came from outside is put
// in the page as text, never as HTML), tables, notices, labelled fields, page heads and tabs.
'use strict';

const app = document.getElementById('app');

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

/** A page's title, what it is for, and its buttons. */
function pageHead(title, sub, ...actions) {
  return h('div', {class: 'page-head'}, h('div', {}, h('h1', {}, title), sub ? h('p', {class: 'sub'}, sub) : null),
    actions.length ? h('div', {class: 'actions'}, actions) : null);
}

/** Tabs are links: each tab has its own address. */
function tabs(label, items, current) {
  return h('nav', {class: 'tabs', 'aria-label': label},
    items.map(([key, text, href]) => h('a', {href, 'aria-current': key === current ? 'page' : null}, text)));
}
