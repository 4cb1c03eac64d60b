// Live Events: each event of an integration as it goes through (the input, what was sent to the
// vendor, its answer, the outcome), the recent ones first, then new ones streamed as they happen.
// Filters by outcome, event name and visitor (userId or anonymousId) apply to the list as events
// arrive; repeated warnings are grouped above it, one row per warning text with its count.
'use strict';

async function livePage(main, id) {
  const list = (await api('GET', '/integrations?limit=100')).data;
  main.append(pageHead('Live Events', 'Each event as it goes through: the input, what was sent to the vendor, its answer and the outcome.'));
  if (!list.length) {
    main.append(empty('No integration is installed, so there are no events to show yet.',
      can('editor') ? h('a', {class: 'button primary', href: '#/integrations/library'}, 'Install an integration') : null));
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
  const none = empty('Waiting for events. Send one to the gateway' + (can('editor') ? ' (or press Send test event on the Overview tab)' : '') + ' and it appears here.');
  const seen = new Set();
  let paused = false;
  const pauseButton = h('button', {type: 'button', 'aria-pressed': 'false', onclick: () => {
    paused = !paused;
    pauseButton.setAttribute('aria-pressed', String(paused));
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
  }}, 'Pause');

  // The filters: a change hides or shows the rows kept; a new event's row is hidden if it does not pass.
  /** The events kept in the list, newest first, with their rows. */
  const kept = [];
  const outcome = h('select', {id: 'live-outcome', onchange: refilter},
    [['', 'All outcomes'], ['delivered', 'Delivered'], ['dropped', 'Dropped'], ['retrying', 'Retrying'],
      ['failed', 'Failed'], ['dead_lettered', 'Dead-lettered']].map(([v, t]) => h('option', {value: v}, t)));
  const name = h('input', {id: 'live-event-name', type: 'search', placeholder: 'e.g. Order Completed', oninput: refilter, onchange: refilter});
  const visitor = h('input', {id: 'live-visitor', type: 'search', placeholder: 'userId or anonymousId', oninput: refilter, onchange: refilter});
  const shown = h('span', {class: 'shown', id: 'live-shown', 'aria-live': 'polite'});
  const groups = h('div', {class: 'warn-groups', id: 'live-warnings'});
  body.append(h('div', {class: 'live-head'}, state, h('div', {class: 'actions'}, pauseButton,
    h('button', {type: 'button', onclick: () => { clear(list); seen.clear(); kept.length = 0; list.before(none); refilter(); }}, 'Clear'))),
  h('div', {class: 'live-filters', role: 'search', 'aria-label': 'Filter live events'},
    h('div', {}, h('label', {for: 'live-outcome'}, 'Outcome'), outcome),
    h('div', {}, h('label', {for: 'live-event-name'}, 'Event name'), name),
    h('div', {}, h('label', {for: 'live-visitor'}, 'Visitor'), visitor), shown),
  groups, none, list);

  function matches(ev) {
    if (outcome.value && ev.outcome !== outcome.value) return false;
    const n = name.value.trim().toLowerCase();
    if (n && !String(ev.event || subject(ev)).toLowerCase().includes(n)) return false;
    const v = visitor.value.trim().toLowerCase();
    if (v && !visitorIds(ev).some((id) => id.toLowerCase().includes(v))) return false;
    return true;
  }
  function refilter() {
    let n = 0;
    for (const k of kept) { k.li.hidden = !matches(k.ev); if (!k.li.hidden) n++; }
    const filtering = outcome.value || name.value.trim() || visitor.value.trim();
    shown.textContent = filtering ? n + ' of ' + kept.length + ' shown' : '';
    drawGroups();
  }

  /** Warnings of the events that pass the filters, one group per text, the most frequent first. */
  let groupsDue = false;
  function drawGroups() {
    if (groupsDue) return;
    groupsDue = true;
    setTimeout(() => {
      groupsDue = false;
      const open = new Set([...groups.querySelectorAll('details[open]')].map((d) => d.dataset.text));
      const byText = new Map();
      for (const k of kept) {
        if (!matches(k.ev)) continue;
        for (const w of k.ev.warnings || []) {
          const text = w.message || w.code;
          if (!byText.has(text)) byText.set(text, {code: w.code, events: []});
          byText.get(text).events.push(k.ev);
        }
      }
      clear(groups);
      if (!byText.size) return;
      const sorted = [...byText.entries()].sort((a, b) => b[1].events.length - a[1].events.length);
      append(groups, [h('h3', {}, 'Warnings (' + sorted.length + ')'), sorted.map(([text, g]) =>
        h('details', {class: 'warn-group', 'data-text': text, 'data-code': g.code, open: open.has(text)},
          h('summary', {}, h('code', {}, g.code), ' ', text, h('span', {class: 'count'}, '×' + g.events.length)),
          h('ul', {}, g.events.slice(0, 20).map((ev) => h('li', {}, [time(ev.at), ev.type, subject(ev), visitorIds(ev).map((v) => 'visitor ' + v).join(', '), ev.outcome].filter(Boolean).join(' · '))),
            g.events.length > 20 ? h('li', {class: 'muted'}, 'and ' + (g.events.length - 20) + ' more') : null)))]);
    }, 50);
  }

  function add(ev, fresh) {
    if (!ev || seen.has(ev.id)) return;
    seen.add(ev.id);
    none.remove();
    const li = row(ev);
    li.hidden = !matches(ev);
    if (fresh) { li.classList.add('fresh'); list.prepend(li); kept.unshift({ev, li}); } else { list.append(li); kept.push({ev, li}); }
    while (list.children.length > 300) list.lastChild.remove();
    // The oldest leave the list and what was seen (which otherwise grows for as long as the page is open).
    while (kept.length > 300) seen.delete(kept.pop().ev.id);
    refilter();
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
        let res = await fetch(path, {headers: {accept: 'text/event-stream', authorization: 'Bearer ' + await bearer()}, signal: controller.signal});
        if (res.status === 401 && await refreshSession()) {
          res = await fetch(path, {headers: {accept: 'text/event-stream', authorization: 'Bearer ' + await bearer()}, signal: controller.signal});
        }
        if (res.status === 401) { signOut('Your session has ended. Sign in again.'); return; }
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

/** The visitor ids an event names (userId, anonymousId, either spelling). */
function visitorIds(ev) {
  const input = ev.input && typeof ev.input === 'object' ? ev.input : {};
  return [input.userId, input.user_id, input.anonymousId, input.anonymous_id].filter((v) => typeof v === 'string' && v);
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
