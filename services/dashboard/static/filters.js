// The inbox's filter state: read from and written to the page's query string (so a view can
// be bookmarked and shared), and turned into the API's list parameters. No DOM here.

export const STATUSES = ['new', 'pending', 'in_progress', 'resolved', 'archived'];

export const RATINGS = [1, 2, 3, 4, 5];
// The quality score's labels (services/feedback/scoring.py) and the reward states.
export const QUALITY_LABELS = ['good', 'fair', 'poor', 'spam'];
export const REWARD_STATES = ['pending', 'approved', 'rejected', 'none'];
const MAX_SEARCH = 200;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,80}$/;

export function emptyFilters() {
  return {q: '', status: [], rating: [], quality: [], reward: '', category: '', widget: '',
          assignee: '', from: '', to: ''};
}

function list(value, allowed) {
  return [...new Set((value || '').split(',').map((v) => v.trim()).filter((v) => allowed.includes(v)))];
}

/** The filters a query string names; anything unknown or malformed is left out. */
export function filtersFromQuery(search) {
  const q = search instanceof URLSearchParams ? search : new URLSearchParams(search);
  const filters = emptyFilters();
  filters.q = (q.get('q') || '').replace(/\u0000/g, '').trim().slice(0, MAX_SEARCH);
  filters.status = list(q.get('status'), STATUSES);
  filters.quality = list(q.get('quality'), QUALITY_LABELS);
  filters.reward = REWARD_STATES.includes(q.get('reward')) ? q.get('reward') : '';
  filters.rating = list(q.get('rating'), RATINGS.map(String)).map(Number).sort();
  filters.category = (q.get('category') || '').trim().slice(0, 64);
  const widget = (q.get('widget') || '').trim();
  filters.widget = TOKEN.test(widget) ? widget : '';
  filters.assignee = q.get('assignee') === 'me' ? 'me' : '';
  for (const name of ['from', 'to']) {
    const value = (q.get(name) || '').trim();
    filters[name] = DATE.test(value) && !Number.isNaN(Date.parse(value)) ? value : '';
  }
  return filters;
}

/** The query string of these filters, in a stable order, empty ones left out. */
export function filtersToQuery(filters) {
  const q = new URLSearchParams();
  if (filters.q) q.set('q', filters.q);
  if (filters.status.length) q.set('status', filters.status.join(','));
  if (filters.rating.length) q.set('rating', filters.rating.join(','));
  if (filters.quality.length) q.set('quality', filters.quality.join(','));
  for (const name of ['reward', 'category', 'widget', 'assignee', 'from', 'to']) {
    if (filters[name]) q.set(name, filters[name]);
  }
  return q;
}

export function isFiltered(filters) {
  return filtersToQuery(filters).toString() !== '';
}

function localMidnight(date, plusDays = 0) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

/**
 * The API's list parameters: the server applies every filter (and `me` is the signed-in
 * member there). `from` is the start of that day, `to` the start of the next (both in the
 * browser's time zone), so a one-day range is that whole day.
 */
export function apiQuery(filters) {
  const query = {};
  if (filters.q) query.q = filters.q;
  if (filters.status.length) query.status = filters.status.join(',');
  if (filters.widget) query.widget_id = filters.widget;
  if (filters.from) query.from = localMidnight(filters.from);
  if (filters.to) query.to = localMidnight(filters.to, 1);
  if (filters.rating.length) query.rating = filters.rating.join(',');
  if (filters.quality.length) query.quality = filters.quality.join(',');
  if (filters.reward) query.reward_status = filters.reward;
  if (filters.category) query.category = filters.category;
  if (filters.assignee === 'me') query.assignee = 'me';
  return query;
}
