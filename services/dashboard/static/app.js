// The dashboard's shell: who is signed in, the banner, and the client-side router
// (History API; every path under /app/ is served the same page).

import * as api from './api.js';
import {announce, clear, h, messageBox} from './dom.js';
import {LANGUAGES, language, setLanguage, t} from './i18n.js';
import {
  forgotPage, invitationPage, resetPage, signInPage, takeFragmentToken,
} from './pages-auth.js';
import {analyticsPage} from './pages-analytics.js';
import {auditPage} from './pages-audit.js';
import {entryPage} from './pages-entry.js';
import {inboxPage} from './pages-inbox.js';
import {payoutsPage} from './pages-payouts.js';
import {privacyPage} from './pages-privacy.js';
import {rewardsPage} from './pages-rewards.js';
import {keysPage} from './pages-keys.js';
import {sessionsPage} from './pages-sessions.js';
import {teamPage} from './pages-team.js';
import {webhooksPage} from './pages-webhooks.js';
import {widgetEditorPage, widgetsPage} from './pages-widgets.js';

const BASE = '/app';
const CACHE_MS = 60_000;

const ROUTES = [
  {path: /^\/?$/, page: inboxPage, signedIn: true, nav: 'inbox'},
  {path: /^\/entries\/([^/]+)\/?$/, page: entryPage, signedIn: true, nav: 'inbox'},
  {path: /^\/rewards\/?$/, page: rewardsPage, signedIn: true, nav: 'rewards'},
  {path: /^\/payouts\/?$/, page: payoutsPage, signedIn: true, nav: 'payouts'},
  {path: /^\/sessions\/?$/, page: sessionsPage, signedIn: true, nav: 'sessions'},
  {path: /^\/team\/?$/, page: teamPage, signedIn: true, nav: 'team'},
  {path: /^\/settings\/api-keys\/?$/, page: keysPage, signedIn: true, nav: 'keys'},
  {path: /^\/webhooks\/?$/, page: webhooksPage, signedIn: true, nav: 'webhooks'},
  {path: /^\/webhooks\/([^/]+)\/?$/, page: webhooksPage, signedIn: true, nav: 'webhooks'},
  {path: /^\/audit\/?$/, page: auditPage, signedIn: true, nav: 'audit'},
  {path: /^\/privacy\/?$/, page: privacyPage, signedIn: true, nav: 'privacy'},
  {path: /^\/widgets\/?$/, page: widgetsPage, signedIn: true, nav: 'widgets'},
  {path: /^\/widgets\/([^/]+)\/?$/, page: widgetEditorPage, signedIn: true, nav: 'widgets'},
  {path: /^\/analytics\/?$/, page: analyticsPage, signedIn: true, nav: 'analytics'},
  {path: /^\/sign-in\/?$/, page: signInPage, signedIn: false},
  {path: /^\/forgot-password\/?$/, page: forgotPage, signedIn: false},
  {path: /^\/reset-password\/?$/, page: resetPage, signedIn: null},
  {path: /^\/invitation\/?$/, page: invitationPage, signedIn: null},
];

function decoded(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;  // a malformed escape: the API answers 404 for it
  }
}

function notFoundPage(ctx) {
  ctx.setTitle(t('notFound.title'));
  ctx.main.append(h('h1', {id: 'page-title', tabindex: '-1'}, t('notFound.title')),
    h('p', {}, h('a', {href: '/app/'}, t('entry.back'))));
}

function cached(load) {
  let value = null;
  let at = 0;
  const get = () => {
    if (!value || Date.now() - at > CACHE_MS) {
      at = Date.now();
      value = load().catch(() => {
        value = null;
        return new Map();
      });
    }
    return value;
  };
  get.reset = () => { value = null; };
  return get;
}

class App {
  constructor() {
    this.user = null;
    this.leaving = [];
    this.flashText = null;
    this.token = null;
    this.firstRender = true;
    this.pendingFocus = null;
    this.renderCount = 0;
    this.members = cached(async () => new Map(
      (await api.everyRow('/v1/users')).map((u) => [u.id, u])));
    this.widgets = cached(async () => new Map(
      (await api.everyRow('/v1/widgets')).map((w) => [w.id, w])));
    api.setUnauthorizedHandler(() => this.sessionEnded());
  }

  canWrite() {
    return !!this.user && this.user.role !== 'viewer';
  }

  signedIn(body) {
    this.user = body.user;
    api.setCsrfToken(body.csrf_token);
    this.members.reset();
    this.widgets.reset();
  }

  signedOut() {
    this.user = null;
    api.setCsrfToken(null);
  }

  async signOut() {
    try {
      await api.session.signOut();
    } catch {
      // Signed out either way: the cookie is gone or the session was over.
    }
    this.signedOut();
    this.flash(t('signout.done'));
    this.navigate('/app/sign-in', {replace: true});
  }

  sessionEnded() {
    if (!this.user) return;
    this.signedOut();
    this.flash(t('session.ended'));
    const here = window.location.pathname + window.location.search;
    this.navigate(`/app/sign-in?next=${encodeURIComponent(here)}`, {replace: true});
  }

  flash(text) {
    this.flashText = text;
  }

  takeFlash() {
    const text = this.flashText;
    this.flashText = null;
    return text;
  }

  fragmentToken() {
    return this.token;
  }

  navigate(url, {replace = false} = {}) {
    if (replace) window.history.replaceState(null, '', url);
    else window.history.pushState(null, '', url);
    this.render();
  }

  banner() {
    const banner = document.getElementById('banner');
    clear(banner);
    const route = this.route;
    const languages = h('select', {id: 'language', 'aria-label': t('nav.language'),
      onchange: (event) => {
        setLanguage(event.target.value);
        this.render({keepFocus: 'language'});
      }},
    LANGUAGES.map(([code, name]) => h('option', {value: code, selected: code === language(),
                                                 lang: code}, name)));
    const parts = [h('a', {href: '/app/', class: 'brand'}, 'Resonanz')];
    if (this.user) {
      const link = (name, href) => h('a', {href,
        'aria-current': route && route.nav === name ? 'page' : null}, t(`nav.${name}`));
      parts.push(
        h('nav', {'aria-label': t('nav.main')}, h('ul', {},
          h('li', {}, link('inbox', '/app/')),
          h('li', {}, link('rewards', '/app/rewards')),
          this.user.role === 'admin' ? h('li', {}, link('payouts', '/app/payouts')) : null,
          h('li', {}, link('analytics', '/app/analytics')),
          h('li', {}, link('sessions', '/app/sessions')),
          h('li', {}, link('team', '/app/team')),
          this.user.role === 'admin' ? h('li', {}, link('keys', '/app/settings/api-keys')) : null,
          this.user.role === 'admin' ? h('li', {}, link('audit', '/app/audit')) : null,
          this.user.role === 'admin' ? h('li', {}, link('privacy', '/app/privacy')) : null,
          h('li', {}, link('widgets', '/app/widgets')),
          this.user.role === 'admin' ? h('li', {}, link('webhooks', '/app/webhooks')) : null)),
        h('div', {class: 'account'},
          h('span', {class: 'who'}, this.user.name || this.user.email, ' ',
            h('span', {class: 'badge role'}, t(`role.${this.user.role}`))),
          languages,
          h('button', {type: 'button', class: 'secondary', id: 'sign-out',
                       onclick: () => this.signOut()}, t('nav.signOut'))));
    } else {
      parts.push(h('div', {class: 'account'}, languages));
    }
    banner.append(...parts);
  }

  async render({keepFocus = null} = {}) {
    // A render the page itself starts meanwhile (e.g. the inbox writing its filters into
    // the address) must not lose the control that asked to keep focus.
    if (keepFocus) this.pendingFocus = keepFocus;
    this.renderCount += 1;
    const renderId = this.renderCount;
    for (const leave of this.leaving.splice(0)) leave();
    if (window.location.hash.includes('token=')) this.token = takeFragmentToken();
    const path = window.location.pathname.startsWith(BASE)
      ? window.location.pathname.slice(BASE.length) : window.location.pathname;
    let params = [];
    let route = ROUTES.find((r) => {
      const found = r.path.exec(path);
      if (found) params = found.slice(1).map(decoded);
      return !!found;
    });
    if (route && route.signedIn === true && !this.user) {
      const here = window.location.pathname + window.location.search;
      window.history.replaceState(null, '', `/app/sign-in?next=${encodeURIComponent(here)}`);
      route = ROUTES.find((r) => r.page === signInPage);
    } else if (route && route.signedIn === false && this.user) {
      window.history.replaceState(null, '', '/app/');
      route = ROUTES[0];
    }
    if (route && route.page !== resetPage && route.page !== invitationPage) this.token = null;
    this.route = route;
    document.documentElement.lang = language();
    document.getElementById('skip-link').textContent = t('nav.skip');
    this.banner();
    // The banner is new: a control of its own that kept focus (the language) gets it back
    // now, not only once the page below has loaded its data.
    const kept = this.pendingFocus && document.getElementById(this.pendingFocus);
    if (kept && document.getElementById('banner').contains(kept)) kept.focus();
    const main = document.getElementById('main');
    clear(main);
    main.setAttribute('aria-busy', 'true');
    const flash = this.takeFlash();
    const ctx = {
      app: this, main, params, query: new URLSearchParams(window.location.search),
      setTitle: (title) => { document.title = `${title} · Resonanz`; },
      onLeave: (fn) => this.leaving.push(fn),
      flashBox: () => (flash ? messageBox('success', flash) : null),
    };
    try {
      await (route ? route.page(ctx) : notFoundPage(ctx));
    } catch (error) {
      if (renderId === this.renderCount) {
        main.append(messageBox('error', t('error.server', {message: error.message || String(error)})));
      }
    }
    if (renderId !== this.renderCount) return;
    main.setAttribute('aria-busy', 'false');
    const focusId = this.pendingFocus;
    this.pendingFocus = null;
    if (focusId) {
      const again = document.getElementById(focusId);
      if (again) again.focus();
    } else if (!this.firstRender) {
      const heading = document.getElementById('page-title');
      if (heading && !main.contains(document.activeElement)) heading.focus();
      announce(document.title);
    }
    this.firstRender = false;
  }

  /** Links inside the app change the page without a reload. */
  interceptLinks() {
    document.addEventListener('click', (event) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
          || event.shiftKey || event.altKey) return;
      const link = event.target.closest('a[href]');
      if (!link || link.target || link.hasAttribute('download')) return;
      const url = new URL(link.href, window.location.href);
      if (url.origin !== window.location.origin || !url.pathname.startsWith(BASE)) return;
      if (url.pathname === window.location.pathname && url.search === window.location.search
          && url.hash) return;  // an in-page anchor (the skip link)
      event.preventDefault();
      this.navigate(url.pathname + url.search);
    });
    window.addEventListener('popstate', () => this.render());
  }

  async start() {
    this.interceptLinks();
    try {
      const body = await api.session.current();
      this.signedIn(body);
    } catch {
      this.signedOut();
    }
    await this.render();
  }
}

new App().start();
