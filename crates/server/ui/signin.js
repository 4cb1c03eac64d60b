// Signing in: with email and password (or, folded below, with an API token as is), and
// accepting an invitation (`#/invite/<token>`: the person picks their email and password).
'use strict';

/** Where to go once signed in: the page asked for, else the Integration Library. */
function afterSignIn() {
  const asked = location.hash;
  go(asked && !asked.startsWith('#/signin') && !asked.startsWith('#/invite') ? asked : '#/integrations/library');
}

/** Shows `text` under `f` (a field()), or a notice in `top` when there is no such field. */
function fieldErrors(err, own, top, title) {
  let shown = false;
  if (err.status === 422 || err.status === 400) {
    for (const [k, v] of Object.entries(err.fields || {})) if (own[k]) { own[k].show(v); shown = true; }
  }
  if (!shown) clear(top).append(notice('error', title, err.message));
}

function signIn() {
  const email = field('email', 'Email', h('input', {type: 'email', autocomplete: 'username', spellcheck: 'false', required: true}), null);
  const password = field('password', 'Password', h('input', {type: 'password', autocomplete: 'current-password', required: true}), null);
  const top = h('div', {id: 'signin-result', 'aria-live': 'assertive'});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {id: 'signin-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clear(top);
    email.show(null);
    password.show(null);
    if (!email.input.value.trim()) return email.show('is required');
    if (!password.input.value) return password.show('is required');
    button.disabled = true;
    try {
      const answer = await publicApi('POST', '/auth/login', {email: email.input.value.trim(), password: password.input.value});
      forgetSession();
      keepSession(answer);
      afterSignIn();
    } catch (err) {
      password.input.value = '';
      if (err.status === 401) {
        clear(top).append(notice('error', 'Email or password is wrong', 'Check both and try again. After five failed attempts the account is locked for 15 minutes.'));
        password.input.focus();
      } else if (err.status === 423) {
        clear(top).append(notice('error', 'This account is locked', err.message));
      } else fieldErrors(err, {email, password}, top, 'You are not signed in');
    } finally { button.disabled = false; }
  }}, top, email.node, password.node, h('div', {class: 'actions'}, button));

  const token = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help'});
  const tokenError = h('p', {id: 'token-error', class: 'field-error', hidden: true});
  const tokenButton = h('button', {type: 'submit'}, 'Sign in with the token');
  const tokenForm = h('form', {id: 'token-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    tokenError.hidden = true;
    token.removeAttribute('aria-invalid');
    if (!token.value.trim()) return fail('Enter the token.');
    tokenButton.disabled = true;
    forgetSession();
    keepSession(token.value.trim());
    try {
      me = await api('GET', '/auth/me', undefined, true);
      afterSignIn();
    } catch (err) {
      forgetSession();
      fail(err.status === 401 ? 'signal-edge did not accept this token.' : err.message);
    } finally { tokenButton.disabled = false; }
  }},
  h('div', {class: 'field'}, h('label', {for: 'token'}, 'API token'), token,
    h('p', {id: 'token-help', class: 'help'}, 'A token made on the Users page (sat_…), or the admin token for automation: SIGNAL_ADMIN_TOKEN, or admin-token in the data directory. It is kept for this browser tab only.'),
    tokenError),
  h('div', {class: 'actions'}, tokenButton));
  function fail(text) {
    tokenError.textContent = text;
    tokenError.hidden = false;
    token.setAttribute('aria-invalid', 'true');
    token.setAttribute('aria-describedby', 'token-error token-help');
    token.focus();
  }

  clear(app).append(h('div', {class: 'signin'}, h('div', {class: 'panel'},
    h('h1', {}, 'signal-edge'),
    h('p', {class: 'sub'}, 'Sign in to manage integrations and watch live events.'),
    flash ? notice(flash.kind, null, flash.text) : null,
    form,
    h('p', {class: 'help'}, 'New here? Open the invitation link you were sent (on a new node: the one signal-edge printed on its first start).'),
    h('details', {class: 'use-token', id: 'use-token'}, h('summary', {}, 'Use an API token instead'), tokenForm))));
  flash = null;
  email.input.focus();
}

/** `#/invite/<token>`: an invitation becomes an account, and its holder is signed in. */
function invitationPage(invitation) {
  const email = field('email', 'Email', h('input', {type: 'email', autocomplete: 'username', spellcheck: 'false'}),
    'You sign in with it. An invitation made on the Users page already has your email, and keeps it.');
  const password = field('password', 'Password', h('input', {type: 'password', autocomplete: 'new-password'}),
    'At least 12 characters.');
  const repeat = field('repeat', 'Password again', h('input', {type: 'password', autocomplete: 'new-password'}), null);
  const top = h('div', {id: 'invite-result', 'aria-live': 'assertive'});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Create the account and sign in');
  const form = h('form', {id: 'invite-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clear(top);
    for (const f of [email, password, repeat]) f.show(null);
    if (password.input.value.length < 12) return password.show('must be at least 12 characters');
    if (repeat.input.value !== password.input.value) return repeat.show('is not the same password');
    button.disabled = true;
    try {
      const answer = await publicApi('POST', '/auth/invitation',
        {token: invitation, email: email.input.value.trim(), password: password.input.value});
      forgetSession();
      keepSession(answer);
      flash = {kind: 'ok', text: 'Welcome: your account is ready, you are signed in as ' + answer.user.email + ' (' + answer.user.role + ').'};
      go('#/integrations/library');
    } catch (err) {
      if (err.status === 401) clear(top).append(notice('error', 'This invitation cannot be used', 'It is unknown, already used or expired (invitations last 7 days). Ask an admin for a new one.'));
      else if (err.status === 409) email.show('is taken by another user.');
      else fieldErrors(err, {email, password}, top, 'The account was not created');
    } finally { button.disabled = false; }
  }}, top, email.node, password.node, repeat.node, h('div', {class: 'actions'}, button));
  clear(app).append(h('div', {class: 'signin'}, h('div', {class: 'panel'},
    h('h1', {}, 'Join signal-edge'),
    h('p', {class: 'sub'}, 'You were invited to manage this edge node. Choose the email and password you will sign in with.'),
    form, h('p', {class: 'help'}, h('a', {href: '#/signin'}, 'I already have an account')))));
  email.input.focus();
}
