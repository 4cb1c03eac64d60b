// My Integrations, and one integration: its head (enable/disable, remove), the Overview tab
// (delivery counts, the charts of the last 15 minutes from charts.js, per node on JetStream, the
// test event), Configuration and Dead letters.
// What the signed-in role may not do is not offered (crates/server/src/admin/routes.rs).
'use strict';

// ---- My Integrations ------------------------------------------------------------------------

async function minePage(main) {
  const list = (await api('GET', '/integrations?limit=100')).data;
  main.append(...integrationsHead('mine'));
  if (!list.length) {
    main.append(can('editor')
      ? empty('No integration is installed yet. Install one from the Integration Library to start sending events.',
        h('a', {class: 'button primary', href: '#/integrations/library'}, 'Open the Integration Library'))
      : empty('No integration is installed yet.'));
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
    const toggle = can('editor') && h('button', {type: 'button', id: 'toggle', onclick: async () => {
      toggle.disabled = true;
      try { integration = await api('PATCH', '/integrations/' + encodeURIComponent(id), {enabled: !i.enabled}); drawHead(); drawDiagnosis(); } catch (e) { diagnosis.prepend(notice('error', 'Not changed', e.message)); } finally { toggle.disabled = false; }
    }}, i.enabled ? 'Disable' : 'Enable');
    const remove = can('admin') && h('button', {type: 'button', id: 'remove', class: 'danger', onclick: async () => {
      if (!confirm('Remove ' + i.name + '? Its undelivered events and dead letters are dropped.')) return;
      try { await api('DELETE', '/integrations/' + encodeURIComponent(id)); flash = {kind: 'ok', text: i.name + ' was removed.'}; go('#/integrations/mine'); } catch (e) { diagnosis.prepend(notice('error', 'Not removed', e.message)); }
    }}, 'Remove');
    clear(head).append(pageHead(i.name, i.blueprint + ' v' + i.blueprint_version + ' · ' + i.variant + ' · region ' + (i.config.data_region || 'us') + ' · ' + i.delivery_mode,
      h('span', {id: 'status'}, statusBadge(i)),
      i.sandbox_url ? h('a', {id: 'sandbox-link', href: i.sandbox_url, target: '_blank', rel: 'noopener'}, 'Open ' + vendor + " sandbox's visitors") : null,
      toggle || null, remove || null));
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
          can('editor') ? h('a', {href: base + '/config'}, 'Edit the configuration') : null) : null));
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
  const test = can('editor') && h('button', {type: 'button', class: 'primary', id: 'send-test', onclick: async () => {
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
  const charts = deliveryCharts();
  body.append(h('div', {class: 'live-head'}, h('h2', {}, 'Delivery'), h('div', {class: 'actions'}, test || null)), result, stats, charts.node, nodes);
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
    charts.update(s.series);
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
  // Every second: the charts move with the clock (one request at a time: on JetStream the
  // node asks the others, which may take longer).
  let busy = false;
  const t = setInterval(async () => {
    if (busy) return;
    busy = true;
    try { await refresh(); } finally { busy = false; }
  }, 1000);
  onLeave(() => clearInterval(t));
}

async function configTab(body, integration, saved) {
  const bp = await api('GET', '/integration-catalog/' + encodeURIComponent(integration.blueprint));
  if (!can('editor')) {
    // Read only: what is set, secrets masked by the server.
    const shown = (v) => v === undefined || v === null ? h('span', {class: 'help'}, 'not set')
      : typeof v === 'object' ? h('pre', {}, pretty(v)) : h('code', {}, String(v));
    body.append(h('p', {class: 'sub'}, 'Changing the configuration needs the editor role; you are signed in as ' + me.role + '.'),
      h('table', {id: 'config-read'}, h('thead', {}, h('tr', {}, ['Field', 'Value'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, bp.config_fields.map((f) => h('tr', {'data-field': f.key},
          h('td', {}, label(f.key), h('div', {class: 'help'}, h('code', {}, f.key))), h('td', {}, shown(integration.config[f.key])))))));
    return;
  }
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
    const boxes = data.map((d) => can('editor') && h('input', {type: 'checkbox', value: d.id, 'aria-label': 'Select dead letter ' + d.id}));
    const act = async (what, fn) => {
      try { clear(top).append(notice('ok', null, await fn())); } catch (e) { clear(top).append(notice('error', what + ' failed', e.message)); }
      await refresh();
    };
    // The selection column only for those who may replay.
    const cut = can('editor') ? 0 : 1;
    list.append(h('div', {class: 'actions spaced'},
      can('editor') && h('button', {type: 'button', onclick: () => act('Replay', async () => {
        const ids = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!ids.length) throw new Error('select the dead letters to replay first');
        const r = await api('POST', path + '/replay', {ids});
        return r.replayed + ' replayed: they are delivered again from the spool.';
      })}, 'Replay selected'),
      can('editor') && h('button', {type: 'button', class: 'primary', onclick: () => act('Replay', async () => {
        const r = await api('POST', path + '/replay', {});
        return r.replayed + ' replayed: they are delivered again from the spool.';
      })}, 'Replay all'),
      can('admin') && h('button', {type: 'button', class: 'danger', onclick: () => act('Purge', async () => {
        if (!confirm('Delete every dead letter of this integration? They cannot be replayed after this.')) return 'Nothing was deleted.';
        await api('DELETE', path);
        return 'Dead letters deleted.';
      })}, 'Purge all')),
    table(['', 'When', 'Reason', 'Status', 'Attempts', 'Event'].slice(cut), data.map((d, n) => [boxes[n], new Date(d.at_ms).toLocaleString(),
      [d.reason, d.body ? h('div', {class: 'help'}, d.body.slice(0, 200)) : null], d.status || '–', d.attempts,
      h('details', {}, h('summary', {}, 'show'), h('pre', {}, pretty(d.event)))].slice(cut))));
  }
  await refresh();
}
