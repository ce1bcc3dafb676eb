/*! Resonanz feedback widget. Embed with one tag:
 *  <script src="https://GATEWAY/widget.js" data-widget="PUBLIC_ID" async></script>
 * Plain JavaScript, no dependencies. Everything runs inside a Shadow DOM and inside
 * try/catch: whatever goes wrong here stays here and never breaks the shop's page. */
(() => {
  'use strict';

  const TEXTS = {
    de: {
      open: 'Feedback geben', title: 'Ihre Meinung zählt', send: 'Senden', sending: 'Wird gesendet …',
      close: 'Schließen', thanks: 'Vielen Dank für Ihr Feedback!', thanksMore: 'Ihre Antwort ist angekommen.',
      required: 'Bitte beantworten Sie diese Frage.', invalid: 'Bitte prüfen Sie diese Antwort.',
      empty: 'Bitte beantworten Sie mindestens eine Frage.', email: 'E-Mail (optional, für Ihre Belohnung)',
      failed: 'Das hat leider nicht geklappt. Bitte versuchen Sie es später noch einmal.',
      paused: 'Feedback ist gerade pausiert.', tooMany: 'Zu viele Versuche. Bitte warten Sie einen Moment.',
      star: (n) => (n === 1 ? '1 Stern' : `${n} Sterne`), npsLow: 'unwahrscheinlich', npsHigh: 'sehr wahrscheinlich',
      requiredMark: 'Pflichtfeld', website: 'Website (bitte leer lassen)',
    },
    en: {
      open: 'Give feedback', title: 'We value your feedback', send: 'Send', sending: 'Sending …',
      close: 'Close', thanks: 'Thank you for your feedback!', thanksMore: 'Your answer has arrived.',
      required: 'Please answer this question.', invalid: 'Please check this answer.',
      empty: 'Please answer at least one question.', email: 'Email (optional, for your reward)',
      failed: 'Sorry, that did not work. Please try again later.',
      paused: 'Feedback is paused right now.', tooMany: 'Too many attempts. Please wait a moment.',
      star: (n) => (n === 1 ? '1 star' : `${n} stars`), npsLow: 'not likely', npsHigh: 'very likely',
      requiredMark: 'required', website: 'Website (leave empty)',
    },
  };
  const COLOUR = /^#(?:[0-9a-f]{3}){1,2}$/i;
  const FONT = /^[\w \t,'"-]{1,120}$/;
  const FOCUSABLE = 'button:not([disabled]),input:not([disabled]):not([tabindex="-1"]),textarea,select,[tabindex="0"]';

  const warn = (error) => {
    try { console.warn('[resonanz widget]', error); } catch (_) { /* no console: nothing to do */ }
  };
  const guard = (fn) => function guarded(...args) {
    try {
      const result = fn.apply(this, args);
      if (result && typeof result.catch === 'function') result.catch(warn);
      return result;
    } catch (error) {
      warn(error);
      return undefined;
    }
  };

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), guard(value));
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) if (child != null) el.append(child);
    return el;
  }

  function pickLanguage(offered) {
    const page = (document.documentElement.getAttribute('lang') || navigator.language || 'en')
      .slice(0, 2).toLowerCase();
    if (offered.includes(page)) return page;
    return offered.includes('en') ? 'en' : offered[0] || 'en';
  }

  function label(text, lang) {
    if (typeof text === 'string') return text;
    return (text && (text[lang] || text.en || text.de || Object.values(text)[0])) || '';
  }

  function css(theme, placement) {
    const pick = (value, pattern, fallback) => (pattern.test(String(value)) ? value : fallback);
    const radius = Math.min(32, Math.max(0, Number(theme.border_radius) || 0));
    const side = placement === 'bottom-left' ? 'left' : 'right';
    return `
:host{all:initial;--rz-primary:${pick(theme.primary_color, COLOUR, '#0f766e')};--rz-bg:${pick(theme.background_color, COLOUR, '#fff')};
--rz-text:${pick(theme.text_color, COLOUR, '#1f2937')};--rz-font:${pick(theme.font_family, FONT, 'system-ui, sans-serif')};--rz-radius:${radius}px}
*{box-sizing:border-box;font-family:var(--rz-font);color:var(--rz-text)}
.float{position:fixed;bottom:16px;${side}:16px;z-index:2147483000;display:flex;flex-direction:column;align-items:${side === 'left' ? 'flex-start' : 'flex-end'};gap:8px}
.launcher{background:var(--rz-primary);color:#fff;border:0;border-radius:var(--rz-radius);padding:12px 18px;font-size:15px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2)}
.launcher:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid var(--rz-primary);outline-offset:2px}
.panel{background:var(--rz-bg);border-radius:var(--rz-radius);padding:18px;width:min(360px,calc(100vw - 32px));max-height:min(640px,calc(100vh - 96px));overflow:auto;box-shadow:0 10px 30px rgba(0,0,0,.25);font-size:14px;line-height:1.4}
.inline .panel{box-shadow:none;border:1px solid rgba(0,0,0,.15);width:100%;max-width:520px;max-height:none}
.head{display:flex;justify-content:space-between;align-items:start;gap:8px}
h2{font-size:17px;margin:0 0 10px}
.x{background:none;border:0;font-size:22px;line-height:1;cursor:pointer;padding:0 4px}
fieldset{border:0;margin:0 0 14px;padding:0}legend,.q>label{display:block;font-weight:600;margin-bottom:6px;padding:0}
.q{margin:0 0 14px}
.scale{display:flex;flex-wrap:wrap;gap:4px}
.scale input,.opt input{position:absolute;opacity:0;width:1px;height:1px}
.scale label{display:inline-flex;align-items:center;justify-content:center;min-width:32px;height:32px;border:1px solid rgba(0,0,0,.2);border-radius:calc(var(--rz-radius)/2);cursor:pointer;background:var(--rz-bg)}
.stars label{border:0;font-size:26px;color:#c4c4c4;min-width:30px}.stars label.on{color:var(--rz-primary)}
.scale input:checked+label{background:var(--rz-primary);color:#fff}.stars input:checked+label{background:none;color:var(--rz-primary)}
.scale input:focus-visible+label,.opt input:focus-visible+span{outline:3px solid var(--rz-primary);outline-offset:2px}
.ends{display:flex;justify-content:space-between;font-size:12px;opacity:.75;margin-top:2px}
.opt{display:flex;gap:8px;align-items:center;margin:4px 0;cursor:pointer}.opt input{position:static;opacity:1;width:auto;height:auto}
textarea,input[type=email]{width:100%;padding:8px;border:1px solid rgba(0,0,0,.3);border-radius:calc(var(--rz-radius)/2);font-size:14px;background:#fff;color:#111}
textarea{min-height:72px;resize:vertical}
.err{color:#b91c1c;font-size:13px;margin:4px 0 0;min-height:0}
.err:empty{display:none}
.send{background:var(--rz-primary);color:#fff;border:0;border-radius:var(--rz-radius);padding:10px 16px;font-size:15px;cursor:pointer;width:100%}
.send[disabled]{opacity:.6;cursor:progress}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.thanks h2{outline:none}
[hidden]{display:none!important}`;
  }

  /* --- the form ---------------------------------------------------------------------- */

  function scale(question, lang, t, from, to, stars) {
    const name = `q-${question.id}`;
    const items = [];
    for (let n = from; n <= to; n += 1) {
      const id = `${name}-${n}`;
      items.push(h('input', { type: 'radio', id, name, value: String(n) }),
        h('label', { for: id, title: stars ? t.star(n) : String(n), 'aria-label': stars ? t.star(n) : null,
          text: stars ? '★' : String(n) }));
    }
    const box = h('div', { class: `scale${stars ? ' stars' : ''}` }, items);
    if (stars) {
      box.addEventListener('change', guard(() => {
        const value = Number(box.querySelector('input:checked')?.value || 0);
        box.querySelectorAll('label').forEach((el, i) => el.classList.toggle('on', i < value));
      }));
    }
    const ends = stars ? null : h('div', { class: 'ends', 'aria-hidden': 'true' },
      h('span', { text: t.npsLow }), h('span', { text: t.npsHigh }));
    return [box, ends];
  }

  function choices(question, lang, multiple) {
    return question.options.map((option) => h('label', { class: 'opt' },
      h('input', { type: multiple ? 'checkbox' : 'radio', name: `q-${question.id}`, value: option.id }),
      h('span', { text: label(option.label, lang) })));
  }

  function questionField(question, lang, t) {
    const errId = `err-${question.id}`;
    const required = question.required ? h('span', { 'aria-hidden': 'true', text: ' *' }) : null;
    const error = h('p', { class: 'err', id: errId });
    if (question.type === 'text') {
      const id = `q-${question.id}`;
      return h('div', { class: 'q', 'data-q': question.id },
        h('label', { for: id }, label(question.label, lang), required),
        h('textarea', { id, name: id, maxlength: 5000, rows: 3, 'aria-required': question.required ? 'true' : null,
          'aria-describedby': errId }), error);
    }
    let body;
    if (question.type === 'rating') body = scale(question, lang, t, 1, 5, true);
    else if (question.type === 'nps') body = scale(question, lang, t, 0, 10, false);
    else body = choices(question, lang, question.type === 'multiple_choice');
    return h('fieldset', { class: 'q', 'data-q': question.id, 'aria-describedby': errId,
      'aria-required': question.required ? 'true' : null },
    h('legend', {}, label(question.label, lang), required), body, error);
  }

  function answerOf(form, question) {
    const name = `q-${question.id}`;
    if (question.type === 'text') return form.querySelector(`[name="${name}"]`).value.trim();
    if (question.type === 'multiple_choice') {
      return [...form.querySelectorAll(`[name="${name}"]:checked`)].map((el) => el.value);
    }
    const checked = form.querySelector(`[name="${name}"]:checked`);
    if (!checked) return null;
    return question.type === 'single_choice' ? checked.value : Number(checked.value);
  }

  const blank = (value) => value == null || value === '' || (Array.isArray(value) && !value.length);

  /* --- the widget ------------------------------------------------------------------- */

  class Widget {
    constructor(config, origin, lang, mount) {
      this.config = config;
      this.origin = origin;
      this.lang = lang;
      this.t = TEXTS[lang] || TEXTS.en;
      this.inline = config.placement === 'inline';
      this.host = h('div', { 'data-resonanz-widget': config.public_id });
      this.root = this.host.attachShadow({ mode: 'open' });
      this.root.append(h('style', { text: css(config.theme || {}, config.placement) }));
      this.build();
      mount(this.host);
    }

    build() {
      const t = this.t;
      const titleId = 'rz-title';
      this.status = h('p', { class: 'err', role: 'alert' });
      this.form = h('form', { novalidate: true, onsubmit: (event) => { event.preventDefault(); return this.submit(); } },
        this.config.questions.map((q) => questionField(q, this.lang, t)),
        this.config.collect_email ? h('div', { class: 'q' },
          h('label', { for: 'rz-email', text: t.email }),
          h('input', { type: 'email', id: 'rz-email', name: 'email', autocomplete: 'email' })) : null,
        // Bots fill every field; people never see this one.
        h('div', { class: 'hp', 'aria-hidden': 'true' },
          h('label', { for: 'rz-website', text: t.website }),
          h('input', { type: 'text', id: 'rz-website', name: 'website', tabindex: '-1', autocomplete: 'off' })),
        this.status,
        h('button', { type: 'submit', class: 'send', text: t.send }));
      const close = this.inline ? null : h('button', { type: 'button', class: 'x', 'aria-label': t.close,
        text: '×', onclick: () => this.close() });
      this.panel = h('div', this.inline
        ? { class: 'panel', role: 'region', 'aria-labelledby': titleId }
        : { class: 'panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': titleId, hidden: true,
          id: 'rz-dialog', onkeydown: (event) => this.onKey(event) },
      h('div', { class: 'head' }, h('h2', { id: titleId, text: t.title }), close), this.form);
      if (this.inline) {
        this.root.append(h('div', { class: 'inline' }, this.panel));
        return;
      }
      this.launcher = h('button', { type: 'button', class: 'launcher', 'aria-haspopup': 'dialog',
        'aria-expanded': 'false', 'aria-controls': 'rz-dialog', text: t.open, onclick: () => this.toggle() });
      this.root.append(h('div', { class: 'float' }, this.panel, this.launcher));
    }

    focusables() {
      return [...this.panel.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest('[hidden],.hp'));
    }

    open() {
      if (this.inline || !this.panel.hidden) return;
      this.panel.hidden = false;
      this.launcher.setAttribute('aria-expanded', 'true');
      (this.focusables().find((el) => el.tagName !== 'BUTTON' || el.type === 'submit') || this.panel).focus();
    }

    close() {
      if (this.inline || this.panel.hidden) return;
      this.panel.hidden = true;
      this.launcher.setAttribute('aria-expanded', 'false');
      this.launcher.focus();
    }

    toggle() {
      if (this.panel.hidden) this.open(); else this.close();
    }

    onKey(event) {
      if (event.key === 'Escape') {
        event.stopPropagation();
        this.close();
        return;
      }
      if (event.key !== 'Tab') return;
      // Keep focus inside the open dialog (aria-modal): wrap around at both ends.
      const items = this.focusables();
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      const active = this.root.activeElement;
      if (event.shiftKey && active === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && active === last) { event.preventDefault(); first.focus(); }
    }

    clearErrors() {
      this.status.textContent = '';
      this.form.querySelectorAll('.err').forEach((el) => { el.textContent = ''; });
      this.form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    }

    markInvalid(questionId, message) {
      const field = this.form.querySelector(`[data-q="${questionId}"]`);
      if (!field) return null;
      field.querySelector('.err').textContent = message;
      const input = field.querySelector('input,textarea');
      field.querySelectorAll('input,textarea').forEach((el) => el.setAttribute('aria-invalid', 'true'));
      return input;
    }

    collect() {
      const answers = {};
      const invalid = [];
      for (const question of this.config.questions) {
        const value = answerOf(this.form, question);
        if (blank(value)) {
          if (question.required) invalid.push(this.markInvalid(question.id, this.t.required));
        } else {
          answers[question.id] = value;
        }
      }
      if (!invalid.length && !Object.keys(answers).length) this.status.textContent = this.t.empty;
      return { answers, invalid };
    }

    async submit() {
      this.clearErrors();
      const { answers, invalid } = this.collect();
      if (invalid.length || !Object.keys(answers).length) {
        (invalid[0] || this.focusables()[0])?.focus();
        return;
      }
      const button = this.form.querySelector('.send');
      button.disabled = true;
      button.textContent = this.t.sending;
      this.form.setAttribute('aria-busy', 'true');
      try {
        await this.send(answers);
      } finally {
        button.disabled = false;
        button.textContent = this.t.send;
        this.form.removeAttribute('aria-busy');
      }
    }

    async send(answers) {
      const form = this.form;
      const body = {
        answers, page_url: String(location.href).slice(0, 2000), language: this.lang,
        customer_email: form.querySelector('[name=email]')?.value.trim() || null,
        website: form.querySelector('[name=website]').value,
      };
      let response;
      try {
        response = await fetch(`${this.origin}/public/widgets/${encodeURIComponent(this.config.public_id)}/submissions`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
          credentials: 'omit', mode: 'cors',
        });
      } catch (error) {
        this.status.textContent = this.t.failed;
        warn(error);
        return;
      }
      if (response.status === 201) this.thank();
      else this.refused(response.status, await response.json().catch(() => ({})));
    }

    refused(status, payload) {
      const error = (payload && payload.error) || {};
      if (status === 409) this.status.textContent = this.t.paused;
      else if (status === 429) this.status.textContent = this.t.tooMany;
      else if (status === 400 && Array.isArray(error.details)) {
        const fields = error.details.map((d) => String(d.field || '')).filter((f) => f.startsWith('answers.'));
        fields.forEach((f) => this.markInvalid(f.slice(8), this.t.invalid));
        this.status.textContent = fields.length ? '' : this.t.failed;
        if (!fields.length && error.details.some((d) => String(d.field) === 'customer_email')) {
          this.status.textContent = this.t.invalid;
        }
      } else this.status.textContent = this.t.failed;
    }

    thank() {
      const heading = h('h2', { tabindex: '-1', text: this.t.thanks });
      const thanks = h('div', { class: 'thanks', role: 'status' }, heading, h('p', { text: this.t.thanksMore }));
      this.form.replaceWith(thanks);
      this.panel.querySelector('#rz-title').hidden = true;
      heading.focus();
    }

    arm(trigger) {
      if (this.inline || !trigger || trigger.type === 'manual') return;
      const key = `resonanz:${this.config.public_id}:shown`;
      const fire = guard(() => {
        disarm();
        try {
          if (sessionStorage.getItem(key)) return;
          sessionStorage.setItem(key, '1');
        } catch (_) { /* storage blocked: open anyway, once per page */ }
        this.open();
      });
      const onScroll = guard(() => {
        const seen = (window.scrollY + window.innerHeight) / Math.max(1, document.documentElement.scrollHeight);
        if (seen * 100 >= (trigger.percentage || 50)) fire();
      });
      const onLeave = guard((event) => { if (!event.relatedTarget && event.clientY <= 0) fire(); });
      let timer = null;
      const disarm = () => {
        window.removeEventListener('scroll', onScroll);
        document.removeEventListener('mouseout', onLeave);
        if (timer) clearTimeout(timer);
      };
      if (trigger.type === 'scroll-depth') window.addEventListener('scroll', onScroll, { passive: true });
      else if (trigger.type === 'exit-intent') document.addEventListener('mouseout', onLeave);
      else if (trigger.type === 'time-on-page') timer = setTimeout(fire, (trigger.seconds || 10) * 1000);
    }
  }

  /* --- boot ---------------------------------------------------------------------------- */

  function mountFor(script, publicId, placement) {
    return (host) => {
      const slot = placement === 'inline'
        && (document.querySelector(`[data-resonanz-inline="${CSS.escape(publicId)}"]`)
          || document.getElementById('resonanz-widget'));
      if (slot) slot.append(host);
      else if (placement === 'inline' && script && script.parentNode && script.parentNode !== document.head) {
        script.after(host);
      } else document.body.append(host);
    };
  }

  // The outcome, on the embedding tag itself: `shown`, `hidden` (paused, draft, ended) or `failed`.
  const report = (script, state) => { if (script) script.setAttribute('data-resonanz-state', state); };

  async function boot(script) {
    const publicId = script && script.dataset.widget;
    if (!publicId || document.querySelector(`[data-resonanz-widget="${CSS.escape(publicId)}"]`)) return;
    const origin = new URL(script.src, location.href).origin;
    const response = await fetch(`${origin}/public/widgets/${encodeURIComponent(publicId)}`,
      { credentials: 'omit', mode: 'cors' });
    const config = response.ok ? await response.json() : null;
    // Paused, draft or ended: render nothing at all.
    if (!config || !config.active || !Array.isArray(config.questions)) {
      report(script, 'hidden');
      return;
    }
    const lang = pickLanguage(Array.isArray(config.languages) ? config.languages : ['de', 'en']);
    const start = () => {
      try {
        const widget = new Widget(config, origin, lang, mountFor(script, publicId, config.placement));
        widget.arm(config.trigger);
        report(script, 'shown');
      } catch (error) {
        report(script, 'failed');
        warn(error);
      }
    };
    if (document.body) start(); else document.addEventListener('DOMContentLoaded', start, { once: true });
  }

  const script = document.currentScript || document.querySelector('script[data-widget][src*="widget.js"]');
  try {
    boot(script).catch((error) => { report(script, 'failed'); warn(error); });
  } catch (error) {
    report(script, 'failed');
    warn(error);
  }
})();
