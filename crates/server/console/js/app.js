// The console's shell: sign-in, the navigation, and the router that puts
// one page at a time in the main area (pages by the location's #fragment,
// so the browser's back button and bookmarks work without a server round).

import { ApiError, get, signIn, signOut, token } from './api.js';
import { h } from './dom.js';
import { overview } from './pages/overview.js';
import { host } from './pages/host.js';
import { findings } from './pages/findings.js';
import { access } from './pages/access.js';
import { ledger } from './pages/ledger.js';
import { policies } from './pages/policies.js';

/** The pages: the fragment's first part, the navigation's label, and the
 *  function that renders it (given the rest of the path and the query). */
const PAGES = [
  { path: 'overview', label: 'Fleet', render: overview },
  { path: 'findings', label: 'Findings', render: findings },
  { path: 'access', label: 'Grants & blocks', render: access },
  { path: 'ledger', label: 'Ledger', render: ledger },
  { path: 'policies', label: 'Policies', render: policies },
  { path: 'host', label: null, parent: 'overview', render: host },
];

const app = document.getElementById('app');

function signInPage(message) {
  const input = h('input', {
    type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'prt_… or an OIDC ID token', required: true,
  });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const form = h('form', {
    class: 'signin-card',
    onsubmit: async (event) => {
      event.preventDefault();
      const secret = input.value.trim();
      error.textContent = '';
      try {
        await get('/hosts', secret);
        signIn(secret);
        input.value = '';
        if (!location.hash || location.hash === '#/') location.hash = '#/overview';
        render();
      } catch (e) {
        error.textContent = e instanceof ApiError && e.status === 401
          ? `Not signed in: ${e.message}.`
          : e.message;
      }
    },
  },
  h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-mark' }, 'pr'), 'portreeve'),
  h('h1', null, 'Sign in to the fleet console'),
  h('p', { class: 'muted' },
    'Paste an API token (', h('code', null, 'portreeve server token create --role viewer'),
    ') or an ID token from your identity provider. It is kept in this tab only.'),
  h('label', { for: 'token' }, 'Token'),
  input,
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  error);
  app.replaceChildren(h('main', { class: 'signin' }, form));
  input.focus();
}

/** The fragment as a page, the rest of its path, and its query. */
function route() {
  const fragment = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = fragment.split('?');
  const [first, ...rest] = path.split('/');
  const page = PAGES.find((p) => p.path === first) ?? PAGES[0];
  return { page, rest: rest.map(decodeURIComponent), query: new URLSearchParams(query) };
}

function shell(current) {
  const main = h('main', { class: 'content', id: 'content' });
  const nav = h('nav', { class: 'sidebar', 'aria-label': 'Pages' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, 'pr'), 'portreeve'),
    h('ul', null, PAGES.filter((p) => p.label).map((p) =>
      h('li', null, h('a', {
        href: `#/${p.path}`,
        class: (current.path === p.path || current.parent === p.path) ? 'active' : null,
      }, p.label)))),
    h('button', {
      class: 'signout',
      onclick: () => { signOut(); signInPage('Signed out.'); },
    }, 'Sign out'));
  app.replaceChildren(h('div', { class: 'layout' }, nav, main));
  return main;
}

let rendering = 0;

async function render() {
  if (!token()) {
    signInPage();
    return;
  }
  const { page, rest, query } = route();
  const main = shell(page);
  main.append(h('p', { class: 'loading' }, 'Loading…'));
  const mine = ++rendering;
  try {
    const body = await page.render(rest, query);
    if (mine === rendering) main.replaceChildren(...[body].flat());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut();
      signInPage(`Signed out: ${e.message}.`);
      return;
    }
    if (mine === rendering) {
      main.replaceChildren(h('div', { class: 'panel error-panel', role: 'alert' },
        h('h2', null, 'This page could not be shown'), h('p', null, e.message)));
    }
  }
}

window.addEventListener('hashchange', render);
render();
