// Forms generated from a blueprint's config_fields: one input per field (a select for an enum, a
// checkbox for a boolean, JSON for an object, a password input for a secret), the advanced ones
// folded, the API's field errors shown beside their fields.
'use strict';

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
