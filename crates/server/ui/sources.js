// Sources: where events come from, each with its own pipeline key, allowed origins and rate
// limit. Everyone sees them; admins add and remove them.
'use strict';

async function sourcesPage(main) {
  const list = (await api('GET', '/sources?limit=100')).data;
  const top = h('div', {id: 'source-result', 'aria-live': 'polite', tabindex: '-1'});
  main.append(pageHead('Sources', 'Where events come from: each source has its own pipeline key (its write key), the browser origins it accepts and a rate limit.'), top);
  // Adding and removing sources is for admins; the others see the list.
  const admin = can('admin');
  main.append(list.length ? table(['Name', 'Pipeline key', 'Allowed origins', 'Rate limit', 'Created', admin ? '' : null].filter((c) => c !== null), list.map((src) => [
    src.name, h('code', {class: 'key'}, src.pipeline_key),
    src.allowed_origins.length ? src.allowed_origins.join(', ') : h('span', {class: 'help'}, 'any origin'),
    src.rate_limit_per_second.toLocaleString() + ' events/s', new Date(src.created_at).toLocaleString(),
    admin ? h('button', {type: 'button', class: 'danger', 'aria-label': 'Remove ' + src.name, onclick: async () => {
      if (!confirm('Remove the source ' + src.name + '? Clients using its key are refused from now on.')) return;
      try { await api('DELETE', '/sources/' + encodeURIComponent(src.id)); flash = {kind: 'ok', text: src.name + ' was removed.'}; go('#/sources'); } catch (e) { clear(top).append(notice('error', 'Not removed', e.message)); }
    }}, 'Remove') : null].filter((c) => c !== null)))
    : empty(admin ? 'No source yet: add one below to get a pipeline key.' : 'No source yet.'));
  if (!admin) return;

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
