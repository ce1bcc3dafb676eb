// Analytics: the summary's figures (GET /v1/analytics/summary) for 7, 30 or 90 days, by day,
// week or month, for the whole shop or one widget. Every chart has its numbers as a table
// and as a CSV file built here from the same numbers, so what is drawn, read and
// downloaded cannot disagree.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {STATUSES, RATINGS} from './filters.js';
import {language, t} from './i18n.js';
import uPlot from './vendor/uPlot.esm.js';

const PERIODS = ['7d', '30d', '90d'];
const GROUPINGS = ['day', 'week', 'month'];
const DEFAULTS = {period: '30d', group_by: 'week', widget: ''};
const CHART_HEIGHT = 220;
const COLOURS = ['#0a6b4d', '#1a56c2'];  // --brand and --focus: 4.5:1 on white
// The largest unit a duration chart can use while its largest value stays above 2 of them.
const UNITS = [['day', 86_400], ['hour', 3_600], ['minute', 60], ['second', 1]];

/** period, group_by and widget from the address; anything unknown is the default. */
function choicesFrom(query, widgets) {
  const period = query.get('period');
  const groupBy = query.get('group_by');
  const widget = query.get('widget');
  return {
    period: PERIODS.includes(period) ? period : DEFAULTS.period,
    group_by: GROUPINGS.includes(groupBy) ? groupBy : DEFAULTS.group_by,
    widget: widget && widgets.has(widget) ? widget : '',
  };
}

function addressOf(choices) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(choices)) {
    if (value && value !== DEFAULTS[name]) query.set(name, value);
  }
  const text = query.toString();
  return `/app/analytics${text ? `?${text}` : ''}`;
}

// --- numbers in the page's language ---------------------------------------------------

const missing = (value) => value === null || value === undefined;

function formats() {
  const lang = language();
  const number = (options) => new Intl.NumberFormat(lang, options);
  const count = number({maximumFractionDigits: 0});
  const rating = number({minimumFractionDigits: 1, maximumFractionDigits: 2});
  const rate = number({style: 'percent', maximumFractionDigits: 1});
  const or = (format) => (value) => (missing(value) ? t('none') : format(value));
  return {
    count: or((n) => count.format(n)),
    rating: or((n) => rating.format(n)),
    rate: or((n) => rate.format(n)),
    /** A duration in `unit` (or the one that suits it), e.g. "2,5 Std." */
    duration: (seconds, unit = unitFor([seconds])) => (missing(seconds) ? t('none')
      : number({style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 1})
        .format(seconds / factorOf(unit))),
  };
}

function factorOf(unit) {
  return UNITS.find(([name]) => name === unit)[1];
}

function unitFor(seconds) {
  const largest = Math.max(0, ...seconds.filter((s) => !missing(s)));
  const found = UNITS.find(([, factor]) => largest >= 2 * factor);
  return found ? found[0] : 'second';
}

/** A local date of the summary (YYYY-MM-DD) read as that date, whatever the browser's zone. */
function localDate(text) {
  const [year, month, day] = text.split('-').map(Number);
  return new Date(Date.UTC(year, month - 1, day));
}

function dateText(text, options = {dateStyle: 'medium'}) {
  return new Intl.DateTimeFormat(language(), {...options, timeZone: 'UTC'})
    .format(localDate(text));
}

/** How a bucket is named in tables (long) and under a chart's axis (short). */
function bucketLabels(groupBy, start) {
  if (groupBy === 'month') {
    return {long: dateText(start, {month: 'long', year: 'numeric'}),
            short: dateText(start, {month: 'short', year: 'numeric'})};
  }
  const short = dateText(start, {day: 'numeric', month: 'short'});
  return groupBy === 'week'
    ? {long: t('analytics.weekOf', {date: dateText(start)}), short}
    : {long: dateText(start), short};
}

// --- CSV --------------------------------------------------------------------------------

/** One CSV cell: quoted when needed; text a spreadsheet would run as a formula is defused. */
function csvCell(value) {
  if (missing(value)) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvOf(columns, rows) {
  return [columns.map((c) => c.key), ...rows.map((row) => columns.map((c) => c.value(row)))]
    .map((line) => line.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

// --- charts -----------------------------------------------------------------------------

/**
 * A table of `rows` with `columns` ({key, label, value(row), text(value)}): the first
 * column heads each row. Every cell keeps the number it shows in data-value.
 */
function numbersTable(caption, columns, rows) {
  const [first, ...rest] = columns;
  return h('table', {class: 'numbers'},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', {},
      h('th', {scope: 'row', dataset: {value: String(first.value(row) ?? '')}},
        first.text(first.value(row))),
      rest.map((c) => {
        const value = c.value(row);
        return h('td', {class: 'number', dataset: {value: missing(value) ? '' : String(value)}},
          c.text(value));
      })))));
}

/** uPlot on the bucket index: bars or lines, our own legend, no hover (the table reads). */
function seriesPlot(target, {labels, series, yFormat, bars = false}) {
  const options = {
    width: Math.max(target.clientWidth, 280), height: CHART_HEIGHT,
    legend: {show: false}, cursor: {show: false}, select: {show: false},
    scales: {x: {time: false, range: [-0.5, labels.length - 0.5]},
             y: {range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1]}},
    axes: [
      {incrs: [1, 2, 3, 4, 6, 8, 12, 16], space: 48,
       values: (u, splits) => splits.map((i) => labels[i] ?? '')},
      {size: 70, values: (u, splits) => splits.map(yFormat)},
    ],
    series: [{}, ...series.map((s, i) => ({
      label: s.label, stroke: COLOURS[i], width: 2,
      fill: bars ? COLOURS[i] : undefined, dash: i === 1 ? [6, 4] : undefined,
      paths: bars ? uPlot.paths.bars({size: [0.6, 64]}) : undefined,
      points: {show: !bars, size: 6, fill: COLOURS[i]}, spanGaps: true,
    }))],
  };
  const data = [labels.map((_, i) => i), ...series.map((s) => s.values)];
  return new uPlot(options, data, target);
}

function legend(series) {
  return h('ul', {class: 'chart-legend', 'aria-hidden': 'true'},
    series.map((s, i) => h('li', {}, h('span', {class: `swatch swatch-${i}`}), s.label)));
}

/** Horizontal bars in plain DOM: a distribution of counts ([label, count] pairs). */
function distributionBars(pairs, format) {
  const largest = Math.max(0, ...pairs.map(([, n]) => n));
  if (largest === 0) return h('p', {class: 'empty'}, t('analytics.noEntries'));
  return h('div', {class: 'bars', 'aria-hidden': 'true'}, pairs.map(([label, n]) => {
    const bar = h('span', {class: 'bar'});
    bar.style.width = `${(100 * n) / largest}%`;  // CSSOM, which the policy allows
    return h('div', {class: 'bar-row'}, h('span', {class: 'bar-label'}, label),
      h('span', {class: 'bar-track'}, bar), h('span', {class: 'bar-value'}, format(n)));
  }));
}

// --- the page ---------------------------------------------------------------------------

export async function analyticsPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('analytics.title'));
  const widgets = await app.widgets();
  let choices = choicesFrom(ctx.query, widgets);
  const plots = [];
  const downloads = [];
  let asked = 0;

  const results = h('div', {class: 'analytics', id: 'analytics-results'});
  const problems = h('div', {class: 'problems'});
  const select = (name, label, options) => field(label, h('select', {name,
    id: `analytics-${name}`, onchange: (event) => change(name, event.target.value)},
  options.map(([value, text]) => h('option', {value, selected: value === choices[name]}, text))));
  const controls = h('form', {class: 'analytics-controls',
                              onsubmit: (event) => event.preventDefault()},
    select('period', t('analytics.period'), PERIODS.map((p) => [p, t(`analytics.period.${p}`)]))
      .wrapper,
    select('group_by', t('analytics.groupBy'),
      GROUPINGS.map((g) => [g, t(`analytics.group.${g}`)])).wrapper,
    select('widget', t('analytics.widget'), [['', t('analytics.allWidgets')],
      ...[...widgets.values()].map((w) => [w.id, w.name || w.id])]).wrapper);

  function forget() {
    for (const plot of plots.splice(0)) plot.destroy();
    for (const url of downloads.splice(0)) URL.revokeObjectURL(url);
  }

  function resize() {
    for (const plot of plots) {
      const width = Math.max(plot.root.parentElement.clientWidth, 280);
      if (width !== plot.width) plot.setSize({width, height: CHART_HEIGHT});
    }
  }
  window.addEventListener('resize', resize);
  ctx.onLeave(() => {
    window.removeEventListener('resize', resize);
    forget();
  });

  /** A link to the numbers as a CSV file (a Blob URL this page made, so no safeHref). */
  function csvLink(name, title, text) {
    const url = URL.createObjectURL(new Blob([text], {type: 'text/csv;charset=utf-8'}));
    downloads.push(url);
    const link = h('a', {download: name, class: 'csv', dataset: {csv: name}},
      t('analytics.csv'), h('span', {class: 'visually-hidden'}, ` – ${title}`));
    link.href = url;
    return link;
  }

  /** One chart's panel: heading, picture, its numbers as a table and as CSV. */
  function chartPanel(key, title, {picture, columns, rows, caption}) {
    const name = `resonanz-${key}-${choices.period}-${choices.group_by}.csv`;
    return h('section', {class: 'panel chart-panel', id: `chart-${key}`,
                         'aria-labelledby': `chart-${key}-title`},
      h('h2', {id: `chart-${key}-title`}, title),
      picture,
      h('details', {class: 'numbers'}, h('summary', {}, t('analytics.numbers')),
        numbersTable(caption, columns, rows)),
      h('p', {class: 'downloads'}, csvLink(name, title, csvOf(columns, rows))));
  }

  function render(summary) {
    forget();
    const f = formats();
    const periodText = t('analytics.range', {from: dateText(summary.from), to: dateText(summary.to)});
    const buckets = summary.buckets.map((b) => ({...b, label: bucketLabels(summary.group_by, b.start)}));
    const caption = (what) => `${what} · ${t(`analytics.per.${summary.group_by}`)} · ${periodText}`;
    const bucket = {key: 'start', label: t(`analytics.bucket.${summary.group_by}`),
                    value: (b) => b.start, text: (start) => bucketLabels(summary.group_by, start).long};
    const charts = [];
    const series = (key, title, columns, plotted, {bars = false, yFormat} = {}) => {
      const target = h('div', {class: 'chart', 'aria-hidden': 'true'});
      charts.push({target, labels: buckets.map((b) => b.label.short), bars, yFormat,
                   series: plotted});
      return chartPanel(key, title, {picture: [plotted.length > 1 ? legend(plotted) : null, target],
                                     columns: [bucket, ...columns], rows: buckets, caption: caption(title)});
    };
    const durations = (key, title, measure, counted) => {
      const unit = unitFor(summary.buckets.flatMap((b) => [b[measure].average_seconds,
                                                           b[measure].median_seconds]));
      const inUnit = (s) => (missing(s) ? null : s / factorOf(unit));
      const stat = (which) => ({key: `${which}_seconds`, label: t(`analytics.${which}`),
                                value: (b) => b[measure][`${which}_seconds`],
                                text: (s) => f.duration(s, unit)});
      return series(key, title, [
        {key: counted, label: t(`analytics.${counted}`), value: (b) => b[measure][counted], text: f.count},
        stat('average'), stat('median')],
      [{label: t('analytics.average'), values: buckets.map((b) => inUnit(b[measure].average_seconds))},
       {label: t('analytics.median'), values: buckets.map((b) => inUnit(b[measure].median_seconds))}],
      {yFormat: (v) => f.duration(v * factorOf(unit), unit)});
    };
    const distribution = (key, title, label, pairs, text = (k) => k) => {
      const columns = [{key, label, value: ([k]) => k, text},
                       {key: 'count', label: t('analytics.count'), value: ([, n]) => n, text: f.count}];
      return chartPanel(key, title, {picture: distributionBars(pairs.map(([k, n]) => [text(k), n]), f.count),
                                     columns, rows: pairs, caption: `${title} · ${periodText}`});
    };
    const statuses = [...STATUSES, ...Object.keys(summary.statuses).filter((s) => !STATUSES.includes(s))];
    const categories = Object.entries(summary.categories)
      .sort(([a, m], [b, n]) => n - m || a.localeCompare(b, language()));

    clear(results);
    append(results,
      h('section', {class: 'panel', 'aria-labelledby': 'analytics-overview'},
        h('h2', {id: 'analytics-overview'}, t('analytics.overview')),
        h('dl', {class: 'totals analytics-totals'}, [
          ['total_submissions', t('analytics.submissions'), summary.total_submissions, f.count],
          ['average_rating', t('analytics.averageRating'), summary.average_rating, f.rating],
          ['response_rate', t('analytics.responseRate'), summary.response_rate, f.rate],
          ['time_to_first_response.average_seconds', t('analytics.firstResponseAverage'),
           summary.time_to_first_response.average_seconds, f.duration],
          ['time_to_first_response.median_seconds', t('analytics.firstResponseMedian'),
           summary.time_to_first_response.median_seconds, f.duration],
          ['time_to_resolve.average_seconds', t('analytics.resolveAverage'),
           summary.time_to_resolve.average_seconds, f.duration],
          ['time_to_resolve.median_seconds', t('analytics.resolveMedian'),
           summary.time_to_resolve.median_seconds, f.duration],
        ].map(([key, term, value, format]) => h('div', {dataset: {key, value: value ?? ''}},
          h('dt', {}, term), h('dd', {}, format(value))))),
        h('p', {class: 'hint', id: 'analytics-scope',
                dataset: {from: summary.from, to: summary.to, timezone: summary.timezone}},
        t('analytics.scope', {from: dateText(summary.from), to: dateText(summary.to),
                              zone: summary.timezone}))),
      h('div', {class: 'charts'},
        series('submissions', t('analytics.submissions'),
          [{key: 'total_submissions', label: t('analytics.submissions'),
            value: (b) => b.total_submissions, text: f.count}],
          [{label: t('analytics.submissions'), values: buckets.map((b) => b.total_submissions)}],
          {bars: true, yFormat: f.count}),
        series('average-rating', t('analytics.averageRating'),
          [{key: 'average_rating', label: t('analytics.averageRating'),
            value: (b) => b.average_rating, text: f.rating}],
          [{label: t('analytics.averageRating'), values: buckets.map((b) => b.average_rating)}],
          {yFormat: f.rating}),
        series('response-rate', t('analytics.responseRate'),
          [{key: 'response_rate', label: t('analytics.responseRate'),
            value: (b) => b.response_rate, text: f.rate},
           {key: 'responded', label: t('analytics.responded'),
            value: (b) => b.time_to_first_response.responded, text: f.count}],
          [{label: t('analytics.responseRate'), values: buckets.map((b) => b.response_rate)}],
          {yFormat: f.rate}),
        durations('first-response', t('analytics.firstResponse'), 'time_to_first_response',
                  'responded'),
        durations('resolve', t('analytics.resolve'), 'time_to_resolve', 'resolved'),
        distribution('rating', t('analytics.ratings'), t('inbox.col.rating'),
          RATINGS.map((r) => [String(r), summary.rating_distribution[String(r)] ?? 0]),
          (r) => t('rating.value', {n: r})),
        distribution('category', t('analytics.categories'), t('inbox.col.category'), categories),
        distribution('status', t('analytics.statuses'), t('inbox.col.status'),
          statuses.map((s) => [s, summary.statuses[s] ?? 0]), (s) => t(`status.${s}`))));
    // Drawn once in the page, so each chart measures the width it has.
    for (const chart of charts) plots.push(seriesPlot(chart.target, chart));
  }

  async function load() {
    asked += 1;
    const mine = asked;
    clear(problems);
    results.setAttribute('aria-busy', 'true');
    try {
      const answer = await api.get('/v1/analytics/summary', {query: {
        period: choices.period, group_by: choices.group_by, widget_id: choices.widget || null}});
      if (mine !== asked) return false;
      render(answer.data);
      return true;
    } catch (error) {
      if (mine !== asked) return false;
      problems.append(messageBox('error', t('error.server', {message: error.message})));
      return false;
    } finally {
      if (mine === asked) results.setAttribute('aria-busy', 'false');
    }
  }

  async function change(name, value) {
    choices = {...choices, [name]: value};
    window.history.replaceState(null, '', addressOf(choices));
    if (await load()) {
      const widget = choices.widget ? widgets.get(choices.widget) : null;
      announce(t('analytics.shown', {period: t(`analytics.period.${choices.period}`),
        group: t(`analytics.per.${choices.group_by}`),
        widget: widget ? (widget.name || widget.id) : t('analytics.allWidgets')}));
    }
  }

  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('analytics.title')),
    ctx.flashBox(), controls, problems, results);
  await load();
}
