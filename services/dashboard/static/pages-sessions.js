// The signed-in person's own sessions: where and since when, revocable one by one.

import * as api from './api.js';
import {announce, append, clear, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {time} from './view.js';

export async function sessionsPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('sessions.title'));
  const problems = h('div', {class: 'problems'});
  const tbody = h('tbody');
  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('sessions.title')),
    ctx.flashBox(), h('p', {}, t('sessions.intro')), problems,
    h('table', {class: 'sessions'},
      h('caption', {class: 'visually-hidden'}, t('sessions.title')),
      h('thead', {}, h('tr', {}, [t('sessions.device'), t('sessions.address'),
        t('sessions.created'), t('sessions.lastSeen'), t('sessions.expires'), t('sessions.actions')]
        .map((text) => h('th', {scope: 'col'}, text)))),
      tbody));

  async function load() {
    clear(problems);
    let sessions;
    try {
      sessions = (await api.session.list()).data;
    } catch (error) {
      problems.append(messageBox('error', t('error.server', {message: error.message})));
      return;
    }
    clear(tbody).append(...sessions.map((s) => h('tr', {dataset: {id: s.id}},
      h('td', {}, s.user_agent || t('sessions.unknownDevice'),
        s.current ? h('span', {class: 'badge current'}, t('sessions.current')) : null),
      h('td', {}, s.ip_address || '—'),
      h('td', {}, time(s.created_at)),
      h('td', {}, time(s.last_seen_at)),
      h('td', {}, time(s.expires_at)),
      h('td', {}, s.current
        ? h('button', {type: 'button', class: 'secondary', onclick: () => app.signOut()},
          t('nav.signOut'))
        : h('button', {type: 'button', class: 'reject', onclick: async (event) => {
          event.target.disabled = true;
          try {
            await api.session.revoke(s.id);
            announce(t('sessions.revoked'));
            await load();
            const heading = document.getElementById('page-title');
            if (heading) heading.focus();
          } catch (error) {
            event.target.disabled = false;
            problems.append(messageBox('error', t('error.server', {message: error.message})));
          }
        }, 'aria-label': t('sessions.revokeOne', {device: s.user_agent || t('sessions.unknownDevice')})},
        t('sessions.revoke'))))));
  }
  await load();
}
