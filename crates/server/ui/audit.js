// The audit log: who changed what, newest first, filtered by who, action, resource and time.
'use strict';

/// Who changed what, newest first: filtered by who, action, resource and time, a page at a time.
async function auditPage(main) {
  const actions = ['', 'integration.', 'integration.installed', 'integration.updated', 'integration.enabled',
    'integration.disabled', 'integration.removed', 'source.', 'source.created', 'source.updated', 'source.removed',
    'dead_letters.replayed', 'dead_letters.purged', 'auth.', 'auth.login', 'auth.login_failed', 'auth.locked',
    'auth.logout', 'auth.refresh_reused', 'auth.invitation_accepted', 'user.', 'user.created', 'user.updated', 'user.removed',
    'token.', 'token.created', 'token.revoked'];
  const action = h('select', {id: 'audit-action'}, actions.map((a) => h('option', {value: a}, a || 'All actions')));
  const resource = h('input', {type: 'text', id: 'audit-resource', placeholder: 'integrations/int_…', spellcheck: 'false'});
  const actor = h('input', {type: 'text', id: 'audit-actor', placeholder: 'ada@example.com, token:ci, admin-token', spellcheck: 'false'});
  // Local times in the inputs, RFC 3339 (UTC) to the API.
  const since = h('input', {type: 'datetime-local', id: 'audit-since'});
  const until = h('input', {type: 'datetime-local', id: 'audit-until'});
  const utc = (input) => { const d = new Date(input.value); return isNaN(d) ? null : d.toISOString(); };
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
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (utc(since)) q.set('since', utc(since));
    if (utc(until)) q.set('until', utc(until));
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
  for (const input of [resource, actor, since, until]) input.addEventListener('change', () => load(true));
  more.addEventListener('click', () => load(false));
  main.append(pageHead('Audit log', 'Every change made through the management API: who, when, from where, and each field old and new (secrets masked).'),
    h('div', {class: 'filters'}, h('label', {}, 'Who ', actor), h('label', {}, 'Action ', action), h('label', {}, 'Resource ', resource),
      h('label', {}, 'From ', since), h('label', {}, 'To ', until)), top,
    h('table', {id: 'audit'}, h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Resource', 'Changes', 'From'].map((t) => h('th', {}, t)))), rows),
    h('div', {class: 'actions'}, more));
  await load(true);
}
