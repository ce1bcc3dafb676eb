// The organization's audit log (admins): every change by members and keys, newest first,
// filtered by who, what and when. A deleted entry that is still deleted can be restored
// from its delete row.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {personName, time} from './view.js';

const PAGE_SIZE = 50;
const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
const ENTRY_OPERATION = '/v1/feedback/{id}';

function localMidnight(date, plusDays = 0) {
  const [year, month, day] = date.split('-').map(Number);
  return new Date(year, month - 1, day + plusDays).toISOString();
}

/** The filters of the address (?actor=&method=&target_id=&from=&to=), as the form holds them. */
function filtersOf(query) {
  return {actor: query.get('actor') || '', method: query.get('method') || '',
          target_id: query.get('target_id') || '', from: query.get('from') || '',
          to: query.get('to') || ''};
}

function apiQueryOf(filters) {
  const query = {limit: PAGE_SIZE};
  for (const name of ['actor', 'method', 'target_id']) if (filters[name]) query[name] = filters[name];
  if (filters.from) query.from = localMidnight(filters.from);
  if (filters.to) query.to = localMidnight(filters.to, 1);
  return query;
}

function filterForm(ctx, filters, members) {
  const actor = h('select', {name: 'actor'},
    h('option', {value: ''}, t('audit.anyone')),
    [...members.values()].map((m) => h('option', {value: m.id, selected: m.id === filters.actor},
      m.name || m.email)),
    filters.actor && !members.has(filters.actor)
      ? h('option', {value: filters.actor, selected: true}, filters.actor) : null);
  const method = h('select', {name: 'method'},
    h('option', {value: ''}, t('audit.anyAction')),
    METHODS.map((m) => h('option', {value: m, selected: m === filters.method}, t(`audit.method.${m}`))));
  const target = h('input', {type: 'text', name: 'target_id', value: filters.target_id,
                             autocomplete: 'off', maxlength: '200'});
  const from = h('input', {type: 'date', name: 'from', value: filters.from});
  const to = h('input', {type: 'date', name: 'to', value: filters.to});
  const form = h('form', {class: 'filters', role: 'search', 'aria-label': t('audit.filters'),
    onsubmit: (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const query = new URLSearchParams([...data.entries()].filter(([, v]) => v));
      ctx.app.navigate(`/app/audit${query.toString() ? `?${query}` : ''}`);
    }},
  h('div', {class: 'filter-fields'},
    field(t('audit.actor'), actor).wrapper, field(t('audit.action'), method).wrapper,
    field(t('audit.target'), target).wrapper, field(t('filter.from'), from).wrapper,
    field(t('filter.to'), to).wrapper),
  h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, t('filter.apply')),
    Object.values(filters).some(Boolean) ? h('a', {href: '/app/audit'}, t('filter.reset')) : null));
  return form;
}

function who(members, row) {
  if (row.user_id) return personName(members, row.user_id);
  if (row.key_id) return t('audit.key', {id: row.key_id.slice(0, 8)});
  return t('audit.operatorCli');
}

/** Whether an entry is deleted now (its read is a 404). */
async function stillDeleted(id) {
  try {
    await api.get(api.entryPath(id));
    return false;
  } catch (error) {
    return error instanceof api.ApiError && error.status === 404;
  }
}

export async function auditPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('audit.title'));
  const heading = h('h1', {id: 'page-title', tabindex: '-1'}, t('audit.title'));
  if (app.user.role !== 'admin') {
    append(ctx.main, heading, messageBox('error', t('audit.adminsOnly')));
    return;
  }
  const filters = filtersOf(ctx.query);
  const members = await app.members();
  const problems = h('div', {class: 'problems'});
  const tbody = h('tbody');
  const empty = h('p', {class: 'empty', hidden: true}, t('audit.empty'));
  let cursor = null;
  const more = h('button', {type: 'button', class: 'secondary', hidden: true,
                            onclick: () => load()}, t('inbox.more'));
  const headers = [t('audit.col.at'), t('audit.col.who'), t('audit.col.action'),
    t('audit.col.operation'), t('audit.col.target'), t('audit.col.status'), t('audit.col.restore')];
  append(ctx.main, heading, ctx.flashBox(), h('p', {}, t('audit.intro')),
    filterForm(ctx, filters, members), problems,
    h('table', {class: 'audit'},
      h('caption', {class: 'visually-hidden'}, t('audit.caption')),
      h('thead', {}, h('tr', {}, headers.map((text) => h('th', {scope: 'col'}, text)))), tbody),
    empty, h('div', {class: 'list-more'}, more));

  function restoreButton(id) {
    const button = h('button', {type: 'button', class: 'secondary',
      'aria-label': t('audit.restoreOne', {id}), onclick: async () => {
        button.disabled = true;
        clear(problems);
        try {
          await api.post(`${api.entryPath(id)}/restore`, {});
          problems.append(messageBox('success', [t('audit.restored'), ' ',
            h('a', {href: `/app/entries/${encodeURIComponent(id)}`}, t('audit.openEntry'))]));
          announce(t('audit.restored'));
          button.replaceWith(h('span', {}, t('audit.restoredShort')));
        } catch (error) {
          button.disabled = false;
          problems.append(messageBox('error', t('error.server', {message: error.message})));
        }
      }}, t('audit.restore'));
    return button;
  }

  async function row(event) {
    const entryId = event.operation === ENTRY_OPERATION ? event.target_id : null;
    const restorable = event.method === 'DELETE' && entryId && app.canWrite()
      && await stillDeleted(entryId);
    const target = entryId && event.method !== 'DELETE'
      ? h('a', {href: `/app/entries/${encodeURIComponent(entryId)}`}, entryId)
      : (event.target_id || '—');
    return h('tr', {dataset: {id: event.id}},
      h('td', {}, time(event.at)), h('td', {}, who(members, event), ' ',
        h('span', {class: 'badge role'}, t(`role.${event.role}`))),
      h('td', {}, t(`audit.method.${event.method}`)), h('td', {}, h('code', {}, event.path)),
      h('td', {}, target), h('td', {}, String(event.status)),
      h('td', {}, restorable ? restoreButton(entryId) : null));
  }

  async function load() {
    let answer;
    try {
      answer = await api.get('/v1/audit-log', {query: {...apiQueryOf(filters),
                                                        ...(cursor ? {cursor} : {})}});
    } catch (error) {
      problems.append(messageBox('error', t('error.server', {message: error.message})));
      return;
    }
    tbody.append(...await Promise.all(answer.data.map(row)));
    cursor = answer.meta.next_cursor || null;
    more.hidden = !cursor;
    empty.hidden = tbody.children.length > 0;
  }
  await load();
}
