// The inbox: entries newest first, keyset pages, filters kept in the URL, new entries
// polled for with the list's ETag (a 304 while nothing changed), and bulk triage of a
// selection or of every entry matching the filters (one request: the API's bulk operations).

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {
  QUALITY_LABELS, RATINGS, REWARD_STATES, STATUSES, apiQuery, filtersFromQuery, filtersToQuery,
  isFiltered,
} from './filters.js';
import {t} from './i18n.js';
import {excerpt, personName, ratingText, statusBadge, time} from './view.js';

const PAGE_SIZE = 50;
const POLL_MS = 10_000;
// The API's cap on one bulk request (shared/contracts.py MAX_BULK).
const BULK_MAX = 500;

export async function inboxPage(ctx) {
  const {app} = ctx;
  const me = app.user.id;
  const canWrite = app.canWrite();
  const filters = filtersFromQuery(ctx.query);
  ctx.setTitle(t('inbox.title'));
  const [members, widgets] = await Promise.all([app.members(), app.widgets()]);

  const state = {ids: new Set(), newest: null, cursor: null, selected: new Set(), busy: false,
                 etag: null, allMatching: false, matching: 0};
  const tbody = h('tbody');
  const summary = h('p', {class: 'list-summary', id: 'inbox-summary'});
  const empty = h('p', {class: 'empty', hidden: true}, t('inbox.empty'));
  const problems = h('div', {class: 'problems'});
  const more = h('button', {type: 'button', class: 'secondary', hidden: true,
                            onclick: () => loadMore()}, t('inbox.more'));

  const selectAll = canWrite ? h('input', {type: 'checkbox', 'aria-label': t('inbox.selectPage'),
    onchange: () => {
      state.allMatching = false;
      for (const box of tbody.querySelectorAll('input[type=checkbox]')) {
        box.checked = selectAll.checked;
        toggle(box.dataset.id, box.checked);
      }
      bulk.update();
    }}) : null;

  const headers = [t('inbox.col.feedback'), t('inbox.col.rating'), t('inbox.col.category'),
    t('inbox.col.status'), t('inbox.col.assignee'), t('inbox.col.quality'),
    t('inbox.col.received')];
  const table = h('table', {class: 'entries', 'aria-describedby': 'inbox-summary'},
    h('caption', {class: 'visually-hidden'}, t('inbox.caption')),
    h('thead', {}, h('tr', {},
      canWrite ? h('th', {scope: 'col', class: 'select'}, selectAll) : null,
      headers.map((text) => h('th', {scope: 'col'}, text)))),
    tbody);

  function toggle(id, on) {
    if (on) state.selected.add(id); else state.selected.delete(id);
  }

  function row(entry) {
    const text = excerpt(entry.body) || t('inbox.noText');
    const cells = [
      h('td', {class: 'feedback'},
        h('a', {href: `/app/entries/${encodeURIComponent(entry.id)}`, class: 'entry-link'}, text)),
      h('td', {}, ratingText(entry.rating)),
      h('td', {}, entry.category || '—'),
      h('td', {}, statusBadge(entry.status)),
      h('td', {}, entry.assigned_to ? personName(members, entry.assigned_to) : '—'),
      h('td', {class: 'number'}, entry.quality_score ?? '—'),
      h('td', {}, time(entry.created_at)),
    ];
    if (canWrite) {
      const box = h('input', {type: 'checkbox', dataset: {id: entry.id},
        checked: state.selected.has(entry.id),
        'aria-label': t('inbox.selectEntry', {text: excerpt(entry.body, 60) || t('inbox.noText')}),
        onchange: () => {
          state.allMatching = false;
          toggle(entry.id, box.checked);
          bulk.update();
        }});
      cells.unshift(h('td', {class: 'select'}, box));
    }
    return h('tr', {dataset: {id: entry.id}}, cells);
  }

  function remember(entries) {
    for (const entry of entries) state.ids.add(entry.id);
    const first = entries[0];
    if (first && (!state.newest || first.created_at > state.newest)) state.newest = first.created_at;
  }

  function showCount() {
    const shown = tbody.rows.length;
    summary.textContent = state.cursor
      ? t('inbox.shownMore', {n: shown}) : t('inbox.shown', {n: shown});
    empty.hidden = shown > 0;
    table.hidden = shown === 0;
    more.hidden = !state.cursor;
  }

  const pageQuery = (cursor) => ({...apiQuery(filters), limit: PAGE_SIZE, cursor: cursor ?? ''});

  async function fetchPage(cursor) {
    return api.get('/v1/feedback', {query: pageQuery(cursor)});
  }

  /** The first page, unless it is the one we have (`etag`): then {changed: false}. */
  async function fetchFirst(etag) {
    return api.getIfChanged('/v1/feedback', etag, {query: pageQuery('')});
  }

  /** A page of matching entries from `cursor` on: the API applies every filter. */
  async function collect(cursor) {
    const answer = await fetchPage(cursor);
    return {entries: answer.data.filter((e) => !state.ids.has(e.id)),
            cursor: answer.meta.next_cursor || null};
  }

  async function loadFirst() {
    clear(problems);
    try {
      state.ids.clear();
      state.newest = null;
      const first = await fetchFirst(null);
      state.etag = first.etag;
      const entries = first.payload.data;
      clear(tbody);
      remember(entries);
      tbody.append(...entries.map(row));
      state.cursor = first.payload.meta.next_cursor || null;
      showCount();
    } catch (error) {
      problems.append(messageBox('error', t('error.server', {message: error.message})));
    }
  }

  async function loadMore() {
    if (!state.cursor) return;
    more.disabled = true;
    try {
      const {entries, cursor} = await collect(state.cursor);
      remember(entries);
      const rows = entries.map(row);
      tbody.append(...rows);
      state.cursor = cursor;
      showCount();
      announce(t('inbox.loaded', {n: entries.length}));
      const link = rows[0] && rows[0].querySelector('a');
      if (link) link.focus();
    } catch (error) {
      problems.append(messageBox('error', t('error.server', {message: error.message})));
    } finally {
      more.disabled = false;
    }
  }

  /** New entries at the top, and rows already shown brought up to date, without a reload.
   * Asked with the first page's ETag: while nothing changed the API answers 304, no body. */
  async function poll() {
    if (document.hidden || state.busy) return;
    let answer;
    try {
      answer = await fetchFirst(state.etag);
    } catch {
      return;  // the next round tries again; a 401 has already signed us out
    }
    if (!answer.changed) return;
    state.etag = answer.etag;
    const fresh = [];
    for (const entry of answer.payload.data) {
      if (state.ids.has(entry.id)) {
        const old = tbody.querySelector(`tr[data-id="${CSS.escape(entry.id)}"]`);
        if (old && !old.contains(document.activeElement)) old.replaceWith(row(entry));
      } else if (!state.newest || entry.created_at >= state.newest) {
        fresh.push(entry);
      }
    }
    if (!fresh.length) return;
    remember(fresh);
    tbody.prepend(...fresh.map((entry) => {
      const tr = row(entry);
      tr.classList.add('fresh');
      return tr;
    }));
    showCount();
    announce(t('inbox.newEntries', {n: fresh.length}));
  }

  const bulk = canWrite ? bulkTools({me, state, tbody, selectAll, filters, fetchPage,
                                     reload: loadFirst}) : null;

  append(ctx.main, 
    h('h1', {id: 'page-title', tabindex: '-1'}, t('inbox.title')),
    ctx.flashBox(),
    filterForm(ctx, filters, widgets),
    exportLinks(filters),
    bulk ? bulk.element : null,
    problems, summary, empty, table, h('div', {class: 'list-more'}, more));
  await loadFirst();
  const timer = setInterval(poll, POLL_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/** Downloads of every entry the inbox's filters find: plain links (the session cookie
 * authenticates a GET), so the browser streams the file to disk. */
function exportLinks(filters) {
  const link = (format, label) => {
    const query = new URLSearchParams({...apiQuery(filters), format});
    return h('a', {href: `/v1/feedback/export?${query}`, download: '', class: 'button secondary',
                   id: `export-${format}`}, label);
  };
  return h('p', {class: 'export-links'}, t('inbox.export'), ' ',
    link('csv', t('inbox.exportCsv')), ' ', link('jsonl', t('inbox.exportJsonl')));
}

function filterForm(ctx, filters, widgets) {
  const checkboxes = (name, values, label, chosen) => h('fieldset', {class: 'choices'},
    h('legend', {}, label),
    values.map((value) => {
      const box = h('input', {type: 'checkbox', name, value: String(value),
                              checked: chosen.includes(value)});
      const text = {status: () => t(`status.${value}`), quality: () => t(`quality.${value}`)};
      return h('label', {class: 'choice'}, box, (text[name] || (() => ratingText(value)))());
    }));
  const search = h('input', {type: 'search', name: 'q', value: filters.q, maxlength: '200',
                             autocomplete: 'off'});
  const reward = h('select', {name: 'reward'},
    h('option', {value: ''}, t('filter.anyReward')),
    REWARD_STATES.map((state) => h('option', {value: state, selected: state === filters.reward},
      t(`reward.${state}`))));
  const category = h('input', {type: 'text', name: 'category', value: filters.category,
                               maxlength: '64', autocomplete: 'off'});
  const widget = h('select', {name: 'widget'},
    h('option', {value: ''}, t('filter.anyWidget')),
    [...widgets.values()].map((w) => h('option', {value: w.id, selected: w.id === filters.widget},
      w.name)),
    filters.widget && !widgets.has(filters.widget)
      ? h('option', {value: filters.widget, selected: true}, filters.widget) : null);
  const assignee = h('select', {name: 'assignee'},
    h('option', {value: ''}, t('filter.anyone')),
    h('option', {value: 'me', selected: filters.assignee === 'me'}, t('filter.me')));
  const from = h('input', {type: 'date', name: 'from', value: filters.from});
  const to = h('input', {type: 'date', name: 'to', value: filters.to});

  const form = h('form', {class: 'filters', role: 'search', 'aria-label': t('filter.label'),
    onsubmit: (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const chosen = {
        q: data.get('q'), status: data.getAll('status').join(','),
        rating: data.getAll('rating').join(','), quality: data.getAll('quality').join(','),
        reward: data.get('reward'),
        category: data.get('category'), widget: data.get('widget'),
        assignee: data.get('assignee'), from: data.get('from'), to: data.get('to'),
      };
      const query = filtersToQuery(filtersFromQuery(new URLSearchParams(
        Object.entries(chosen).filter(([, v]) => v))));
      ctx.app.navigate(`/app/${query.toString() ? `?${query}` : ''}`);
    }},
  h('div', {class: 'filter-fields'}, field(t('filter.search'), search).wrapper),
  checkboxes('status', STATUSES, t('filter.status'), filters.status),
  checkboxes('rating', RATINGS, t('filter.rating'), filters.rating),
  checkboxes('quality', QUALITY_LABELS, t('filter.quality'), filters.quality),
  h('div', {class: 'filter-fields'},
    field(t('filter.reward'), reward).wrapper,
    field(t('filter.category'), category).wrapper,
    field(t('filter.widget'), widget).wrapper,
    field(t('filter.assignee'), assignee).wrapper,
    field(t('filter.from'), from).wrapper,
    field(t('filter.to'), to).wrapper),
  h('div', {class: 'actions'},
    h('button', {type: 'submit', class: 'primary'}, t('filter.apply')),
    isFiltered(filters) ? h('a', {href: '/app/'}, t('filter.reset')) : null));
  return h('details', {class: 'filter-panel', open: isFiltered(filters) ? true : null},
    h('summary', {}, t('filter.title')), form);
}

function bulkTools({me, state, tbody, selectAll, filters, fetchPage, reload}) {
  const count = h('span', {class: 'selection-count'});
  const status = h('select', {name: 'bulk-status'},
    h('option', {value: ''}, t('bulk.chooseStatus')),
    STATUSES.map((s) => h('option', {value: s}, t(`status.${s}`))));
  const reason = h('input', {type: 'text', name: 'bulk-reason', maxlength: '2000'});
  const progress = h('p', {class: 'progress', role: 'status', 'aria-live': 'polite'});
  const results = h('div', {class: 'bulk-results'});
  const buttons = [];
  const button = (label, action, cls = 'secondary') => {
    const b = h('button', {type: 'button', class: cls, onclick: action}, label);
    buttons.push(b);
    return b;
  };
  const onWait = (seconds) => {
    progress.textContent = t('bulk.waiting', {seconds});
  };
  const chunks = (ids) => Array.from({length: Math.ceil(ids.length / BULK_MAX)},
    (_, i) => ids.slice(i * BULK_MAX, (i + 1) * BULK_MAX));

  /** The ids every entry matching the filters has, at most BULK_MAX (more is an error). */
  async function matchingIds() {
    const ids = [];
    let cursor = '';
    do {
      const answer = await fetchPage(cursor);
      ids.push(...answer.data.map((e) => e.id));
      cursor = answer.meta.next_cursor;
    } while (cursor && ids.length <= BULK_MAX);
    if (ids.length > BULK_MAX) throw new Error(t('bulk.tooMany', {max: BULK_MAX}));
    return ids;
  }

  /**
   * One bulk request per batch: the API changes each entry in its own transaction and
   * answers a result per entry. `send(target)` gets {ids} or {filter} (the inbox's filters,
   * applied by the server when it runs).
   */
  async function run(label, send) {
    const targets = state.allMatching ? [{filter: apiQuery(filters)}]
      : chunks([...state.selected]).map((ids) => ({ids}));
    if (!targets.length) return;
    state.busy = true;
    for (const b of buttons) b.disabled = true;
    clear(results);
    progress.textContent = t('bulk.working');
    const failures = [];
    let requested = 0;
    let succeeded = 0;
    let refused = null;
    try {
      for (const target of targets) {
        const answer = await send(target);
        requested += answer.data.requested;
        succeeded += answer.data.succeeded;
        for (const item of answer.data.items) {
          if (item.ok) state.selected.delete(item.id);
          else failures.push({id: item.id, message: item.error.message});
        }
      }
      state.allMatching = false;
    } catch (error) {
      refused = error.message || String(error);
    }
    progress.textContent = '';
    const done = t('bulk.done', {action: label, ok: succeeded, total: requested});
    if (refused) results.append(messageBox('error', t('error.server', {message: refused})));
    else results.append(messageBox(failures.length ? 'error' : 'success', done));
    if (failures.length) {
      results.append(h('ul', {class: 'failures'}, failures.map((f) => h('li', {},
        h('a', {href: `/app/entries/${encodeURIComponent(f.id)}`}, t('bulk.entry', {id: f.id.slice(0, 8)})),
        ': ', f.message))));
    }
    announce(refused ? t('error.server', {message: refused}) : done);
    state.busy = false;
    await reload();
    update();
  }

  // Sent once each: a retry after a lost answer is replayed, not done twice.
  const once = () => ({'Idempotency-Key': crypto.randomUUID()});
  const triage = (set) => (target) => api.patiently('POST', '/v1/feedback/bulk',
    {body: {...target, set}, headers: once()}, {onWait});
  // Pay4Feedback filters by reward state, not the inbox's status: the ids are found here.
  const review = (action, extra = {}) => async (target) => {
    const ids = target.ids || await matchingIds();
    if (!ids.length) return {data: {requested: 0, succeeded: 0, items: []}};
    return api.patiently('POST', '/api/v1/responses/bulk',
      {body: {ids, action, ...extra}, headers: once()}, {onWait});
  };

  button(t('bulk.setStatus'), () => {
    if (!status.value) {
      status.focus();
      progress.textContent = t('bulk.chooseStatusFirst');
      return;
    }
    run(t('bulk.setStatus'), triage({status: status.value}));
  });
  button(t('bulk.assignMe'), () => run(t('bulk.assignMe'), triage({assignee: me})));
  button(t('bulk.approve'), () => run(t('bulk.approve'), review('approve')), 'approve');
  button(t('bulk.reject'), () => {
    if (!reason.value.trim()) {
      reason.focus();
      progress.textContent = t('bulk.reasonFirst');
      return;
    }
    run(t('bulk.reject'), review('reject', {reason: reason.value.trim()}));
  }, 'reject');
  const matching = h('button', {type: 'button', class: 'link-button', onclick: async () => {
    matching.disabled = true;
    progress.textContent = t('bulk.selecting');
    try {
      // How many match: the server applies the filters again when the action runs.
      const answer = await api.get('/v1/feedback', {query: {...apiQuery(filters), limit: 1}});
      state.matching = answer.meta.total ?? 0;
      state.allMatching = true;
      for (const box of tbody.querySelectorAll('input[type=checkbox]')) {
        box.checked = true;
        state.selected.add(box.dataset.id);
      }
      progress.textContent = state.matching > BULK_MAX ? t('bulk.tooMany', {max: BULK_MAX}) : '';
      update();
      announce(t('bulk.count', {n: state.matching}));
    } catch (error) {
      progress.textContent = t('error.server', {message: error.message});
    } finally {
      matching.disabled = false;
    }
  }}, t('bulk.selectMatching'));

  function update() {
    const n = state.allMatching ? state.matching : state.selected.size;
    count.textContent = t('bulk.count', {n});
    for (const b of buttons) b.disabled = n === 0 || state.busy;
    if (selectAll) {
      const boxes = [...tbody.querySelectorAll('input[type=checkbox]')];
      const on = boxes.filter((b) => b.checked).length;
      selectAll.checked = boxes.length > 0 && on === boxes.length;
      selectAll.indeterminate = on > 0 && on < boxes.length;
    }
  }

  const element = h('section', {class: 'bulk', 'aria-labelledby': 'bulk-title'},
    h('h2', {id: 'bulk-title'}, t('bulk.title')),
    h('div', {class: 'bulk-row'}, count, matching),
    h('div', {class: 'bulk-row'},
      field(t('bulk.status'), status).wrapper, buttons[0], buttons[1]),
    h('div', {class: 'bulk-row'},
      field(t('bulk.reason'), reason).wrapper, buttons[2], buttons[3]),
    progress, results);
  update();
  return {element, update};
}
