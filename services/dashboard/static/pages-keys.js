// The organization's API keys (admins only, as the API allows): listed by prefix, created
// with a name, role and optional end, the whole key shown once with a copy button; rotated
// (the old key works 24 hours more) and revoked after a confirmation.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {time} from './view.js';

const ROLES = ['viewer', 'editor', 'admin'];
const KEYS = '/v1/api-keys';

/** The end of the chosen local day as an instant, or null when no date was chosen. */
function endOfDay(value) {
  if (!value) return null;
  const [year, month, day] = value.split('-').map(Number);
  return new Date(year, month - 1, day, 23, 59, 59).toISOString();
}

/** The whole key, once: selectable text, a copy button, and a visible status of the copy. */
function secretPanel(key, headingKey) {
  const copied = h('span', {class: 'copy-status', role: 'status', 'aria-live': 'polite'});
  const copy = h('button', {type: 'button', class: 'secondary', id: 'copy-key', onclick: async () => {
    copied.textContent = '';
    try {
      await navigator.clipboard.writeText(key.key);
      copied.textContent = t('keys.copied');
    } catch {
      copied.textContent = t('keys.copyFailed');
    }
  }}, t('keys.copy'));
  return h('section', {class: 'panel secret-once', 'aria-labelledby': 'new-key-title'},
    h('h2', {id: 'new-key-title', tabindex: '-1'}, t(headingKey, {name: key.name})),
    h('p', {}, t('keys.once')),
    h('p', {}, h('code', {class: 'secret', id: 'new-key'}, key.key)),
    h('p', {class: 'actions'}, copy, copied));
}

function statusText(key) {
  return h('span', {class: `badge key-${key.status}`}, t(`keys.status.${key.status}`));
}

export async function keysPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('keys.title'));
  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('keys.title')), ctx.flashBox());
  if (!app.user || app.user.role !== 'admin') {
    append(ctx.main, messageBox('info', t('keys.adminOnly')));
    return;
  }
  const problems = h('div', {class: 'problems'});
  const secret = h('div', {class: 'secret-slot'});
  const tbody = h('tbody');

  function failed(error) {
    problems.append(messageBox('error', t('error.server', {message: error.message})));
  }

  function showSecret(key, headingKey) {
    clear(secret).append(secretPanel(key, headingKey));
    document.getElementById('new-key-title').focus();
  }

  function confirmRevoke(cell, key, back) {
    const yes = h('button', {type: 'button', class: 'reject', onclick: async () => {
      yes.disabled = true;
      try {
        await api.del(`${KEYS}/${encodeURIComponent(key.id)}`);
        announce(t('keys.revoked', {name: key.name}));
        await load();
        document.getElementById('page-title').focus();
      } catch (error) {
        yes.disabled = false;
        failed(error);
      }
    }}, t('keys.revokeConfirm'));
    clear(cell).append(h('p', {class: 'confirm', id: `confirm-${key.id}`},
      t('keys.revokeQuestion', {name: key.name})),
    h('div', {class: 'actions'}, yes,
      h('button', {type: 'button', class: 'secondary', onclick: back}, t('keys.cancel'))));
    yes.focus();
  }

  function actions(key) {
    const cell = h('td', {class: 'row-actions'});
    const fill = () => {
      clear(cell);
      if (key.status !== 'active') return;
      cell.append(
        h('button', {type: 'button', class: 'secondary',
                     'aria-label': t('keys.rotateOne', {name: key.name}), onclick: async (event) => {
            event.target.disabled = true;
            clear(problems);
            try {
              const successor = (await api.post(`${KEYS}/${encodeURIComponent(key.id)}/rotate`)).data;
              await load();
              showSecret(successor, 'keys.rotatedTitle');
            } catch (error) {
              event.target.disabled = false;
              failed(error);
            }
          }}, t('keys.rotate')),
        ' ',
        h('button', {type: 'button', class: 'reject', 'aria-label': t('keys.revokeOne', {name: key.name}),
                     onclick: () => confirmRevoke(cell, key, () => {
                       fill();
                       cell.querySelector('button.reject').focus();
                     })}, t('keys.revoke')));
    };
    fill();
    return cell;
  }

  async function load() {
    clear(problems);
    let keys;
    try {
      keys = (await api.get(KEYS)).data;
    } catch (error) {
      failed(error);
      return;
    }
    clear(tbody).append(...keys.map((key) => h('tr', {dataset: {id: key.id}},
      h('th', {scope: 'row'}, key.name || t('none')),
      h('td', {}, h('code', {}, `${key.prefix}…`)),
      h('td', {}, t(`role.${key.role}`)),
      h('td', {}, statusText(key)),
      h('td', {}, key.created_by ? (key.created_by.name || key.created_by.email) : t('keys.operator')),
      h('td', {}, time(key.created_at)),
      h('td', {}, key.expires_at ? time(key.expires_at) : t('keys.never')),
      h('td', {}, key.last_used_at ? time(key.last_used_at) : t('keys.unused')),
      actions(key))));
  }

  const name = h('input', {type: 'text', name: 'key-name', required: true, maxlength: '100',
                           autocomplete: 'off'});
  const role = h('select', {name: 'key-role'},
    ROLES.map((r) => h('option', {value: r}, t(`role.${r}`))));
  const expiry = h('input', {type: 'date', name: 'key-expiry'});
  const formProblems = h('div', {class: 'problems'});
  const form = h('form', {class: 'panel key-form', 'aria-labelledby': 'create-key-title', novalidate: true,
                          onsubmit: async (event) => {
    event.preventDefault();
    clear(formProblems);
    if (!name.value.trim()) {
      formProblems.append(messageBox('error', t('keys.nameMissing')));
      name.focus();
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const body = {name: name.value.trim(), role: role.value};
      const ends = endOfDay(expiry.value);
      if (ends) body.expires_at = ends;
      const created = (await api.post(KEYS, body)).data;
      name.value = '';
      expiry.value = '';
      await load();
      showSecret(created, 'keys.createdTitle');
    } catch (error) {
      // The API's message names the field that is wrong (expires_at, name, role).
      formProblems.append(messageBox('error', t('error.server', {message: error.message})));
    } finally {
      submit.disabled = false;
    }
  }},
  h('h2', {id: 'create-key-title'}, t('keys.create')),
  formProblems,
  h('div', {class: 'filter-fields'},
    field(t('keys.name'), name).wrapper,
    field(t('keys.role'), role).wrapper,
    field(t('keys.expires'), expiry, t('keys.expiresHint')).wrapper),
  h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, t('keys.createSubmit'))));

  append(ctx.main, h('p', {}, t('keys.intro')), form, secret, problems,
    h('table', {class: 'api-keys'},
      h('caption', {class: 'visually-hidden'}, t('keys.caption')),
      h('thead', {}, h('tr', {}, [t('keys.name'), t('keys.prefix'), t('keys.role'), t('keys.status'),
        t('keys.createdBy'), t('keys.created'), t('keys.expires'), t('keys.lastUsed'), t('keys.actions')]
        .map((text) => h('th', {scope: 'col'}, text)))),
      tbody));
  await load();
}
