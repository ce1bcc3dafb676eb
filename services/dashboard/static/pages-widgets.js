// The shop's widgets: a list with each one's state, and an editor (questions, placement,
// trigger, theme, languages, origins, reward rules) with a live preview that runs the real
// widget.js on the unsaved draft. A pure client of /v1/widgets (FeedBackPro); the reward
// rules, which that dialect does not show, are read from /api/v1/campaigns, and what is spent
// of the reward budget from /api/v1/rewards/totals.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox, uid} from './dom.js';
import {language, t} from './i18n.js';
import {formatMoney} from './pages-entry.js';
import {time} from './view.js';

const PREVIEW_URL = '/app/preview';
// The public config is cached at most this long (widgets service, public_config_max_age).
const LIVE_WITHIN_MS = 15_000;
const PREVIEW_DELAY_MS = 150;
const TYPES = ['rating', 'single_choice', 'multiple_choice', 'text'];
const TRIGGERS = ['manual', 'scroll-depth', 'exit-intent', 'time-on-page'];
const PLACEMENTS = ['bottom-right', 'bottom-left', 'inline'];
const LANGS = ['de', 'en'];
const DEFAULT_THEME = {primary_color: '#0f766e', background_color: '#ffffff',
  text_color: '#1f2937', font_family: 'system-ui, sans-serif', border_radius: 12};

const widgetPath = (id) => `/v1/widgets/${encodeURIComponent(id)}`;
const editorHref = (w) => `/app/widgets/${encodeURIComponent(w.public_id || w.id)}`;

function widgetStatus(widget) {
  return h('span', {class: `badge widget-${String(widget.status).replace(/[^a-z]/g, '')}`},
    t(`widgets.status.${widget.status}`));
}

/** When a saved change shows on shop pages: the config is cached at most 15 s. */
function liveBy() {
  return new Intl.DateTimeFormat(language(), {hour: '2-digit', minute: '2-digit',
    second: '2-digit', hour12: false}).format(new Date(Date.now() + LIVE_WITHIN_MS));
}

// --- the list ----------------------------------------------------------------------------

export async function widgetsPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('widgets.title'));
  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('widgets.title')),
    ctx.flashBox(),
    app.canWrite() ? h('p', {}, h('a', {href: '/app/widgets/new', class: 'button primary',
                                        id: 'new-widget'}, t('widgets.new'))) : null);
  let widgets;
  try {
    widgets = await api.everyRow('/v1/widgets');
  } catch (error) {
    append(ctx.main, messageBox('error', t('error.server', {message: error.message})));
    return;
  }
  if (!widgets.length) {
    append(ctx.main, h('p', {class: 'empty'}, t('widgets.empty')));
    return;
  }
  const details = (w) => {
    if (w.status !== 'paused') return '—';
    return h('span', {}, w.pause_reason ? t('widgets.pausedBecause', {reason: w.pause_reason})
      : t('widgets.pausedNoReason'),
    w.scheduled_resume ? [' ', t('widgets.resumesAt'), ' ', time(w.scheduled_resume)] : null);
  };
  append(ctx.main, h('table', {class: 'widgets'},
    h('caption', {class: 'visually-hidden'}, t('widgets.caption')),
    h('thead', {}, h('tr', {}, [t('widgets.col.name'), t('widgets.col.status'),
      t('widgets.col.pause'), t('widgets.col.publicId'), t('widgets.col.updated')]
      .map((text) => h('th', {scope: 'col'}, text)))),
    h('tbody', {}, widgets.map((w) => h('tr', {dataset: {id: w.id}},
      h('td', {}, h('a', {href: editorHref(w)}, w.name)),
      h('td', {}, widgetStatus(w)),
      h('td', {}, details(w)),
      h('td', {}, h('code', {}, w.public_id)),
      h('td', {}, time(w.updated_at)))))));
}

// --- the draft: what the form edits -------------------------------------------------------

let questionSerial = 0;
const freshId = (prefix, taken) => {
  let id;
  do { questionSerial += 1; id = `${prefix}${questionSerial}`; } while (taken.includes(id));
  return id;
};

function labels(value) {
  if (typeof value === 'string') return {de: value, en: value};
  return {de: (value && value.de) || '', en: (value && value.en) || ''};
}

function draftOf(widget, campaign) {
  const reward = campaign && campaign.reward;
  return {
    name: widget ? widget.name : '',
    placement: widget ? widget.placement : 'bottom-right',
    trigger: {type: 'manual', percentage: 50, seconds: 10, ...(widget ? widget.trigger : {})},
    theme: {...DEFAULT_THEME, ...(widget ? widget.theme : {})},
    languages: widget ? [...widget.languages] : ['de', 'en'],
    questions: (widget ? widget.questions : [
      {id: 'rating', type: 'rating', required: true,
       label: {de: 'Wie zufrieden sind Sie?', en: 'How satisfied are you?'}},
      {id: 'comment', type: 'text', required: false,
       label: {de: 'Was können wir besser machen?', en: 'What could we do better?'}},
    ]).map((q) => ({id: q.id, type: q.type, required: !!q.required, label: labels(q.label),
      options: (q.options || []).map((o) => ({id: o.id, label: labels(o.label)}))})),
    origins: widget ? widget.allowed_origins.join('\n') : '',
    rewardKind: !reward ? 'none' : reward.voucher_codes ? 'vouchers' : 'amount',
    amount: reward && reward.amount ? String(reward.amount) : '',
    currency: (reward && reward.currency) || 'EUR',
    vouchers: reward && reward.voucher_codes ? reward.voucher_codes.join('\n') : '',
    budget: reward && reward.budget ? String(reward.budget.amount) : '',
    perShopperMax: reward && reward.per_shopper ? String(reward.per_shopper.max_rewards) : '',
    perShopperDays: reward && reward.per_shopper ? String(reward.per_shopper.period_days) : '',
    approveAbove: campaign && campaign.auto_approve_above != null
      ? String(campaign.auto_approve_above) : '',
    rejectBelow: campaign && campaign.auto_reject_below != null
      ? String(campaign.auto_reject_below) : '',
  };
}

const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);
const score = (text) => (text.trim() === '' ? null : Number(text));
const onlyGiven = (label) => Object.fromEntries(
  Object.entries(label).filter(([, text]) => text.trim() !== ''));

function triggerBody(trigger) {
  if (trigger.type === 'scroll-depth') return {type: trigger.type, percentage: Number(trigger.percentage)};
  if (trigger.type === 'time-on-page') return {type: trigger.type, seconds: Number(trigger.seconds)};
  return {type: trigger.type};
}

function questionsBody(draft) {
  return draft.questions.map((q) => ({
    id: q.id, type: q.type, required: q.required, label: onlyGiven(q.label),
    ...(q.type.endsWith('_choice')
      ? {options: q.options.map((o) => ({id: o.id, label: onlyGiven(o.label)}))} : {}),
  }));
}

/** The request body: every setting WidgetIn takes. */
function bodyOf(draft) {
  let reward = null;
  if (draft.rewardKind === 'amount') {
    reward = {amount: draft.amount.trim(), currency: draft.currency.trim().toUpperCase()};
    // In the reward's currency: the API fills it in.
    if (draft.budget.trim()) reward.budget = {amount: draft.budget.trim()};
  } else if (draft.rewardKind === 'vouchers') {
    reward = {voucher_codes: lines(draft.vouchers)};
  }
  if (reward && (draft.perShopperMax.trim() || draft.perShopperDays.trim())) {
    reward.per_shopper = {max_rewards: score(draft.perShopperMax),
      period_days: score(draft.perShopperDays)};
  }
  return {
    name: draft.name.trim(), placement: draft.placement, trigger: triggerBody(draft.trigger),
    theme: {...draft.theme, border_radius: Number(draft.theme.border_radius)},
    languages: draft.languages, questions: questionsBody(draft),
    allowed_origins: lines(draft.origins), reward,
    auto_approve_above: score(draft.approveAbove), auto_reject_below: score(draft.rejectBelow),
  };
}

/** The draft as the public config widget.js reads (what a shop page would get). */
function previewConfig(draft, publicId) {
  return {
    public_id: publicId || 'preview', active: true, status: 'active',
    placement: draft.placement, trigger: triggerBody(draft.trigger), theme: draft.theme,
    languages: draft.languages.length ? draft.languages : ['de', 'en'],
    questions: questionsBody(draft).map((q) => ({...q, options: q.options || []})),
    collect_email: draft.rewardKind !== 'none',
  };
}

// --- the editor ------------------------------------------------------------------------

async function load(id) {
  const widget = (await api.get(widgetPath(id))).data;
  let campaign = null;
  let budget = null;
  try {
    campaign = (await api.get(`/api/v1/campaigns/${encodeURIComponent(widget.id)}`)).data;
  } catch {
    campaign = null;  // the reward rules stay as the form shows them: none
  }
  if (campaign && campaign.reward && campaign.reward.budget) {
    try {
      const path = `/api/v1/rewards/totals?campaign_id=${encodeURIComponent(widget.id)}`;
      budget = (await api.get(path)).data.budget;
    } catch {
      budget = null;  // the budget is shown without what is spent of it
    }
  }
  return {widget, campaign, budget};
}

export async function widgetEditorPage(ctx) {
  const {app} = ctx;
  const isNew = ctx.params[0] === 'new';
  const canWrite = app.canWrite();
  if (isNew && !canWrite) {
    ctx.setTitle(t('widgets.title'));
    append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('widgets.title')),
      messageBox('error', t('widgets.readOnly')));
    return;
  }
  let widget = null;
  let campaign = null;
  let budget = null;
  if (!isNew) {
    try {
      ({widget, campaign, budget} = await load(ctx.params[0]));
    } catch (error) {
      ctx.setTitle(t('notFound.title'));
      append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('notFound.title')),
        messageBox('error', t('error.server', {message: error.message})),
        h('p', {}, h('a', {href: '/app/widgets'}, t('widgets.back'))));
      return;
    }
  }
  const title = isNew ? t('widgets.new') : t('widgets.edit', {name: widget.name});
  ctx.setTitle(title);
  const draft = draftOf(widget, campaign);
  const editor = new Editor(ctx, draft, widget, canWrite);
  editor.budget = budget;
  append(ctx.main,
    h('p', {class: 'breadcrumb'}, h('a', {href: '/app/widgets'}, t('widgets.back'))),
    h('h1', {id: 'page-title', tabindex: '-1'}, title),
    ctx.flashBox(), editor.element());
  editor.startPreview();
}

class Editor {
  constructor(ctx, draft, widget, canWrite) {
    this.ctx = ctx;
    this.draft = draft;
    this.widget = widget;
    this.canWrite = canWrite;
    this.errors = new Map();  // API field path → {slot, input}
    this.summary = h('div', {class: 'problems'});
    this.questionsBox = h('div', {class: 'questions'});
  }

  element() {
    const d = this.draft;
    const form = h('form', {class: 'widget-form', novalidate: true, 'aria-labelledby': 'page-title',
      oninput: () => this.changed(), onchange: () => this.changed(),
      onsubmit: (event) => { event.preventDefault(); this.save(); }},
    h('fieldset', {class: 'plain', disabled: !this.canWrite},
      h('legend', {class: 'visually-hidden'}, t('widgets.settings')),
      this.summary,
      this.text('name', t('widgets.field.name'), d.name, (v) => { d.name = v; }, {required: true, maxlength: '200'}),
      this.section('widgets.questions', this.questionsBox,
        this.canWrite ? h('button', {type: 'button', id: 'add-question', class: 'secondary',
          onclick: () => this.addQuestion()}, t('widgets.addQuestion')) : null),
      this.section('widgets.appearance',
        this.select('placement', t('widgets.field.placement'), PLACEMENTS, d.placement,
          (v) => { d.placement = v; }, (p) => t(`widgets.placement.${p.replace('-', '_')}`)),
        this.triggerFields(),
        h('fieldset', {class: 'choices'}, h('legend', {}, t('widgets.field.languages')),
          this.slot('languages'),
          LANGS.map((lang) => h('label', {class: 'choice'}, h('input', {type: 'checkbox',
            name: 'languages', value: lang, checked: d.languages.includes(lang),
            onchange: (event) => {
              d.languages = LANGS.filter((l) => (l === lang ? event.target.checked : d.languages.includes(l)));
            }}), t(`widgets.lang.${lang}`)))),
        this.themeFields()),
      this.section('widgets.access',
        this.area('allowed_origins', t('widgets.field.origins'), d.origins, (v) => { d.origins = v; },
          t('widgets.hint.origins'))),
      this.section('widgets.rewards', ...this.rewardFields()),
      this.canWrite ? h('div', {class: 'actions'},
        h('button', {type: 'submit', class: 'primary', id: 'save-widget'}, t('widgets.save')),
        this.widget && this.widget.status === 'draft' ? h('button', {type: 'button',
          class: 'secondary', id: 'activate-widget', onclick: () => this.save('active')},
        t('widgets.activate')) : null) : null));
    this.renderQuestions();
    this.frame = h('iframe', {title: t('widgets.preview'), class: 'preview-frame',
                              id: 'widget-preview'});
    return h('div', {class: 'widget-editor'},
      h('div', {class: 'widget-editor-form'}, form,
        this.widget ? this.lifecycle() : null,
        this.widget ? this.embed() : null),
      h('section', {class: 'panel widget-preview', 'aria-labelledby': 'preview-title'},
        h('h2', {id: 'preview-title'}, t('widgets.preview')),
        h('p', {class: 'hint'}, t('widgets.previewHint')), this.frame));
  }

  section(key, ...children) {
    const id = uid('section');
    return h('section', {class: 'panel', 'aria-labelledby': id}, h('h2', {id}, t(key)), children);
  }

  /** The place where the API's message about `path` appears, next to its input. */
  slot(path, input = null) {
    const el = h('p', {class: 'field-error', id: uid('error'), hidden: true});
    this.errors.set(path, {slot: el, input});
    return el;
  }

  withError(path, wrapper, input) {
    const slot = this.slot(path, input);
    wrapper.append(slot);
    return wrapper;
  }

  text(path, label, value, set, attrs = {}, hint = null) {
    const input = h('input', {type: 'text', value, autocomplete: 'off', ...attrs,
      oninput: (event) => set(event.target.value)});
    return this.withError(path, field(label, input, hint).wrapper, input);
  }

  number(path, label, value, set, attrs = {}) {
    const input = h('input', {type: 'number', value, ...attrs,
      oninput: (event) => set(event.target.value)});
    return this.withError(path, field(label, input).wrapper, input);
  }

  area(path, label, value, set, hint = null) {
    const input = h('textarea', {rows: '3', value, oninput: (event) => set(event.target.value)});
    return this.withError(path, field(label, input, hint).wrapper, input);
  }

  select(path, label, values, chosen, set, name, attrs = {}) {
    const input = h('select', {...attrs, onchange: (event) => set(event.target.value)},
      values.map((v) => h('option', {value: v, selected: v === chosen}, name(v))));
    return this.withError(path, field(label, input).wrapper, input);
  }

  triggerFields() {
    const trigger = this.draft.trigger;
    const percentage = this.number('trigger.percentage', t('widgets.field.percentage'),
      String(trigger.percentage), (v) => { trigger.percentage = v; }, {min: '1', max: '100'});
    const seconds = this.number('trigger.seconds', t('widgets.field.seconds'),
      String(trigger.seconds), (v) => { trigger.seconds = v; }, {min: '1', max: '3600'});
    const show = () => {
      percentage.hidden = trigger.type !== 'scroll-depth';
      seconds.hidden = trigger.type !== 'time-on-page';
    };
    show();
    return h('div', {class: 'filter-fields'},
      this.select('trigger', t('widgets.field.trigger'), TRIGGERS, trigger.type,
        (v) => { trigger.type = v; show(); }, (v) => t(`widgets.trigger.${v.replace(/-/g, '_')}`)),
      percentage, seconds);
  }

  themeFields() {
    const theme = this.draft.theme;
    const colour = (name) => {
      const input = h('input', {type: 'color', value: theme[name],
        oninput: (event) => { theme[name] = event.target.value; }});
      return this.withError(`theme.${name}`, field(t(`widgets.theme.${name}`), input).wrapper, input);
    };
    return h('fieldset', {class: 'choices'}, h('legend', {}, t('widgets.field.theme')),
      this.slot('theme'),
      h('div', {class: 'filter-fields'},
        colour('primary_color'), colour('background_color'), colour('text_color'),
        this.text('theme.font_family', t('widgets.theme.font_family'), theme.font_family,
          (v) => { theme.font_family = v; }, {maxlength: '120'}),
        this.number('theme.border_radius', t('widgets.theme.border_radius'),
          String(theme.border_radius), (v) => { theme.border_radius = v; }, {min: '0', max: '32'})));
  }

  rewardFields() {
    const d = this.draft;
    const amount = h('div', {class: 'filter-fields'},
      this.text('reward.amount', t('widgets.field.amount'), d.amount, (v) => { d.amount = v; },
        {inputmode: 'decimal'}),
      this.text('reward.currency', t('widgets.field.currency'), d.currency, (v) => { d.currency = v; },
        {maxlength: '3'}));
    const vouchers = this.area('reward.voucher_codes', t('widgets.field.vouchers'), d.vouchers,
      (v) => { d.vouchers = v; }, t('widgets.hint.vouchers'));
    const budget = h('div', {},
      this.text('reward.budget', t('widgets.field.budget'), d.budget, (v) => { d.budget = v; },
        {inputmode: 'decimal', id: 'reward-budget'}, t('widgets.hint.budget')),
      this.budgetUsed());
    const perShopper = h('fieldset', {class: 'choices'},
      h('legend', {}, t('widgets.field.perShopper')), this.slot('reward.per_shopper'),
      h('div', {class: 'filter-fields'},
        this.number('reward.per_shopper.max_rewards', t('widgets.field.maxRewards'),
          d.perShopperMax, (v) => { d.perShopperMax = v; }, {min: '1', id: 'per-shopper-max'}),
        this.number('reward.per_shopper.period_days', t('widgets.field.periodDays'),
          d.perShopperDays, (v) => { d.perShopperDays = v; }, {min: '1', id: 'per-shopper-days'})),
      h('p', {class: 'hint'}, t('widgets.hint.perShopper')));
    const show = () => {
      amount.hidden = d.rewardKind !== 'amount';
      budget.hidden = d.rewardKind !== 'amount';
      vouchers.hidden = d.rewardKind !== 'vouchers';
      perShopper.hidden = d.rewardKind === 'none';
    };
    show();
    return [
      this.select('reward', t('widgets.field.reward'), ['none', 'amount', 'vouchers'], d.rewardKind,
        (v) => { d.rewardKind = v; show(); }, (v) => t(`widgets.reward.${v}`)),
      amount, budget, vouchers, perShopper,
      h('div', {class: 'filter-fields'},
        this.number('auto_approve_above', t('widgets.field.approveAbove'), d.approveAbove,
          (v) => { d.approveAbove = v; }, {min: '0', max: '100'}),
        this.number('auto_reject_below', t('widgets.field.rejectBelow'), d.rejectBelow,
          (v) => { d.rejectBelow = v; }, {min: '0', max: '100'})),
    ];
  }

  /** What approvals took of the saved budget (GET /api/v1/rewards/totals). */
  budgetUsed() {
    const b = this.budget;
    if (!b) return null;
    return h('p', {class: 'hint', id: 'budget-used'}, t('widgets.budgetUsed', {
      spent: formatMoney(b.spent, b.currency), amount: formatMoney(b.amount, b.currency),
      remaining: formatMoney(b.remaining, b.currency)}));
  }

  // --- questions ---

  renderQuestions(focus = null) {
    for (const key of [...this.errors.keys()]) {
      if (key.startsWith('questions.')) this.errors.delete(key);
    }
    clear(this.questionsBox);
    append(this.questionsBox, this.slot('questions'),
      h('ol', {class: 'question-list'}, this.draft.questions.map((q, i) => this.questionItem(q, i))));
    if (focus) {
      const target = document.getElementById(focus);
      if (target) target.focus();
    }
  }

  questionItem(q, i) {
    const n = this.draft.questions.length;
    const path = `questions.${i}`;
    const number = i + 1;
    const move = (by, key) => h('button', {type: 'button', class: 'secondary',
      id: `q${i}-${key}`, disabled: (by < 0 ? i === 0 : i === n - 1) || !this.canWrite,
      'aria-label': t(`widgets.question.${key}`, {n: number}),
      onclick: () => this.moveQuestion(i, by, key)}, t(`widgets.question.${key}Short`));
    const options = q.type.endsWith('_choice') ? h('fieldset', {class: 'choices options'},
      h('legend', {}, t('widgets.question.options', {n: number})),
      this.slot(`${path}.options`),
      h('ol', {}, q.options.map((o, k) => h('li', {class: 'option'},
        LANGS.map((lang) => this.text(`${path}.options.${k}.label.${lang}`,
          t('widgets.option.label', {n: k + 1, lang: t(`widgets.lang.${lang}`)}), o.label[lang],
          (v) => { o.label[lang] = v; }, lang === LANGS[0] ? {id: `q${i}-opt${k}`} : {})),
        this.canWrite ? h('button', {type: 'button', class: 'secondary',
          'aria-label': t('widgets.option.remove', {n: k + 1}),
          onclick: () => { q.options.splice(k, 1); this.renderQuestions(`q${i}-add-option`); this.changed(); }},
        t('widgets.remove')) : null))),
      this.canWrite ? h('button', {type: 'button', class: 'secondary', id: `q${i}-add-option`,
        onclick: () => {
          q.options.push({id: freshId('o', q.options.map((o) => o.id)), label: {de: '', en: ''}});
          this.renderQuestions(`q${i}-opt${q.options.length - 1}`);
          this.changed();
        }}, t('widgets.option.add')) : null) : null;
    const item = h('li', {class: 'question'},
      h('fieldset', {class: 'question-box'},
        h('legend', {}, t('widgets.question.legend', {n: number})),
        this.slot(path),
        h('div', {class: 'filter-fields'},
          this.select(`${path}.type`, t('widgets.question.type'), TYPES, q.type, (v) => {
            q.type = v;
            if (v.endsWith('_choice') && q.options.length < 2) {
              while (q.options.length < 2) {
                q.options.push({id: freshId('o', q.options.map((o) => o.id)), label: {de: '', en: ''}});
              }
            }
            this.renderQuestions(`q${i}-type`);
            this.changed();
          }, (v) => t(`widgets.type.${v}`), {id: `q${i}-type`}),
          h('label', {class: 'choice'}, h('input', {type: 'checkbox', checked: q.required,
            onchange: (event) => { q.required = event.target.checked; }}), t('widgets.question.required'))),
        h('div', {class: 'filter-fields'},
          LANGS.map((lang) => this.text(`${path}.label.${lang}`,
            t('widgets.question.label', {lang: t(`widgets.lang.${lang}`)}), q.label[lang],
            (v) => { q.label[lang] = v; }, {maxlength: '500', id: `q${i}-label-${lang}`}))),
        options,
        this.canWrite ? h('div', {class: 'actions'}, move(-1, 'up'), move(1, 'down'),
          h('button', {type: 'button', class: 'secondary', id: `q${i}-remove`,
            disabled: n === 1, 'aria-label': t('widgets.question.remove', {n: number}),
            onclick: () => this.removeQuestion(i)}, t('widgets.remove'))) : null));
    return item;
  }

  addQuestion() {
    const q = {id: freshId('q', this.draft.questions.map((x) => x.id)), type: 'text',
               required: false, label: {de: '', en: ''}, options: []};
    this.draft.questions.push(q);
    const i = this.draft.questions.length - 1;
    this.renderQuestions(`q${i}-label-${language()}`);
    announce(t('widgets.question.added', {n: i + 1}));
    this.changed();
  }

  moveQuestion(i, by, key) {
    const list = this.draft.questions;
    [list[i], list[i + by]] = [list[i + by], list[i]];
    const j = i + by;
    const stays = (key === 'up' && j > 0) || (key === 'down' && j < list.length - 1);
    this.renderQuestions(stays ? `q${j}-${key}` : `q${j}-label-${language()}`);
    announce(t('widgets.question.moved', {n: j + 1}));
    this.changed();
  }

  removeQuestion(i) {
    this.draft.questions.splice(i, 1);
    const next = Math.min(i, this.draft.questions.length - 1);
    this.renderQuestions(`q${next}-label-${language()}`);
    announce(t('widgets.question.removed', {n: i + 1}));
    this.changed();
  }

  // --- errors ---

  clearErrors() {
    clear(this.summary);
    for (const {slot, input} of this.errors.values()) {
      slot.hidden = true;
      slot.textContent = '';
      if (input) input.removeAttribute('aria-invalid');
    }
  }

  /** Each detail next to the field it names (the longest known prefix of its path). */
  showErrors(error) {
    this.clearErrors();
    const unplaced = [];
    let first = null;
    for (const detail of error.details || []) {
      let path = String(detail.field || '');
      while (path && !this.errors.has(path)) path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      const found = path ? this.errors.get(path) : null;
      if (!found) {
        unplaced.push(detail.field ? `${detail.field}: ${detail.message}` : detail.message);
        continue;
      }
      found.slot.hidden = false;
      found.slot.textContent = found.slot.textContent
        ? `${found.slot.textContent} ${detail.message}` : detail.message;
      const input = found.input || found.slot.parentElement.querySelector('input,select,textarea');
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        const described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        if (!described.includes(found.slot.id)) {
          input.setAttribute('aria-describedby', [...described, found.slot.id].join(' '));
        }
        first = first || input;
      }
    }
    const box = messageBox('error', t('widgets.invalid', {message: error.message}));
    box.setAttribute('tabindex', '-1');
    this.summary.append(box);
    if (unplaced.length) this.summary.append(h('ul', {}, unplaced.map((text) => h('li', {}, text))));
    (first || box).focus();
  }

  // --- saving and the lifecycle ---

  async save(status = null) {
    const body = bodyOf(this.draft);
    if (status) body.status = status;
    const button = document.getElementById('save-widget');
    if (button) button.disabled = true;
    try {
      const answer = this.widget
        ? await api.patch(widgetPath(this.widget.id), body)
        : await api.post('/v1/widgets', body);
      const saved = answer.data;
      this.ctx.app.widgets.reset();
      this.ctx.app.flash(saved.status === 'active'
        ? t('widgets.savedLive', {time: liveBy()}) : t('widgets.savedDraft'));
      this.ctx.app.navigate(editorHref(saved), {replace: true});
    } catch (error) {
      if (button) button.disabled = false;
      if (error.status === 400 || error.status === 422 || error.status === 409) this.showErrors(error);
      else {
        clear(this.summary).append(messageBox('error', t('error.server', {message: error.message})));
        announce(t('error.server', {message: error.message}));
      }
    }
  }

  async lifecycleCall(path, body, message) {
    try {
      await api.post(`${widgetPath(this.widget.id)}/${path}`, body);
      this.ctx.app.widgets.reset();
      this.ctx.app.flash(message());
      this.ctx.app.navigate(editorHref(this.widget), {replace: true});
    } catch (error) {
      this.showErrors(error);
    }
  }

  lifecycle() {
    const w = this.widget;
    const facts = h('p', {}, t('widgets.col.status'), ': ', widgetStatus(w),
      w.status === 'paused' && w.pause_reason ? [' — ', w.pause_reason] : null,
      w.status === 'paused' && w.scheduled_resume
        ? [' — ', t('widgets.resumesAt'), ' ', time(w.scheduled_resume)] : null);
    let controls = null;
    if (this.canWrite && w.status === 'active') {
      const reason = h('input', {type: 'text', maxlength: '500', id: 'pause-reason'});
      const resumeAt = h('input', {type: 'datetime-local', id: 'pause-resume-at'});
      controls = h('form', {class: 'inline-form', novalidate: true, onsubmit: (event) => {
        event.preventDefault();
        const at = resumeAt.value ? new Date(resumeAt.value) : null;
        this.lifecycleCall('pause', {reason: reason.value.trim() || null,
          resume_at: at && !Number.isNaN(at.getTime()) ? at.toISOString() : null},
        () => t('widgets.pausedNow', {time: liveBy()}));
      }},
      this.withError('reason', field(t('widgets.field.pauseReason'), reason).wrapper, reason),
      this.withError('resume_at', field(t('widgets.field.resumeAt'), resumeAt).wrapper, resumeAt),
      h('button', {type: 'submit', class: 'secondary', id: 'pause-widget'}, t('widgets.pause')));
    } else if (this.canWrite && w.status === 'paused') {
      const notify = h('input', {type: 'checkbox', id: 'resume-notify'});
      controls = h('form', {class: 'inline-form', novalidate: true, onsubmit: (event) => {
        event.preventDefault();
        this.lifecycleCall('resume', {notify: notify.checked},
          () => t('widgets.resumedNow', {time: liveBy()}));
      }},
      h('label', {class: 'choice'}, notify, t('widgets.field.notify')),
      h('button', {type: 'submit', class: 'secondary', id: 'resume-widget'}, t('widgets.resume')));
    }
    return h('section', {class: 'panel', 'aria-labelledby': 'lifecycle-title'},
      h('h2', {id: 'lifecycle-title'}, t('widgets.lifecycle')), facts, controls);
  }

  embed() {
    const code = h('textarea', {readonly: true, rows: '3', id: 'embed-code', class: 'embed-code'});
    code.value = this.widget.embed_code;
    const said = h('span', {role: 'status', class: 'hint'});
    return h('section', {class: 'panel', 'aria-labelledby': 'embed-title'},
      h('h2', {id: 'embed-title'}, t('widgets.embed')),
      h('label', {for: 'embed-code'}, t('widgets.embedHint')), code,
      h('div', {class: 'actions'},
        h('button', {type: 'button', class: 'secondary', id: 'copy-embed', onclick: async () => {
          try {
            await navigator.clipboard.writeText(code.value);
          } catch {
            code.select();
            document.execCommand('copy');
          }
          said.textContent = t('widgets.copied');
        }}, t('widgets.copy')), said));
  }

  // --- the live preview ---

  changed() {
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.sendPreview(), PREVIEW_DELAY_MS);
  }

  sendPreview() {
    if (!this.previewReady || !this.frame.contentWindow) return;
    const config = previewConfig(this.draft, this.widget && this.widget.public_id);
    this.frame.contentWindow.postMessage({config, lang: language()}, window.location.origin);
  }

  startPreview() {
    const onMessage = (event) => {
      if (event.origin !== window.location.origin || event.source !== this.frame.contentWindow
          || !event.data || event.data.resonanz !== 'ready') return;
      this.previewReady = true;
      this.sendPreview();
    };
    window.addEventListener('message', onMessage);
    this.ctx.onLeave(() => {
      window.removeEventListener('message', onMessage);
      clearTimeout(this.previewTimer);
    });
    // h() refuses `src` (no page may load what data names); this is a constant path of
    // the app, set once the listener for its "ready" is in place.
    this.frame.src = PREVIEW_URL;
  }
}
