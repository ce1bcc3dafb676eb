// Payouts (admins only, as the API allows; issue 24): the cash payouts by state with the
// shopper's payment details masked, the shop's own account for SEPA transfers, and SEPA
// batches: create one of every claimed bank payout, download its pain.001 file for the
// bank, mark it paid once the bank has executed it. A claimed bank payout SEPA cannot pay
// (not in EUR) says so in its row.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {formatMoney} from './pages-entry.js';
import {time} from './view.js';

const STATES = ['claimed', 'pending', 'processing', 'paid', 'failed', 'cancelled', 'blocked'];
const BATCHES = '/api/v1/payout-batches';
const ACCOUNT = '/api/v1/payout-account';

function payeeText(payee) {
  if (!payee) return t('payouts.noPayee');
  return `${t(`payouts.method.${payee.method}`)}: ${payee.account}`;
}

export async function payoutsPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('payouts.title'));
  const heading = h('h1', {id: 'page-title', tabindex: '-1'}, t('payouts.title'));
  if (!app.user || app.user.role !== 'admin') {
    append(ctx.main, heading, messageBox('info', t('payouts.adminsOnly')));
    return;
  }
  const problems = h('div', {class: 'problems'});
  const say = (kind, text) => {
    clear(problems).append(messageBox(kind, text));
    if (kind !== 'error') announce(text);
  };
  const failed = (error) => say('error', t('error.server', {message: error.message}));

  // --- the shop's account ---
  const accountNow = h('p', {class: 'payout-account'});
  const name = h('input', {name: 'account-name', maxlength: '70', autocomplete: 'organization'});
  const iban = h('input', {name: 'account-iban', maxlength: '50', autocomplete: 'off',
                           spellcheck: 'false'});
  const bic = h('input', {name: 'account-bic', maxlength: '11', autocomplete: 'off',
                          spellcheck: 'false'});
  const accountForm = h('form', {class: 'panel', 'aria-labelledby': 'account-title',
                                 novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    try {
      const saved = (await api.request('PUT', ACCOUNT, {body: {
        name: name.value.trim(), iban: iban.value.trim(),
        ...(bic.value.trim() ? {bic: bic.value.trim()} : {})}})).data;
      iban.value = '';
      showAccount(saved);
      say('success', t('payouts.accountSaved'));
    } catch (error) {
      failed(error);  // the API's message names the field (iban: not a valid IBAN …)
    }
  }},
  h('h2', {id: 'account-title'}, t('payouts.account')), accountNow,
  h('div', {class: 'filter-fields'},
    field(t('payouts.accountName'), name).wrapper,
    field(t('payouts.iban'), iban).wrapper,
    field(t('payouts.bic'), bic, t('payouts.bicHint')).wrapper),
  h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'secondary'},
    t('payouts.saveAccount'))));

  function showAccount(account) {
    accountNow.textContent = account
      ? t('payouts.accountIs', {name: account.name, iban: account.iban, bic: account.bic || '–'})
      : t('payouts.noAccount');
    if (account) name.value = account.name;
  }

  // --- payouts by state ---
  const state = h('select', {name: 'payout-state', onchange: () => loadPayouts()},
    STATES.map((s) => h('option', {value: s}, t(`payout.${s}`))));
  const payoutRows = h('tbody');
  const noPayouts = h('p', {class: 'empty', hidden: true}, t('payouts.empty'));

  async function loadPayouts() {
    const rows = (await api.get('/api/v1/payouts', {query: {status: state.value}})).data;
    clear(payoutRows).append(...rows.map((p) => h('tr', {dataset: {id: p.id, status: p.status}},
      h('td', {}, time(p.created_at)),
      h('td', {}, p.kind === 'voucher' ? t('payouts.voucher') : formatMoney(Number(p.amount), p.currency)),
      h('td', {}, t(`payout.${p.status}`)),
      h('td', {}, payeeText(p.payee), p.not_batchable
        ? h('p', {class: 'hint not-batchable'}, t('payouts.notBatchable')) : null),
      h('td', {}, h('a', {href: `/app/entries/${encodeURIComponent(p.response_id)}`},
        t('payouts.entry'))))));
    noPayouts.hidden = rows.length > 0;
  }

  // --- SEPA batches ---
  const batchRows = h('tbody');
  const noBatches = h('p', {class: 'empty', hidden: true}, t('payouts.noBatches'));

  async function markPaid(batch, button) {
    button.disabled = true;
    try {
      await api.post(`${BATCHES}/${encodeURIComponent(batch.id)}/mark-paid`, {});
      say('success', t('payouts.batchPaid', {count: batch.count}));
      await Promise.all([loadBatches(), loadPayouts()]);
    } catch (error) {
      button.disabled = false;
      failed(error);
    }
  }

  async function loadBatches() {
    const batches = (await api.get(BATCHES)).data;
    clear(batchRows).append(...batches.map((b) => {
      const file = `${BATCHES}/${encodeURIComponent(b.id)}/pain.001`;
      const pay = h('button', {type: 'button', class: 'primary'}, t('payouts.markBatchPaid'));
      pay.addEventListener('click', () => markPaid(b, pay));
      return h('tr', {dataset: {id: b.id, status: b.status}},
        h('td', {}, time(b.created_at)),
        h('td', {}, String(b.count)),
        h('td', {}, formatMoney(Number(b.total), b.currency)),
        h('td', {}, t(`payouts.batch.${b.status}`)),
        h('td', {}, h('a', {href: file, download: `${b.message_id}.xml`, class: 'button secondary',
                            'aria-label': t('payouts.downloadOne', {id: b.message_id})},
        'pain.001'), ' ', b.status === 'open' ? pay : null));
    }));
    noBatches.hidden = batches.length > 0;
  }

  const create = h('button', {type: 'button', class: 'primary'}, t('payouts.createBatch'));
  create.addEventListener('click', async () => {
    create.disabled = true;
    try {
      const batch = (await api.post(BATCHES, {})).data;
      say('success', t('payouts.batchCreated', {count: batch.count}));
      await Promise.all([loadBatches(), loadPayouts()]);
    } catch (error) {
      failed(error);
    } finally {
      create.disabled = false;
    }
  });

  const col = (key) => h('th', {scope: 'col'}, t(key));
  append(ctx.main, heading, ctx.flashBox(), h('p', {}, t('payouts.intro')), problems,
    h('section', {class: 'panel', 'aria-labelledby': 'batches-title'},
      h('h2', {id: 'batches-title'}, t('payouts.batches')),
      h('p', {}, t('payouts.batchesHint')), h('div', {class: 'actions'}, create),
      h('table', {class: 'payout-batches'},
        h('thead', {}, h('tr', {}, col('payouts.col.created'), col('payouts.col.count'),
          col('payouts.col.total'), col('payouts.col.status'), col('payouts.col.actions'))),
        batchRows), noBatches),
    h('section', {class: 'panel', 'aria-labelledby': 'list-title'},
      h('h2', {id: 'list-title'}, t('payouts.list')),
      field(t('payouts.state'), state).wrapper,
      h('table', {class: 'payouts'},
        h('thead', {}, h('tr', {}, col('payouts.col.created'), col('payouts.col.amount'),
          col('payouts.col.status'), col('payouts.col.payee'), col('payouts.col.entry'))),
        payoutRows), noPayouts),
    accountForm);
  try {
    const account = await api.get(ACCOUNT).then((a) => a.data, (error) => {
      if (error.status === 404) return null;
      throw error;
    });
    showAccount(account);
    await Promise.all([loadPayouts(), loadBatches()]);
  } catch (error) {
    failed(error);
  }
}
