// signal-edge management UI: no build step, no dependencies. It talks only to the management
// API (/v1/admin) as the person or token signed in. The files, loaded in this order:
//
// - dom.js: elements, tables, notices, fields.       - session.js: sign-in state, api(), roles.
// - signin.js: the sign-in and invitation pages.     - app.js: the addresses and the sidebar.
// - library.js: the Integration Library, install.    - forms.js: forms from config_fields.
// - integration.js: My Integrations, one of them.    - live.js: Live Events.
// - sources.js, audit.js, users.js: the other pages of the sidebar.
'use strict';

// What the current page started (timers, streams) and must stop when the page changes.
let cleanups = [];
function onLeave(fn) { cleanups.push(fn); }
// A message to show once on the next page (after an install, a delete).
let flash = null;

function go(hash) { if (location.hash === hash) render(); else location.hash = hash; }

function signOut(message) {
  logout();
  flash = message ? {kind: 'warn', text: message} : null;
  go('#/signin');
}

// Each render is numbered: a page that is still loading when the next one starts stops drawing.
let rendering = 0;

async function render() {
  for (const fn of cleanups.splice(0)) { try { fn(); } catch (_) { /* already stopped */ } }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'invite' && parts[1]) return invitationPage(parts[1]);
  if (!session()) return signIn();
  if (parts[0] === 'signin') return go('#/integrations/library');
  const mine = ++rendering;
  try { await whoAmI(); } catch (e) {
    if (mine !== rendering || !session()) return;
    clear(app).append(h('main', {class: 'page'}, notice('error', 'signal-edge could not say who is signed in', e.message),
      h('button', {type: 'button', onclick: () => signOut()}, 'Sign out')));
    return;
  }
  if (mine !== rendering) return;
  const section = ['live', 'sources', 'audit', 'users'].includes(parts[0]) ? parts[0] : 'integrations';
  const main = shell(section);
  if (flash) { main.append(notice(flash.kind, null, flash.text)); flash = null; }
  try {
    if (parts[0] === 'catalog' && parts[1] && parts[2] === 'install') await installPage(main, parts[1]);
    else if (parts[0] === 'catalog' && parts[1]) await blueprintPage(main, parts[1]);
    else if (parts[0] === 'integration' && parts[1]) await integrationPage(main, parts[1], parts[2] || 'overview');
    else if (parts[0] === 'live') await livePage(main, parts[1]);
    else if (parts[0] === 'sources') await sourcesPage(main);
    else if (parts[0] === 'audit') await auditPage(main);
    else if (parts[0] === 'users') await usersPage(main);
    else if (parts[0] === 'integrations' && parts[1] === 'mine') await minePage(main);
    else await libraryPage(main);
  } catch (e) {
    main.append(notice('error', 'This page could not be loaded', e.message));
  }
}

window.addEventListener('hashchange', render);
window.addEventListener('DOMContentLoaded', () => { scheduleRefresh(); render(); });

/** The sidebar (the pages, who is signed in and their role) and the page's `main`. */
function shell(section) {
  const link = (href, text, key) => h('li', {}, h('a', {href, 'aria-current': section === key ? 'page' : null}, text));
  const main = h('main', {id: 'main', tabindex: '-1'});
  const who = me.user ? me.user.email : me.actor;
  clear(app).append(h('div', {class: 'shell'},
    h('aside', {class: 'side'},
      h('div', {class: 'brand'}, 'signal-edge', h('small', {}, 'edge node management')),
      h('nav', {'aria-label': 'Main'}, h('ul', {},
        link('#/integrations/library', 'Integrations', 'integrations'),
        link('#/live', 'Live Events', 'live'),
        link('#/sources', 'Sources', 'sources'),
        link('#/audit', 'Audit log', 'audit'),
        link('#/users', 'Users', 'users'))),
      h('div', {class: 'spacer'}),
      h('section', {class: 'who', id: 'who', 'aria-label': 'Signed in'},
        h('span', {class: 'who-name', title: who}, who),
        h('span', {class: 'who-role'}, badge(me.role, 'role'), me.kind === 'token' ? ' · API token' : null)),
      h('button', {type: 'button', id: 'sign-out', onclick: () => signOut()}, 'Sign out')),
    main));
  return main;
}

/** Where a page says that the signed-in role may not do what the address asks. */
function notAllowed(main, needs) {
  main.append(notice('warn', 'Not available to your role',
    'This needs the ' + needs + ' role or higher; you are signed in as ' + me.role + '.'));
}
