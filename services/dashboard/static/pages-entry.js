// One entry: what the shopper wrote, the quality score and why, triage (status with the
// allowed moves only, assignee, notes), the reward and its payout, and the audit trail.

import * as api from './api.js';
import {announce, append, clear, externalLink, field, h, isWebUrl, messageBox} from './dom.js';
import {t} from './i18n.js';
import {facts, personName, ratingText, statusBadge, time, valueText} from './view.js';

export async function entryPage(ctx) {
  const {app} = ctx;
  const id = ctx.params[0];
  ctx.setTitle(t('entry.title'));
  let entry;
  let response;
  let members;
  let widgets;
  try {
    [entry, response, members, widgets] = await Promise.all([
      api.get(api.entryPath(id)).then((a) => a.data),
      api.get(api.responsePath(id)).then((a) => a.data),
      app.members(), app.widgets()]);
  } catch (error) {
    append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('entry.title')),
      messageBox('error', error.status === 404 ? t('entry.notFound')
        : t('error.server', {message: error.message})),
      h('p', {}, h('a', {href: '/app/'}, t('entry.back'))));
    return;
  }
  const view = {entry, response, members, widgets, canWrite: app.canWrite(), me: app.user.id,
                isAdmin: app.user.role === 'admin'};
  const refresh = async (message) => {
    const [fresh, freshResponse] = await Promise.all([
      api.get(api.entryPath(id)).then((a) => a.data),
      api.get(api.responsePath(id)).then((a) => a.data)]);
    view.entry = fresh;
    view.response = freshResponse;
    render();
    if (message) announce(message);
  };

  const container = h('div', {class: 'entry'});
  function render() {
    const focusedName = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.focusName : null;
    clear(container);
    container.append(
      h('div', {class: 'entry-main'},
        shopperSection(view), metadataSection(view), qualitySection(view)),
      h('div', {class: 'entry-side'},
        triageSection(view, refresh), rewardSection(view, refresh), notesSection(view, refresh)),
      auditSection(view));
    if (focusedName) {
      const again = container.querySelector(`[data-focus-name="${CSS.escape(focusedName)}"]`);
      if (again) again.focus();
    }
  }
  render();
  append(ctx.main, 
    h('p', {class: 'breadcrumb'}, h('a', {href: '/app/'}, t('entry.back'))),
    h('h1', {id: 'page-title', tabindex: '-1'}, t('entry.heading'), ' ', time(entry.created_at)),
    ctx.flashBox(), container);
}

function section(name, title, ...content) {
  return h('section', {class: `panel ${name}`, 'aria-labelledby': `${name}-title`},
    h('h2', {id: `${name}-title`}, title), content);
}

function shopperSection({entry, widgets}) {
  const widget = entry.widget_id ? widgets.get(entry.widget_id) : null;
  const answers = Object.entries(entry.answers || {});
  return section('shopper', t('entry.feedback'),
    h('blockquote', {class: 'body'}, entry.body ? entry.body : h('em', {}, t('inbox.noText'))),
    facts([
      [t('entry.rating'), ratingText(entry.rating)],
      [t('entry.category'), entry.category || '—'],
      [t('entry.customerEmail'), entry.customer_email || '—'],
      [t('entry.widget'), widget ? widget.name : (entry.widget_id || '—')],
      [t('entry.status'), statusBadge(entry.status)],
    ]),
    h('h3', {}, t('entry.answers')),
    answers.length
      ? facts(answers.map(([question, answer]) => [question, answerValue(answer)]), 'facts answers')
      : h('p', {class: 'empty'}, t('entry.noAnswers')));
}

function answerValue(value) {
  return isWebUrl(value) ? externalLink(value) : valueText(value);
}

function metadataSection({entry}) {
  const pairs = Object.entries(entry.metadata || {});
  return section('metadata', t('entry.metadata'), pairs.length
    ? facts(pairs.map(([key, value]) => [key, answerValue(value)]), 'facts metadata')
    : h('p', {class: 'empty'}, t('entry.noMetadata')));
}

function qualitySection({response}) {
  const quality = response.quality;
  if (!quality) return section('quality', t('entry.quality'), h('p', {class: 'empty'}, t('entry.noQuality')));
  const components = Object.entries(quality.components || {});
  return section('quality', t('entry.quality'),
    h('p', {class: 'score'}, t('entry.score', {score: quality.score ?? '—'}), ' ',
      quality.label ? h('span', {class: 'badge'}, valueText(quality.label)) : null),
    h('table', {class: 'components'},
      h('caption', {class: 'visually-hidden'}, t('entry.components')),
      h('thead', {}, h('tr', {}, [t('entry.component'), t('entry.points'), t('entry.reason')]
        .map((text) => h('th', {scope: 'col'}, text)))),
      h('tbody', {}, components.map(([name, c]) => h('tr', {},
        h('th', {scope: 'row'}, name),
        h('td', {class: 'number'}, c.max ? `${c.points} / ${c.max}` : String(c.points)),
        h('td', {}, valueText(c.reason)))))));
}

function problemBox() {
  return h('div', {class: 'problems'});
}

async function attempt(box, action) {
  clear(box);
  try {
    await action();
  } catch (error) {
    box.append(messageBox('error', error instanceof api.ApiError
      ? t('error.server', {message: error.message}) : error.message));
  }
}

function triageSection(view, refresh) {
  const {entry, members, canWrite, me} = view;
  const assignee = entry.assigned_to ? personName(members, entry.assigned_to) : t('assignee.nobody');
  if (!canWrite) {
    return section('triage', t('entry.triage'), facts([
      [t('entry.status'), statusBadge(entry.status)],
      [t('entry.assignee'), assignee]]));
  }
  const problems = problemBox();
  // The API says which moves the entry allows now (the feedback service's workflow).
  const moves = entry.allowed_transitions || [];
  const status = h('select', {name: 'status', dataset: {focusName: 'status'}},
    h('option', {value: ''}, t('entry.chooseMove')),
    moves.map((s) => h('option', {value: s}, t(`status.${s}`))));
  const statusForm = h('form', {class: 'inline-form', onsubmit: (event) => {
    event.preventDefault();
    if (!status.value) return;
    const wanted = status.value;
    attempt(problems, async () => {
      await api.patch(api.entryPath(entry.id), {status: wanted});
      await refresh(t('entry.statusChanged', {status: t(`status.${wanted}`)}));
    });
  }}, field(t('entry.moveTo'), status, t('entry.current', {status: t(`status.${entry.status}`)})).wrapper,
  h('button', {type: 'submit', class: 'primary', dataset: {focusName: 'status-submit'},
               disabled: moves.length === 0}, t('entry.changeStatus')));

  const who = h('select', {name: 'assignee', dataset: {focusName: 'assignee'}},
    h('option', {value: ''}, t('assignee.nobody')),
    [...members.values()].filter((m) => m.status !== 'removed').map((m) => h('option', {
      value: m.id, selected: m.id === entry.assigned_to}, m.name ? `${m.name} (${m.email})` : m.email)),
    entry.assigned_to && !members.has(entry.assigned_to)
      ? h('option', {value: entry.assigned_to, selected: true}, entry.assigned_to) : null);
  const assign = (value) => attempt(problems, async () => {
    await api.patch(api.entryPath(entry.id), {assignee: value || null});
    await refresh(value ? t('entry.assigned', {name: personName(members, value)}) : t('entry.unassigned'));
  });
  const assignForm = h('form', {class: 'inline-form', onsubmit: (event) => {
    event.preventDefault();
    assign(who.value);
  }}, field(t('entry.assignee'), who).wrapper,
  h('button', {type: 'submit', class: 'secondary', dataset: {focusName: 'assign-submit'}},
    t('entry.assign')),
  entry.assigned_to !== me ? h('button', {type: 'button', class: 'secondary',
    dataset: {focusName: 'assign-me'}, onclick: () => assign(me)}, t('entry.assignMe')) : null);

  return section('triage', t('entry.triage'),
    h('p', {}, t('entry.statusNow'), ' ', statusBadge(entry.status)),
    statusForm, assignForm, problems);
}

function rewardSection(view, refresh) {
  const {response, canWrite} = view;
  const state = String(response.status || '').toLowerCase();
  const payout = response.payout;
  const rows = [
    [t('reward.state'), h('span', {class: `badge reward-${state}`}, t(`reward.${state}`))],
    response.reviewed_at ? [t('reward.reviewedAt'), time(response.reviewed_at)] : null,
    response.review_reason ? [t('reward.reason'), response.review_reason] : null,
    [t('reward.payout'), payout ? payoutText(payout) : t('reward.noPayout')],
  ];
  const parts = [facts(rows)];
  const allowed = response.allowed_transitions || [];
  if (canWrite && allowed.length) {
    const problems = problemBox();
    const reason = h('textarea', {name: 'reason', rows: '2', maxlength: '2000',
                                  dataset: {focusName: 'reason'}});
    const review = (verdict) => attempt(problems, async () => {
      if (verdict === 'reject' && !reason.value.trim()) {
        throw new Error(t('reward.reasonNeeded'));
      }
      const body = reason.value.trim() ? {reason: reason.value.trim()} : {};
      await api.post(`${api.responsePath(response.id)}/${verdict}`, body);
      await refresh(verdict === 'approve' ? t('reward.approvedNow') : t('reward.rejectedNow'));
    });
    parts.push(h('form', {class: 'review', onsubmit: (event) => event.preventDefault()},
      field(t('reward.reasonLabel'), reason, t('reward.reasonHint')).wrapper,
      h('div', {class: 'actions'},
        allowed.includes('APPROVED') ? h('button', {type: 'button', class: 'approve',
          dataset: {focusName: 'approve'}, onclick: () => review('approve')}, t('reward.approve'))
          : null,
        allowed.includes('REJECTED') ? h('button', {type: 'button', class: 'reject',
          dataset: {focusName: 'reject'}, onclick: () => review('reject')}, t('reward.reject'))
          : null),
      problems));
  }
  if (view.isAdmin && payout) parts.push(payoutActions(payout, refresh));
  return section('reward', t('entry.reward'), parts);
}

// What an admin may still do with a payout: cash the shop has transferred is marked paid
// (with the transfer's reference); a failed payment or one not to be made ends it unpaid.
function payoutActions(payout, refresh) {
  const open = ['pending', 'claimed', 'processing'].includes(payout.status);
  const cash = payout.kind === 'amount';
  if (!open && payout.status !== 'blocked') return null;
  const problems = problemBox();
  const note = h('input', {type: 'text', name: 'payout-note', maxlength: '140',
                           dataset: {focusName: 'payout-note'}});
  const mark = (action, done) => attempt(problems, async () => {
    const text = note.value.trim();
    if (action !== 'mark-paid' && !text) throw new Error(t('payout.reasonNeeded'));
    const body = text ? (action === 'mark-paid' ? {reference: text} : {reason: text}) : {};
    await api.post(`/api/v1/payouts/${encodeURIComponent(payout.id)}/${action}`, body);
    await refresh(t(done));
  });
  return h('form', {class: 'review payout-actions', onsubmit: (event) => event.preventDefault()},
    field(t('payout.noteLabel'), note, t('payout.noteHint')).wrapper,
    h('div', {class: 'actions'},
      open && cash ? h('button', {type: 'button', class: 'approve',
        dataset: {focusName: 'mark-paid'}, onclick: () => mark('mark-paid', 'payout.paidNow')},
      t('payout.markPaid')) : null,
      open && cash ? h('button', {type: 'button', class: 'reject',
        dataset: {focusName: 'mark-failed'},
        onclick: () => mark('mark-failed', 'payout.failedNow')}, t('payout.markFailed')) : null,
      h('button', {type: 'button', class: 'secondary', dataset: {focusName: 'cancel-payout'},
        onclick: () => mark('cancel', 'payout.cancelledNow')}, t('payout.cancel'))),
    problems);
}

export function payoutText(payout) {
  const state = t(`payout.${payout.status}`);
  if (payout.kind === 'amount' && payout.amount !== null && payout.amount !== undefined) {
    return t('payout.amount', {state, amount: formatMoney(payout.amount, payout.currency)});
  }
  if (payout.kind === 'voucher') return t('payout.voucher', {state});
  return state;
}

export function formatMoney(amount, currency) {
  const value = Number(amount);
  try {
    return new Intl.NumberFormat(document.documentElement.lang, {style: 'currency',
      currency: currency || 'EUR'}).format(value);
  } catch {
    return `${amount} ${currency || ''}`.trim();
  }
}

function notesSection(view, refresh) {
  const {entry, members, canWrite} = view;
  const notes = entry.notes || [];
  const list = notes.length
    ? h('ol', {class: 'notes'}, notes.map((note) => h('li', {},
      h('p', {class: 'note-meta'}, personName(members, note.author), ' · ', time(note.created_at)),
      h('p', {class: 'note-body'}, note.body))))
    : h('p', {class: 'empty'}, t('notes.none'));
  if (!canWrite) return section('notes', t('entry.notes'), list);
  const problems = problemBox();
  const body = h('textarea', {name: 'note', rows: '3', maxlength: '5000', required: true,
                              dataset: {focusName: 'note'}});
  const form = h('form', {class: 'note-form', onsubmit: (event) => {
    event.preventDefault();
    const text = body.value.trim();
    if (!text) {
      body.focus();
      return;
    }
    attempt(problems, async () => {
      await api.patch(api.entryPath(entry.id), {note: text});
      await refresh(t('notes.added'));
    });
  }}, field(t('notes.add'), body).wrapper,
  h('button', {type: 'submit', class: 'primary', dataset: {focusName: 'note-submit'}},
    t('notes.submit')), problems);
  return section('notes', t('entry.notes'), list, form);
}

function auditSection({entry, members}) {
  const rows = entry.audit_trail || [];
  const shown = (key, value) => (key === 'assignee' && value ? personName(members, value)
    : valueText(value));
  const change = (before, after) => {
    const was = before || {};
    const now = after || {};
    const keys = [...new Set([...Object.keys(was), ...Object.keys(now)])];
    if (!before) {  // created: what it started with
      return keys.filter((k) => now[k] !== null && now[k] !== undefined && now[k] !== false)
        .map((k) => `${k}: ${shown(k, now[k])}`).join('; ');
    }
    return keys.filter((k) => JSON.stringify(was[k] ?? null) !== JSON.stringify(now[k] ?? null))
      .map((k) => `${k}: ${shown(k, was[k])} → ${shown(k, now[k])}`).join('; ');
  };
  return section('audit', t('entry.audit'), rows.length ? h('table', {class: 'audit'},
    h('caption', {class: 'visually-hidden'}, t('entry.audit')),
    h('thead', {}, h('tr', {}, [t('audit.at'), t('audit.actor'), t('audit.action'),
      t('audit.change')].map((text) => h('th', {scope: 'col'}, text)))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('td', {}, time(r.at)), h('td', {}, r.actor ? personName(members, r.actor) : '—'),
      h('td', {}, r.action), h('td', {}, change(r.before, r.after) || '—')))))
    : h('p', {class: 'empty'}, t('audit.none')));
}
