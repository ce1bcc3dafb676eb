// Data-subject requests (admins only, as the API allows; docs/privacy.md): a shopper's
// export or erasure filed by email (an erasure after a confirmation, it cannot be undone),
// the organization's requests with each service's progress (looked at again every few
// seconds while one is in progress), and a complete export's download as JSON or one CSV
// file per kind.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {time} from './view.js';

const REQUESTS = '/v1/privacy/requests';
const KINDS = ['entries', 'answers', 'notes', 'payouts'];
const POLL_MS = 2000;

function serviceName(service) {
  const key = `privacy.service.${service}`;
  const name = t(key);
  return name === key ? service : name;
}

function progressList(request) {
  return h('ul', {class: 'privacy-progress'}, request.progress.map((part) => h('li', {
    dataset: {service: part.service, status: part.status}},
  `${serviceName(part.service)}: `,
  h('span', {class: `badge privacy-${part.status}`}, t(`privacy.part.${part.status}`)),
  part.completed_at ? [' (', time(part.completed_at), ')'] : null)));
}

function downloads(request) {
  if (request.type !== 'export') return null;
  if (!request.export_available) return t('privacy.exportGone');
  const base = `${REQUESTS}/${encodeURIComponent(request.id)}/export`;
  return h('span', {class: 'privacy-downloads'},
    h('a', {href: base, download: `privacy-${request.id}.json`, class: 'button secondary',
            'aria-label': t('privacy.downloadJsonOne', {id: request.id})}, 'JSON'),
    KINDS.map((kind) => [' ', h('a', {href: `${base}/${kind}`, download: '',
      class: 'button secondary', 'aria-label': t('privacy.downloadCsvOne', {kind: t(`privacy.kind.${kind}`), id: request.id})},
    t(`privacy.kind.${kind}`))]));
}

export async function privacyPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('privacy.title'));
  const heading = h('h1', {id: 'page-title', tabindex: '-1'}, t('privacy.title'));
  if (!app.user || app.user.role !== 'admin') {
    append(ctx.main, heading, messageBox('info', t('privacy.adminsOnly')));
    return;
  }
  const problems = h('div', {class: 'problems'});
  const tbody = h('tbody');
  const empty = h('p', {class: 'empty', hidden: true}, t('privacy.empty'));
  let timer = null;
  let left = false;
  ctx.onLeave(() => {
    left = true;
    clearTimeout(timer);
  });

  async function load() {
    let requests;
    try {
      requests = (await api.get(REQUESTS)).data;
    } catch (error) {
      clear(problems).append(messageBox('error', t('error.server', {message: error.message})));
      return;
    }
    clear(problems);
    clear(tbody).append(...requests.map((request) => h('tr', {dataset: {id: request.id,
      status: request.status}},
    h('td', {}, time(request.requested_at)),
    h('td', {}, t(`privacy.type.${request.type}`)),
    h('td', {}, h('code', {title: request.subject_sha256}, `${request.subject_sha256.slice(0, 12)}…`)),
    h('td', {}, h('span', {class: `badge privacy-${request.status}`},
      t(`privacy.status.${request.status}`))),
    h('td', {}, progressList(request)),
    h('td', {}, downloads(request)))));
    empty.hidden = requests.length > 0;
    clearTimeout(timer);
    if (!left && requests.some((r) => r.status !== 'completed')) timer = setTimeout(load, POLL_MS);
  }

  const email = h('input', {type: 'email', name: 'customer-email', required: true,
                            maxlength: '320', autocomplete: 'off'});
  const kind = h('select', {name: 'request-type'},
    ['export', 'erasure'].map((k) => h('option', {value: k}, t(`privacy.type.${k}`))));
  const formProblems = h('div', {class: 'problems'});
  const confirmSlot = h('div', {class: 'confirm-slot'});

  async function file(type, address, submit) {
    submit.disabled = true;
    try {
      await api.post(REQUESTS, {type, customer_email: address});
      email.value = '';
      clear(confirmSlot);
      announce(t(`privacy.filed.${type}`));
      formProblems.append(messageBox('success', t(`privacy.filed.${type}`)));
      await load();
    } catch (error) {
      // The API's message names the field that is wrong (customer_email).
      formProblems.append(messageBox('error', t('error.server', {message: error.message})));
    } finally {
      submit.disabled = false;
    }
  }

  function confirmErasure(address, submit) {
    const yes = h('button', {type: 'button', class: 'reject', onclick: () => file('erasure', address, yes)},
      t('privacy.eraseConfirm'));
    const no = h('button', {type: 'button', class: 'secondary', onclick: () => {
      clear(confirmSlot);
      submit.focus();
    }}, t('privacy.cancel'));
    clear(confirmSlot).append(h('div', {class: 'panel confirm', role: 'group',
                                        'aria-labelledby': 'erase-question'},
    h('p', {id: 'erase-question'}, t('privacy.eraseQuestion', {email: address})),
    h('div', {class: 'actions'}, yes, ' ', no)));
    yes.focus();
  }

  const form = h('form', {class: 'panel privacy-form', 'aria-labelledby': 'file-request-title',
                          novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clear(formProblems);
    const address = email.value.trim();
    if (!address || !email.checkValidity()) {
      formProblems.append(messageBox('error', t('privacy.emailMissing')));
      email.focus();
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    if (kind.value === 'erasure') confirmErasure(address, submit);
    else await file('export', address, submit);
  }},
  h('h2', {id: 'file-request-title'}, t('privacy.file')),
  formProblems,
  h('div', {class: 'filter-fields'},
    field(t('privacy.email'), email, t('privacy.emailHint')).wrapper,
    field(t('privacy.type'), kind).wrapper),
  h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, t('privacy.submit'))),
  confirmSlot);

  const headers = [t('privacy.col.requested'), t('privacy.col.type'), t('privacy.col.subject'),
    t('privacy.col.status'), t('privacy.col.progress'), t('privacy.col.download')];
  append(ctx.main, heading, ctx.flashBox(), h('p', {}, t('privacy.intro')), form, problems,
    h('table', {class: 'privacy-requests'},
      h('caption', {class: 'visually-hidden'}, t('privacy.caption')),
      h('thead', {}, h('tr', {}, headers.map((text) => h('th', {scope: 'col'}, text)))), tbody),
    empty);
  await load();
}
