// The rewards queue: pending rewards, best quality first; approve or reject each in a
// keystroke (A / R on a focused row), with the API's running totals (money approved and
// paid per currency, counts by state).

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {formatMoney} from './pages-entry.js';
import {excerpt, ratingText, time} from './view.js';

const MAX_ROWS = 2000;

async function allResponses(status) {
  const rows = [];
  let cursor = null;
  do {
    const answer = await api.get('/api/v1/responses', {query: {status, limit: 500,
                                                               ...(cursor ? {cursor} : {})}});
    rows.push(...answer.data);
    cursor = answer.next || null;
  } while (cursor && rows.length < MAX_ROWS);
  return rows;
}

/** The reward a response earns, from its campaign (amount rewards only). */
function rewardOf(campaigns, response) {
  const campaign = response.campaign_id ? campaigns.get(response.campaign_id) : null;
  const reward = campaign && campaign.reward;
  if (!reward || reward.amount === undefined || reward.amount === null) return null;
  return {amount: Number(reward.amount), currency: reward.currency || 'EUR'};
}

/** Amounts per currency (the API's MoneyView list), e.g. "12,00 €, 5,00 $". */
function money(amounts) {
  return amounts.map((m) => formatMoney(m.amount, m.currency)).join(', ') || formatMoney(0, 'EUR');
}

async function totalsNow() {
  return (await api.get('/api/v1/rewards/totals')).data;
}

export async function rewardsPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('rewards.title'));
  const canWrite = app.canWrite();
  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('rewards.title')),
    ctx.flashBox());
  let pending;
  let sums;
  let campaigns;
  try {
    [pending, sums, campaigns] = await Promise.all([
      allResponses('pending'), totalsNow(),
      api.get('/api/v1/campaigns').then((a) => new Map(a.data.map((c) => [c.id, c])))]);
  } catch (error) {
    append(ctx.main, messageBox('error', t('error.server', {message: error.message})));
    return;
  }
  const score = (r) => (r.quality_score === null || r.quality_score === undefined ? -1 : r.quality_score);
  pending.sort((a, b) => score(b) - score(a) || b.created_at.localeCompare(a.created_at));

  const totals = h('dl', {class: 'totals'});
  function showTotals() {
    clear(totals).append(
      h('div', {}, h('dt', {}, t('rewards.pending')),
        h('dd', {}, t('rewards.countAmount', {n: sums.pending, amount: money(sums.pending_amounts)}))),
      h('div', {}, h('dt', {}, t('rewards.approved')),
        h('dd', {}, t('rewards.countAmount', {n: sums.approved, amount: money(sums.approved_amounts)}))),
      h('div', {}, h('dt', {}, t('rewards.paid')),
        h('dd', {}, t('rewards.paidAmount', {amount: money(sums.paid_amounts),
                                             n: sums.vouchers_issued}))),
      h('div', {}, h('dt', {}, t('rewards.rejected')), h('dd', {}, String(sums.rejected))));
  }
  showTotals();

  const reason = h('input', {type: 'text', name: 'reject-reason', maxlength: '2000'});
  const problems = h('div', {class: 'problems'});
  const tbody = h('tbody');

  async function review(tr, response, verdict) {
    clear(problems);
    if (verdict === 'reject' && !reason.value.trim()) {
      problems.append(messageBox('error', t('reward.reasonNeeded')));
      reason.focus();
      return;
    }
    const body = verdict === 'reject' ? {reason: reason.value.trim()} : {};
    for (const b of tr.querySelectorAll('button')) b.disabled = true;
    try {
      await api.post(`${api.responsePath(response.id)}/${verdict}`, body);
      pending.splice(pending.indexOf(response), 1);
      try {
        sums = await totalsNow();
      } catch {
        // the totals shown stay as they were; the next visit reads them again
      }
      const next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      showTotals();
      announce(verdict === 'approve' ? t('reward.approvedNow') : t('reward.rejectedNow'));
      if (next) next.focus(); else reason.focus();
      empty.hidden = pending.length > 0;
    } catch (error) {
      for (const b of tr.querySelectorAll('button')) b.disabled = false;
      problems.append(messageBox('error', t('error.server', {message: error.message})));
    }
  }

  function row(response) {
    const reward = rewardOf(campaigns, response);
    const text = excerpt(response.text, 100) || t('inbox.noText');
    const tr = h('tr', {tabindex: '0', dataset: {id: response.id},
                        'aria-label': t('rewards.rowLabel', {score: response.quality_score ?? '—', text})});
    append(tr,
      h('td', {class: 'number'}, response.quality_score ?? '—'),
      h('td', {}, ratingText(response.rating)),
      h('td', {class: 'feedback'},
        h('a', {href: `/app/entries/${encodeURIComponent(response.id)}`}, text)),
      h('td', {}, time(response.created_at)),
      h('td', {}, reward ? formatMoney(reward.amount, reward.currency) : '—'),
      canWrite ? h('td', {class: 'row-actions'},
        h('button', {type: 'button', class: 'approve', onclick: () => review(tr, response, 'approve'),
                     'aria-label': t('rewards.approveOne', {text})}, t('reward.approve')),
        h('button', {type: 'button', class: 'reject', onclick: () => review(tr, response, 'reject'),
                     'aria-label': t('rewards.rejectOne', {text})}, t('reward.reject'))) : null);
    tr.addEventListener('keydown', (event) => {
      if (event.target !== tr || event.altKey || event.ctrlKey || event.metaKey) return;
      const key = event.key.toLowerCase();
      if (canWrite && key === 'a') {
        event.preventDefault();
        review(tr, response, 'approve');
      } else if (canWrite && key === 'r') {
        event.preventDefault();
        review(tr, response, 'reject');
      } else if (key === 'arrowdown' || key === 'j') {
        event.preventDefault();
        if (tr.nextElementSibling) tr.nextElementSibling.focus();
      } else if (key === 'arrowup' || key === 'k') {
        event.preventDefault();
        if (tr.previousElementSibling) tr.previousElementSibling.focus();
      }
    });
    return tr;
  }

  tbody.append(...pending.map(row));
  const empty = h('p', {class: 'empty', hidden: pending.length > 0}, t('rewards.empty'));
  append(ctx.main, 
    h('section', {class: 'panel', 'aria-labelledby': 'totals-title'},
      h('h2', {id: 'totals-title'}, t('rewards.totals')), totals,
      h('p', {class: 'hint'}, t('rewards.totalsHint'))),
    canWrite ? h('div', {class: 'queue-tools'},
      field(t('rewards.reason'), reason).wrapper,
      h('p', {class: 'hint', id: 'keys-hint'}, t('rewards.keys'))) : null,
    problems, empty,
    h('table', {class: 'queue', 'aria-describedby': canWrite ? 'keys-hint' : null},
      h('caption', {class: 'visually-hidden'}, t('rewards.caption')),
      h('thead', {}, h('tr', {}, [t('inbox.col.quality'), t('inbox.col.rating'),
        t('inbox.col.feedback'), t('inbox.col.received'), t('rewards.amount'),
        canWrite ? t('rewards.actions') : null].filter(Boolean)
        .map((text) => h('th', {scope: 'col'}, text)))),
      tbody));
}
