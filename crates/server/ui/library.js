// The Integration Library (every vendor of the catalog, searched and filtered), a blueprint's
// detail (its configuration, event mapping, identity and troubleshooting tables) and the install
// form (editors and above).
'use strict';

function integrationsHead(current) {
  return [pageHead('Integrations', 'Send events on to the vendors your teams use, server to server.'),
    tabs('Integrations', [['library', 'Integration Library', '#/integrations/library'], ['mine', 'My Integrations', '#/integrations/mine']], current)];
}


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
      can('editor') ? h('a', {class: 'button primary', href: '#/catalog/' + encodeURIComponent(bp.key) + '/install', 'aria-label': 'Install ' + bp.name}, 'Install') : null,
      h('a', {class: 'button', href: '#/catalog/' + encodeURIComponent(bp.key)}, 'Details')));
}

// ---- Blueprint detail -----------------------------------------------------------------------

async function blueprintPage(main, key) {
  const bp = await api('GET', '/integration-catalog/' + encodeURIComponent(key));
  main.append(h('div', {class: 'crumbs'}, h('a', {href: '#/integrations/library'}, '← Integration Library')),
    pageHead(bp.name, bp.category + ' · v' + bp.version + (bp.consent_category ? ' · consent category: ' + bp.consent_category : ''),
      bp.status ? badge(bp.status, bp.status) : null,
      can('editor') ? h('a', {class: 'button primary', href: '#/catalog/' + encodeURIComponent(bp.key) + '/install'}, 'Install') : null),
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

// ---- Install --------------------------------------------------------------------------------

async function installPage(main, key) {
  if (!can('editor')) return notAllowed(main, 'editor');
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
