// Users: the people who may sign in (email, role, last sign-in, locked) and the API tokens for
// automation (name, role, the token masked). Everyone may read both; admins and owners add,
// change, unlock and remove people and create and revoke tokens, an admin only with the roles
// editor and viewer (owners give every role).
'use strict';

/** A date and time, or `never`. */
function when(at) { return at ? new Date(at).toLocaleString() : h('span', {class: 'help'}, 'never'); }

/** Whether a user is locked now (after five failed sign-ins, for 15 minutes). */
function locked(u) { return !!u.locked_until && new Date(u.locked_until) > new Date(); }

/** A select of the roles the signed-in role may give. */
function roleSelect(attrs, chosen) {
  const select = h('select', attrs, grantable().slice().reverse().map((r) => h('option', {value: r}, r)));
  select.value = chosen && grantable().includes(chosen) ? chosen : 'viewer';
  return select;
}

async function usersPage(main) {
  const [users, tokens] = await Promise.all([api('GET', '/users?limit=100'), api('GET', '/tokens?limit=100')]);
  const manage = can('admin');
  const top = h('div', {id: 'users-result', 'aria-live': 'polite', tabindex: '-1'});
  main.append(pageHead('Users', manage
    ? 'Who may sign in to this node, and the API tokens for automation. Each has a role: viewers read, editors also change integrations, admins also manage sources, users and tokens, owners also manage admins.'
    : 'Who may sign in to this node, and the API tokens for automation. Managing them needs the admin role; you are signed in as ' + me.role + '.'),
  top);
  /** Runs a change, then shows its message on the page drawn again (or the error here). */
  async function change(what, fn) {
    try { flash = {kind: 'ok', text: await fn()}; go('#/users'); } catch (e) { clear(top).append(notice('error', what, e.message)); top.focus(); }
  }

  // ---- People
  main.append(h('h2', {id: 'people'}, 'People'));
  main.append(users.data.length ? h('table', {id: 'users'},
    h('thead', {}, h('tr', {}, ['Email', 'Role', 'Last sign-in', 'Status', manage ? 'Actions' : null].map((t) => t && h('th', {scope: 'col'}, t)))),
    h('tbody', {}, users.data.map((u) => userRow(u, manage, change))))
    : empty('Nobody has an account yet.'));
  if (manage) main.append(addUserForm());

  // ---- API tokens
  main.append(h('h2', {id: 'api-tokens'}, 'API tokens'),
    h('p', {class: 'sub'}, 'For scripts and CI: send one as Authorization: Bearer <token>. It acts with its role until it is revoked.'));
  main.append(tokens.data.length ? h('table', {id: 'tokens'},
    h('thead', {}, h('tr', {}, ['Name', 'Role', 'Token', 'Created', 'Last used', manage ? 'Actions' : null].map((t) => t && h('th', {scope: 'col'}, t)))),
    h('tbody', {}, tokens.data.map((t) => tokenRow(t, manage, change))))
    : empty('No API token yet.'));
  if (manage) main.append(addTokenForm());
}

/** One person: their role (a select when the signed-in role may change it), unlock, remove. */
function userRow(u, manage, change) {
  const mine = me.user && me.user.id === u.id;
  const status = locked(u) ? badge('locked until ' + new Date(u.locked_until).toLocaleTimeString(), 'locked')
    : u.invited ? badge('invited', 'invited') : badge('active', 'active');
  const may = manage && mayManage(u.role);
  let role = badge(u.role, 'role');
  if (may) {
    const select = roleSelect({'aria-label': 'Role of ' + u.email, class: 'role-select'}, u.role);
    select.addEventListener('change', () => change('The role was not changed', async () => {
      const next = select.value;
      try { await api('PATCH', '/users/' + encodeURIComponent(u.id), {role: next}); } catch (e) { select.value = u.role; throw e; }
      return u.email + ' is now ' + next + (mine ? '.' : '; their sessions ended, they sign in again with the new role.');
    }));
    role = select;
  }
  const actions = may ? h('div', {class: 'actions'},
    locked(u) ? h('button', {type: 'button', 'aria-label': 'Unlock ' + u.email, onclick: () => change('Not unlocked', async () => {
      await api('PATCH', '/users/' + encodeURIComponent(u.id), {locked: false});
      return u.email + ' is unlocked and may sign in again.';
    })}, 'Unlock') : null,
    h('button', {type: 'button', class: 'danger', 'aria-label': 'Remove ' + u.email, onclick: () => {
      if (!confirm('Remove ' + u.email + (mine ? ' (you)' : '') + '? They cannot sign in any more.')) return;
      change('Not removed', async () => {
        await api('DELETE', '/users/' + encodeURIComponent(u.id));
        return u.email + ' was removed.';
      });
    }}, 'Remove')) : null;
  return h('tr', {'data-id': u.id, 'data-email': u.email},
    h('td', {}, u.email, mine ? h('span', {class: 'help'}, ' (you)') : null), h('td', {}, role),
    h('td', {}, when(u.last_login_at)), h('td', {}, status), manage ? h('td', {}, actions) : null);
}

/** One API token: its name, role, masked value, dates, and Revoke for those who may. */
function tokenRow(t, manage, change) {
  const revoke = manage && mayManage(t.role) ? h('button', {type: 'button', class: 'danger', 'aria-label': 'Revoke ' + t.name, onclick: () => {
    if (!confirm('Revoke the token ' + t.name + '? Whatever uses it is refused from now on.')) return;
    change('The token was not revoked', async () => {
      await api('DELETE', '/tokens/' + encodeURIComponent(t.id));
      return t.name + ' was revoked.';
    });
  }}, 'Revoke') : null;
  return h('tr', {'data-id': t.id, 'data-name': t.name},
    h('td', {}, t.name), h('td', {}, badge(t.role, 'role')), h('td', {}, h('code', {}, t.token)),
    h('td', {}, when(t.created_at)), h('td', {}, when(t.last_used_at)), manage ? h('td', {}, revoke) : null);
}

/** Add a person: with a password, or with an invitation link they open to choose their own. */
function addUserForm() {
  const email = field('email', 'Email', h('input', {type: 'email', spellcheck: 'false', autocomplete: 'off'}), null);
  const role = field('role', 'Role', roleSelect({}, 'viewer'),
    me.role === 'owner' ? 'Owners may give every role.' : 'Admins give the roles editor and viewer; an owner gives admin and owner.');
  const invite = h('input', {type: 'radio', name: 'how', id: 'how-invite', value: 'invite', checked: true});
  const set = h('input', {type: 'radio', name: 'how', id: 'how-password', value: 'password'});
  const password = field('password', 'Password', h('input', {type: 'password', autocomplete: 'new-password'}),
    'At least 12 characters. Tell it to them another way than this email.');
  const how = () => { password.node.hidden = !set.checked; };
  invite.addEventListener('change', how);
  set.addEventListener('change', how);
  how();
  const result = h('div', {id: 'user-added', 'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Add user');
  const own = {email, role, password};
  return h('form', {class: 'fields panel', id: 'add-user', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clear(result);
    for (const f of Object.values(own)) f.show(null);
    const body = {email: email.input.value.trim(), role: role.input.value};
    if (set.checked) body.password = password.input.value;
    submit.disabled = true;
    try {
      const made = await api('POST', '/users', body);
      const added = made.user.email + ' is added as ' + made.user.role;
      if (made.invitation) {
        // The link exists only in this answer: shown once, above the list drawn again.
        const link = location.origin + location.pathname + '#/invite/' + encodeURIComponent(made.invitation.token);
        flash = {kind: 'ok', text: [h('strong', {}, added + '.'),
          h('p', {}, 'Send them this invitation link. It is shown this once only and works until ' + new Date(made.invitation.expires_at).toLocaleString() + ':'),
          h('p', {}, h('code', {id: 'invite-link', class: 'key'}, link))]};
      } else flash = {kind: 'ok', text: added + ' and may sign in with the password you set.'};
      go('#/users');
    } catch (err) {
      const fields = err.status === 422 ? err.fields : err.status === 409 ? {email: 'is taken by another user.'} : {};
      let shown = false;
      for (const [k, v] of Object.entries(fields)) if (own[k]) { own[k].show(v); shown = true; }
      if (!shown) clear(result).append(notice('error', 'The user was not added', err.message));
    } finally { submit.disabled = false; }
  }},
  h('h3', {}, 'Add a user'), result, email.node, role.node,
  h('fieldset', {class: 'how'}, h('legend', {}, 'How they sign in'),
    h('label', {class: 'check', for: 'how-invite'}, invite, 'Send an invitation link: they choose their password'),
    h('label', {class: 'check', for: 'how-password'}, set, 'Set a password now')),
  password.node, h('div', {class: 'actions'}, submit));
}

/** Create an API token: its whole value is shown once, here. */
function addTokenForm() {
  const name = field('token_name', 'Name', h('input', {type: 'text', spellcheck: 'false', autocomplete: 'off'}), 'What uses it, e.g. ci or the deploy script.');
  const role = field('token_role', 'Role', roleSelect({}, 'viewer'), 'What the token may do, as for a person with this role.');
  const result = h('div', {id: 'token-created', 'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Create token');
  const own = {name, role};
  return h('form', {class: 'fields panel', id: 'add-token', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clear(result);
    for (const f of Object.values(own)) f.show(null);
    submit.disabled = true;
    try {
      const made = await api('POST', '/tokens', {name: name.input.value.trim(), role: role.input.value});
      flash = {kind: 'ok', text: [h('strong', {}, 'The token ' + made.name + ' (' + made.role + ') is created.'),
        h('p', {}, 'Copy it now: it is shown this once only; the list shows its last four characters.'),
        h('p', {}, h('code', {id: 'new-token', class: 'key'}, made.token))]};
      go('#/users');
    } catch (err) {
      const fields = err.status === 422 ? err.fields : err.status === 409 ? {name: 'is taken by another token.'} : {};
      let shown = false;
      for (const [k, v] of Object.entries(fields)) if (own[k]) { own[k].show(v); shown = true; }
      if (!shown) clear(result).append(notice('error', 'The token was not created', err.message));
    } finally { submit.disabled = false; }
  }}, h('h3', {}, 'Create an API token'), result, name.node, role.node, h('div', {class: 'actions'}, submit));
}
