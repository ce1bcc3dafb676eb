// The webhook portal (admins only): endpoints with their health, create and edit with the
// event catalog, the secret shown once, test events, the message log with every attempt,
// resend, recover, rotate, re-enable, and how to verify signatures. A pure client of
// /v1/webhooks…: the same calls an integrator's own tooling would make.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox, uid} from './dom.js';
import {t} from './i18n.js';
import {time} from './view.js';

const BASE = '/v1/webhooks';
const hookPath = (id) => `${BASE}/${encodeURIComponent(id)}`;

// Static: what an integrator pastes. Header names as README's webhooks section has them.
const PYTHON_SNIPPET = `# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook

wh = Webhook(STANDARD_WEBHOOKS_SECRET)  # the whsec_… shown once


def handle(body: bytes, headers: dict[str, str]) -> None:
    # Raises unless webhook-id, webhook-timestamp and webhook-signature match the body.
    event = wh.verify(body, headers)
    if event["data"].get("test"):
        return  # a test event sent from the portal
    print(event["type"], event["data"]["event_id"])
`;

const NODE_SNIPPET = `// npm install standardwebhooks
import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.STANDARD_WEBHOOKS_SECRET); // the whsec_… shown once

// body: the raw request body as a string; headers: webhook-id, webhook-timestamp,
// webhook-signature as received. Throws unless they match.
export function handle(body, headers) {
  const event = wh.verify(body, headers);
  if (event.data.test) return; // a test event sent from the portal
  console.log(event.type, event.data.event_id);
}
`;

function heading(ctx, title) {
  ctx.setTitle(title);
  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, title), ctx.flashBox());
}

function errorText(error) {
  return t('error.server', {message: error.message || String(error)});
}

function statusOf(hook) {
  if (!hook.enabled) return h('span', {class: 'badge hook-disabled'}, t('webhooks.disabled'));
  if (hook.failing_since) return h('span', {class: 'badge hook-failing'}, t('webhooks.failing'));
  return h('span', {class: 'badge hook-active'}, t('webhooks.active'));
}

function healthText(hook) {
  if (!hook.enabled) {
    return [t('webhooks.disabledSince'), ' ', time(hook.disabled_at), ': ',
      hook.disabled_reason || t('none')];
  }
  if (hook.failing_since) return [t('webhooks.failingSince'), ' ', time(hook.failing_since)];
  return t('webhooks.healthy');
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** The secret, once: both forms, each with a copy button. */
function secretBox(created) {
  const copyButton = (value, label) => h('button', {type: 'button', class: 'secondary',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(value);
        announce(t('webhooks.copied'));
      } catch {
        announce(t('webhooks.copyFailed'));
      }
    }}, label);
  return h('section', {class: 'panel secret-once', role: 'status', 'aria-labelledby': 'secret-title'},
    h('h2', {id: 'secret-title'}, t('webhooks.secretTitle')),
    h('p', {}, t('webhooks.secretOnce')),
    h('p', {}, h('code', {class: 'secret', id: 'standard-secret'}, created.standard_webhooks_secret), ' ',
      copyButton(created.standard_webhooks_secret, t('webhooks.copy'))),
    created.secret !== created.standard_webhooks_secret
      ? h('p', {class: 'hint'}, t('webhooks.secretAsGiven'), ' ', h('code', {}, created.secret)) : null);
}

/** Create or edit: URL, description and the catalog's events as checkboxes. */
function hookForm(catalog, hook, onSaved) {
  const problems = h('div', {class: 'problems'});
  const url = h('input', {type: 'url', name: 'url', required: true, maxlength: '2048',
                          value: hook ? hook.url : '', autocomplete: 'off'});
  const description = h('input', {type: 'text', name: 'description', maxlength: '500',
                                  value: hook && hook.description ? hook.description : ''});
  const chosen = new Set(hook ? hook.events : []);
  const boxes = catalog.map((entry) => {
    const id = uid('event');
    const box = h('input', {type: 'checkbox', id, name: 'events', value: entry.name,
                            checked: chosen.has(entry.name)});
    return {entry, box, item: h('li', {class: 'event-type'},
      box, ' ', h('label', {for: id}, h('code', {}, entry.name)),
      h('p', {class: 'hint'}, entry.description),
      h('details', {class: 'event-schema'},
        h('summary', {}, t('webhooks.schemaAndSample', {name: entry.name})),
        h('h4', {}, t('webhooks.schema')), h('pre', {tabindex: '0'}, pretty(entry.schema)),
        h('h4', {}, t('webhooks.sample')), h('pre', {tabindex: '0'}, pretty(entry.sample))))};
  });
  const legendId = uid('events');
  const form = h('form', {class: 'hook-form', novalidate: true},
    problems,
    field(t('webhooks.url'), url, t('webhooks.urlHint')).wrapper,
    field(t('webhooks.description'), description).wrapper,
    h('fieldset', {'aria-describedby': legendId},
      h('legend', {}, t('webhooks.events')),
      h('p', {class: 'hint', id: legendId}, t('webhooks.eventsHint')),
      h('ul', {class: 'event-types'}, boxes.map((b) => b.item))),
    h('button', {type: 'submit'}, hook ? t('webhooks.save') : t('webhooks.create')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(problems);
    const events = boxes.filter((b) => b.box.checked).map((b) => b.entry.name);
    if (!url.value.trim()) {
      problems.append(messageBox('error', t('webhooks.urlMissing')));
      url.focus();
      return;
    }
    if (events.length === 0) {
      problems.append(messageBox('error', t('webhooks.eventsMissing')));
      boxes[0].box.focus();
      return;
    }
    const body = {url: url.value.trim(), events, description: description.value.trim() || null};
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const answer = hook ? await api.patch(hookPath(hook.id), body) : await api.post(BASE, body);
      await onSaved(answer.data);
    } catch (error) {
      button.disabled = false;
      const about = error.about && (error.about('url') || error.about('events'));
      problems.append(messageBox('error', about ? t('webhooks.refused', {message: about}) : errorText(error)));
      (error.about && error.about('events') ? boxes[0].box : url).focus();
    }
  });
  return form;
}

function snippets() {
  return h('section', {class: 'panel', 'aria-labelledby': 'verify-title'},
    h('h2', {id: 'verify-title'}, t('webhooks.verifyTitle')),
    h('p', {}, t('webhooks.verifyIntro')),
    h('h3', {}, 'Python'), h('pre', {tabindex: '0', class: 'snippet'}, h('code', {}, PYTHON_SNIPPET)),
    h('h3', {}, 'Node.js'), h('pre', {tabindex: '0', class: 'snippet'}, h('code', {}, NODE_SNIPPET)));
}

async function loadCatalog() {
  return (await api.get(`${BASE}/event-types`)).data;
}

// --- the list ---------------------------------------------------------------------------------

async function listPage(ctx) {
  heading(ctx, t('webhooks.title'));
  let hooks;
  let catalog;
  try {
    [hooks, catalog] = await Promise.all([api.get(BASE).then((a) => a.data), loadCatalog()]);
  } catch (error) {
    append(ctx.main, messageBox('error', errorText(error)));
    return;
  }
  const created = h('div', {});
  const rows = hooks.map((hook) => h('tr', {dataset: {id: hook.id}},
    h('td', {class: 'hook-url'}, h('a', {href: `/app/webhooks/${encodeURIComponent(hook.id)}`}, hook.url),
      hook.description ? h('p', {class: 'hint'}, hook.description) : null),
    h('td', {}, statusOf(hook)),
    h('td', {}, healthText(hook)),
    h('td', {}, hook.events.join(', '))));
  append(ctx.main,
    h('p', {}, t('webhooks.intro')),
    created,
    hooks.length === 0 ? h('p', {class: 'empty'}, t('webhooks.none')) : h('table', {class: 'hooks'},
      h('caption', {class: 'visually-hidden'}, t('webhooks.endpoints')),
      h('thead', {}, h('tr', {}, [t('webhooks.col.url'), t('webhooks.col.status'),
        t('webhooks.col.health'), t('webhooks.col.events')].map((text) => h('th', {scope: 'col'}, text)))),
      h('tbody', {}, rows)),
    h('section', {class: 'panel', 'aria-labelledby': 'add-title'},
      h('h2', {id: 'add-title'}, t('webhooks.add')),
      hookForm(catalog, null, async (hook) => {
        ctx.app.flash(t('webhooks.createdNow'));
        ctx.app.pendingSecret = hook;
        ctx.app.navigate(`/app/webhooks/${encodeURIComponent(hook.id)}`);
      })),
    snippets());
}

// --- one endpoint -------------------------------------------------------------------------------

function attemptsTable(attempts) {
  if (attempts.length === 0) return h('p', {class: 'hint'}, t('webhooks.noAttempts'));
  return h('table', {class: 'attempts'},
    h('caption', {class: 'visually-hidden'}, t('webhooks.attempts')),
    h('thead', {}, h('tr', {}, [t('webhooks.col.when'), t('webhooks.col.outcome'),
      t('webhooks.col.httpStatus'), t('webhooks.col.latency'), t('webhooks.col.response')]
      .map((text) => h('th', {scope: 'col'}, text)))),
    h('tbody', {}, attempts.map((a) => h('tr', {class: `attempt outcome-${String(a.outcome).replace(/[^a-z_0-9]/g, '')}`},
      h('td', {}, time(a.attempted_at)),
      h('td', {}, a.outcome),
      h('td', {}, a.status_code ?? t('none')),
      h('td', {}, t('webhooks.ms', {ms: Math.round(a.duration_ms)})),
      h('td', {}, h('code', {class: 'response-snippet'}, (a.response_body || a.error || '').slice(0, 300)))))));
}

function messageLog(hook, problems) {
  const tbody = h('tbody');
  const wrapper = h('div', {class: 'message-log'});
  const refreshButton = h('button', {type: 'button', class: 'secondary', id: 'refresh-log',
                                     onclick: () => load(true)}, t('webhooks.refresh'));
  // Messages whose attempts the reader opened: a refresh redraws the rows and opens them
  // again, also when it lands while their attempts are still being fetched.
  const opened = new Set();

  async function showAttempts(delivery, cell, button) {
    button.disabled = true;
    try {
      const attempts = (await api.get(`${hookPath(hook.id)}/deliveries/${encodeURIComponent(delivery.id)}/attempts`)).data;
      clear(cell).append(attemptsTable(attempts));
      button.setAttribute('aria-expanded', 'true');
    } catch (error) {
      problems.append(messageBox('error', errorText(error)));
    }
    button.disabled = false;
  }

  async function resend(delivery, button) {
    button.disabled = true;
    try {
      await api.post(`${hookPath(hook.id)}/deliveries/${encodeURIComponent(delivery.id)}/resend`);
      announce(t('webhooks.resent'));
      await load(false);
    } catch (error) {
      button.disabled = false;
      problems.append(messageBox('error', errorText(error)));
    }
  }

  function row(delivery) {
    const detail = h('td', {colspan: '6', class: 'attempts-cell'});
    const attemptsButton = h('button', {type: 'button', class: 'secondary show-attempts',
      'aria-expanded': 'false', 'aria-label': t('webhooks.showAttemptsOf', {id: delivery.id})},
    t('webhooks.showAttempts'));
    attemptsButton.addEventListener('click', () => {
      opened.add(delivery.id);
      showAttempts(delivery, detail, attemptsButton);
    });
    if (opened.has(delivery.id)) showAttempts(delivery, detail, attemptsButton);
    const resendButton = h('button', {type: 'button', class: 'secondary resend',
      'aria-label': t('webhooks.resendOne', {id: delivery.id})}, t('webhooks.resend'));
    resendButton.addEventListener('click', () => resend(delivery, resendButton));
    const tr = h('tr', {class: 'delivery', dataset: {id: delivery.id}},
      h('td', {}, h('code', {}, delivery.id)),
      h('td', {}, delivery.webhook_type,
        delivery.event_type === 'webhook.test' ? [' ', h('span', {class: 'badge test'}, t('webhooks.test'))] : null),
      h('td', {}, h('span', {class: `badge delivery-${delivery.status}`}, t(`webhooks.delivery.${delivery.status}`))),
      h('td', {class: 'number'}, String(delivery.attempts)),
      h('td', {}, time(delivery.created_at)),
      h('td', {class: 'row-actions'}, attemptsButton, delivery.status === 'cancelled' ? null : resendButton));
    return [tr, h('tr', {class: 'attempts-row'}, detail)];
  }

  async function load(say) {
    let deliveries;
    try {
      deliveries = (await api.get(`${hookPath(hook.id)}/deliveries`, {query: {limit: 100}})).data;
    } catch (error) {
      problems.append(messageBox('error', errorText(error)));
      return;
    }
    clear(tbody).append(...deliveries.flatMap(row));
    empty.hidden = deliveries.length > 0;
    if (say) announce(t('webhooks.logRefreshed', {n: deliveries.length}));
  }

  const empty = h('p', {class: 'empty', hidden: true}, t('webhooks.noMessages'));
  append(wrapper, h('p', {}, refreshButton), empty,
    h('table', {class: 'deliveries'},
      h('caption', {class: 'visually-hidden'}, t('webhooks.log')),
      h('thead', {}, h('tr', {}, [t('webhooks.col.message'), t('webhooks.col.type'),
        t('webhooks.col.status'), t('webhooks.col.attempts'), t('webhooks.col.created'),
        t('webhooks.col.actions')].map((text) => h('th', {scope: 'col'}, text)))),
      tbody));
  return {element: wrapper, load};
}

async function detailPage(ctx, id) {
  let hook;
  let catalog;
  try {
    [hook, catalog] = await Promise.all([api.get(hookPath(id)).then((a) => a.data), loadCatalog()]);
  } catch (error) {
    heading(ctx, t('webhooks.title'));
    append(ctx.main, messageBox('error', error.status === 404 ? t('webhooks.notFound') : errorText(error)),
      h('p', {}, h('a', {href: '/app/webhooks'}, t('webhooks.back'))));
    return;
  }
  heading(ctx, t('webhooks.endpointTitle', {url: hook.url}));
  const problems = h('div', {class: 'problems', 'aria-live': 'polite'});
  const secret = h('div', {});
  if (ctx.app.pendingSecret && ctx.app.pendingSecret.id === hook.id) {
    secret.append(secretBox(ctx.app.pendingSecret));
  }
  ctx.app.pendingSecret = null;
  const state = h('div', {});
  const log = messageLog(hook, problems);

  const act = async (button, call, said) => {
    clear(problems);
    button.disabled = true;
    try {
      const answer = await call();
      announce(said);
      return answer;
    } catch (error) {
      problems.append(messageBox('error', errorText(error)));
      return null;
    } finally {
      button.disabled = false;
    }
  };

  function showState() {
    const enable = h('button', {type: 'button', id: 'enable-hook', onclick: async (event) => {
      const answer = await act(event.target, () => api.post(`${hookPath(hook.id)}/enable`), t('webhooks.enabledNow'));
      if (answer) {
        hook = answer.data;
        showState();
      }
    }}, t('webhooks.enable'));
    append(clear(state), h('dl', {class: 'facts'},
      h('dt', {}, t('webhooks.col.status')), h('dd', {}, statusOf(hook), ' ', healthText(hook)),
      h('dt', {}, t('webhooks.col.events')), h('dd', {}, hook.events.join(', ')),
      h('dt', {}, t('webhooks.description')), h('dd', {}, hook.description || t('none')),
      h('dt', {}, t('webhooks.created')), h('dd', {}, time(hook.created_at)),
      hook.previous_secret_valid_until ? [h('dt', {}, t('webhooks.previousSecret')),
        h('dd', {}, time(hook.previous_secret_valid_until))] : null),
    hook.enabled ? null : h('p', {}, enable));
  }
  showState();

  const testType = h('select', {name: 'test-type'},
    catalog.map((entry) => h('option', {value: entry.name, selected: entry.name === hook.events[0]}, entry.name)));
  const sendTest = h('button', {type: 'button', id: 'send-test', onclick: async (event) => {
    const answer = await act(event.target, () => api.post(`${hookPath(hook.id)}/test`, {event_type: testType.value}),
      t('webhooks.testSent'));
    if (answer) {
      problems.append(messageBox('success', t('webhooks.testQueued', {id: answer.data.id})));
      setTimeout(() => log.load(false), 1500);
    }
  }}, t('webhooks.sendTest'));

  const since = h('input', {type: 'datetime-local', name: 'recover-since', required: true});
  const recover = h('button', {type: 'button', id: 'recover', onclick: async (event) => {
    if (!since.value) {
      problems.append(messageBox('error', t('webhooks.sinceMissing')));
      since.focus();
      return;
    }
    const answer = await act(event.target, () => api.post(`${hookPath(hook.id)}/recover`,
      {since: new Date(since.value).toISOString()}), t('webhooks.recoverQueued'));
    if (answer) {
      problems.append(messageBox('success', t('webhooks.recovered', {n: answer.data.recovered})));
      await log.load(false);
    }
  }}, t('webhooks.recover'));

  const rotate = h('button', {type: 'button', id: 'rotate-secret', class: 'secondary', onclick: async (event) => {
    const answer = await act(event.target, () => api.post(`${hookPath(hook.id)}/rotate-secret`), t('webhooks.rotatedNow'));
    if (answer) {
      hook = answer.data;
      clear(secret).append(secretBox(answer.data), messageBox('info', t('webhooks.rotatedBoth')));
      showState();
      document.getElementById('standard-secret').focus();
    }
  }}, t('webhooks.rotate'));

  const editor = h('details', {class: 'panel edit-hook'},
    h('summary', {}, t('webhooks.edit')),
    hookForm(catalog, hook, async (saved) => {
      ctx.app.flash(t('webhooks.savedNow'));
      ctx.app.navigate(`/app/webhooks/${encodeURIComponent(saved.id)}`, {replace: true});
    }));

  append(ctx.main,
    h('p', {}, h('a', {href: '/app/webhooks'}, t('webhooks.back'))),
    secret, problems, state,
    h('section', {class: 'panel', 'aria-labelledby': 'test-title'},
      h('h2', {id: 'test-title'}, t('webhooks.testTitle')),
      h('p', {}, t('webhooks.testIntro')),
      h('div', {class: 'inline-form'}, field(t('webhooks.testType'), testType).wrapper, sendTest)),
    h('section', {class: 'panel', 'aria-labelledby': 'log-title'},
      h('h2', {id: 'log-title'}, t('webhooks.log')),
      log.element,
      h('div', {class: 'inline-form'}, field(t('webhooks.recoverSince'), since, t('webhooks.recoverHint')).wrapper,
        recover)),
    h('section', {class: 'panel', 'aria-labelledby': 'secret-rotate-title'},
      h('h2', {id: 'secret-rotate-title'}, t('webhooks.rotateTitle')),
      h('p', {}, t('webhooks.rotateIntro')), rotate),
    editor,
    snippets());
  await log.load(false);
}

export async function webhooksPage(ctx) {
  if (!ctx.app.user || ctx.app.user.role !== 'admin') {
    heading(ctx, t('webhooks.title'));
    append(ctx.main, messageBox('info', t('webhooks.adminsOnly')));
    return;
  }
  const [id] = ctx.params;
  if (id) await detailPage(ctx, id);
  else await listPage(ctx);
}
