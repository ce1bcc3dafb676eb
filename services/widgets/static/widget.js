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
      paused: 'Feedback ist gerade pausiert.', pausedMore: 'Ihre Antworten konnten leider nicht gesendet werden. Danke für Ihre Zeit!',
      tooMany: 'Zu viele Versuche. Bitte warten Sie einen Moment.',
      tooLong: 'Ihre Antworten sind zu lang. Bitte kürzen Sie sie.',
      left: (n) => `Noch ${n} Zeichen`, over: 'Zu lang, bitte kürzen',
      star: (n) => (n === 1 ? '1 Stern' : `${n} Sterne`), npsLow: 'unwahrscheinlich', npsHigh: 'sehr wahrscheinlich',
      requiredMark: 'Pflichtfeld', website: 'Website (bitte leer lassen)',
    },
    en: {
      open: 'Give feedback', title: 'We value your feedback', send: 'Send', sending: 'Sending …',
      close: 'Close', thanks: 'Thank you for your feedback!', thanksMore: 'Your answer has arrived.',
      required: 'Please answer this question.', invalid: 'Please check this answer.',
      empty: 'Please answer at least one question.', email: 'Email (optional, for your reward)',
      failed: 'Sorry, that did not work. Please try again later.',
      paused: 'Feedback is paused right now.', pausedMore: 'Sorry, your answers could not be sent. Thank you for your time!',
      tooMany: 'Too many attempts. Please wait a moment.',
      tooLong: 'Your answers are too long. Please shorten them.',
      left: (n) => `${n} character${n === 1 ? '' : 's'} left`, over: 'Too long, please shorten',
      star: (n) => (n === 1 ? '1 star' : `${n} stars`), npsLow: 'not likely', npsHigh: 'very likely',
      requiredMark: 'required', website: 'Website (leave empty)',
    },
  };
  const COLOUR = /^#(?:[0-9a-f]{3}){1,2}$/i;
  const FONT = /^[\w \t,'"-]{1,120}$/;
  const FOCUSABLE = 'button:not([disabled]),input:not([disabled]):not([tabindex="-1"]),textarea,select,[tabindex="0"]';
  // The config is revalidated this often while the page is open and visible; with the
  // server's max-age (≤ 15 s) a change shows within 15 s.
  const REVALIDATE_MS = 10000;
  // Fallbacks for a config without limits: what the server has always accepted.
  const TEXT_CHARS = 5000;
  const SUBMISSION_BYTES = 16384;
  // Below this many characters left, the remaining count shows under the text box.
  const HINT_BELOW = 500;

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

  // The page's language, else the shopper's browser languages in order, else English.
  function pickLanguage(offered) {
    const wanted = [document.documentElement.getAttribute('lang'), ...(navigator.languages || []), navigator.language];
    for (const tag of wanted) {
      const lang = String(tag || '').slice(0, 2).toLowerCase();
      if (offered.includes(lang)) return lang;
    }
    return offered.includes('en') ? 'en' : offered[0] || 'en';
  }

  function label(text, lang) {
    if (typeof text === 'string') return text;
    return (text && (text[lang] || text.en || text.de || Object.values(text)[0])) || '';
  }

  const utf8Bytes = (text) => new TextEncoder().encode(text).length;

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
.x{background:none;border:0;font-size:22px;line-height:1;cursor:pointer;padding:0 4px;min-width:28px;min-height:28px;margin-left:auto}
fieldset{border:0;margin:0 0 14px;padding:0}legend,.q>label{display:block;font-weight:600;margin-bottom:6px;padding:0}
.q{margin:0 0 14px}
.scale{display:flex;flex-wrap:wrap;gap:4px}
.scale input{position:absolute;opacity:0;width:1px;height:1px}
.scale label{display:inline-flex;align-items:center;justify-content:center;min-width:32px;height:32px;border:1px solid rgba(0,0,0,.2);border-radius:calc(var(--rz-radius)/2);cursor:pointer;background:var(--rz-bg)}
.stars label{border:0;font-size:26px;min-width:32px}.stars label::before{content:'☆'}.stars label.on::before{content:'★'}
.stars label.on{color:var(--rz-primary)}
.scale input:checked+label{background:var(--rz-primary);color:#fff}.stars input:checked+label{background:none;color:var(--rz-primary)}
.scale input:focus-visible+label{outline:3px solid var(--rz-primary);outline-offset:2px}
.ends{display:flex;justify-content:space-between;font-size:12px;margin-top:2px}
.opt{display:flex;gap:8px;align-items:center;min-height:28px;cursor:pointer}.opt input{width:18px;height:18px;margin:0}
textarea,input[type=email]{width:100%;padding:8px;border:1px solid rgba(0,0,0,.3);border-radius:calc(var(--rz-radius)/2);font-size:14px;background:#fff;color:#111}
textarea{min-height:72px;resize:vertical}
.err{font-weight:600;font-size:13px;margin:4px 0 0;padding-left:6px;border-left:3px solid #b91c1c}
.hint{font-size:12px;margin:2px 0 0}
.err:empty,.hint:empty{display:none}
.send{background:var(--rz-primary);color:#fff;border:0;border-radius:var(--rz-radius);padding:10px 16px;font-size:15px;cursor:pointer;width:100%}
.send[disabled]{opacity:.6;cursor:progress}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.note h2{outline:none}
[hidden]{display:none!important}`;
  }

  // A constructed sheet where the browser has them: a page whose CSP refuses inline style
  // (the dashboard's preview, strict shops) still styles the widget. Else a <style>.
  function styler(root) {
    try {
      const sheet = new CSSStyleSheet();
      root.adoptedStyleSheets = [sheet];
      return (text) => sheet.replaceSync(text);
    } catch (_) {
      const el = root.appendChild(h('style'));
      return (text) => { el.textContent = text; };
    }
  }

  /* --- the form ---------------------------------------------------------------------- */

  function scale(question, lang, t, from, to, stars) {
    const name = `q-${question.id}`;
    const items = [];
    for (let n = from; n <= to; n += 1) {
      const id = `${name}-${n}`;
      items.push(h('input', { type: 'radio', id, name, value: String(n), 'aria-label': stars ? t.star(n) : null }),
        h('label', { for: id, title: stars ? t.star(n) : null, text: stars ? '' : String(n) }));
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

  // A required group says so in its legend (aria-required is not allowed on a fieldset);
  // every input of a question is described by the question's error, once there is one.
  function questionField(question, lang, t, textChars) {
    const errId = `err-${question.id}`;
    const star = question.required ? h('span', { 'aria-hidden': 'true', text: ' *' }) : null;
    const error = h('p', { class: 'err', id: errId });
    if (question.type === 'text') {
      const id = `q-${question.id}`;
      return h('div', { class: 'q', 'data-q': question.id },
        h('label', { for: id }, label(question.label, lang), star),
        h('textarea', { id, name: id, maxlength: textChars, rows: 3, 'aria-required': question.required ? 'true' : null,
          'aria-describedby': `${errId} hint-${question.id}` }),
        h('p', { class: 'hint', id: `hint-${question.id}` }), error);
    }
    let body;
    if (question.type === 'rating') body = scale(question, lang, t, 1, 5, true);
    else if (question.type === 'nps') body = scale(question, lang, t, 0, 10, false);
    else body = choices(question, lang, question.type === 'multiple_choice');
    const field = h('fieldset', { class: 'q', 'data-q': question.id },
      h('legend', {}, label(question.label, lang), star,
        question.required ? h('span', { class: 'sr', text: ` (${t.requiredMark})` }) : null), body, error);
    field.querySelectorAll('input').forEach((el) => el.setAttribute('aria-describedby', errId));
    return field;
  }

  function answerOf(form, question, raw) {
    const name = `q-${question.id}`;
    if (question.type === 'text') {
      const value = form.querySelector(`[name="${name}"]`).value;
      return raw ? value : value.trim();
    }
    if (question.type === 'multiple_choice') {
      return [...form.querySelectorAll(`[name="${name}"]:checked`)].map((el) => el.value);
    }
    const checked = form.querySelector(`[name="${name}"]:checked`);
    if (!checked) return null;
    return question.type === 'single_choice' ? checked.value : Number(checked.value);
  }

  const blank = (value) => value == null || value === '' || (Array.isArray(value) && !value.length);

  /* --- the widget ------------------------------------------------------------------- */

  // A panel that does not hold the page (no aria-modal, no focus trap): a shopper may go
  // on browsing while it is open. Escape closes it from anywhere on the page.
  class Widget {
    constructor(config, origin, lang, mount) {
      this.config = config;
      this.origin = origin;
      this.lang = lang;
      this.t = TEXTS[lang] || TEXTS.en;
      this.inline = config.placement === 'inline';
      const limits = config.limits || {};
      this.textChars = Number(limits.text_chars) || TEXT_CHARS;
      this.maxBytes = Number(limits.submission_bytes) || SUBMISSION_BYTES;
      this.host = h('div', { 'data-resonanz-widget': config.public_id });
      this.root = this.host.attachShadow({ mode: 'open' });
      this.style = styler(this.root);
      this.restyle(config.theme);
      this.build();
      this.onEscape = guard((event) => {
        if (event.key === 'Escape' && !event.defaultPrevented) this.close();
      });
      document.addEventListener('keydown', this.onEscape);
      mount(this.host);
    }

    build() {
      const t = this.t;
      const titleId = 'rz-title';
      this.status = h('p', { class: 'err', role: 'alert' });
      this.form = h('form', { novalidate: true, onsubmit: (event) => { event.preventDefault(); return this.submit(); },
        oninput: (event) => this.edited(event), onchange: (event) => this.edited(event) },
      this.config.questions.map((q) => questionField(q, this.lang, t, this.textChars)),
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
        : { class: 'panel', role: 'dialog', 'aria-labelledby': titleId, hidden: true, id: 'rz-dialog' },
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

    // Where a shopper's focus goes on opening: the first answer, on a rating the chosen
    // star (as Tab would: radios rove), or the message that replaced the form.
    focusFirst() {
      let target = this.focusables().find((el) => el.tagName !== 'BUTTON' || el.type === 'submit');
      if (target && target.type === 'radio') {
        target = this.form.querySelector(`[name="${target.name}"]:checked`) || target;
      }
      (target || this.panel.querySelector('h2[tabindex]'))?.focus();
    }

    // Opened by the shopper: focus moves in. Opened by a trigger: it only appears.
    open(byShopper) {
      if (this.inline || !this.panel.hidden) return;
      this.panel.hidden = false;
      this.launcher.setAttribute('aria-expanded', 'true');
      if (byShopper) this.focusFirst();
    }

    close() {
      if (this.inline || this.panel.hidden) return;
      const hadFocus = !!this.root.activeElement;
      this.panel.hidden = true;
      this.launcher.setAttribute('aria-expanded', 'false');
      if (this.retired) this.destroy();
      else if (hadFocus) this.launcher.focus();
    }

    toggle() {
      if (this.panel.hidden) this.open(true); else this.close();
    }

    // Whether the form is in front of the shopper: open, or inline and touched.
    inView() {
      return this.inline ? !!this.dirty : !this.panel.hidden;
    }

    // Whether a new form would take away something of the shopper's: answers or the view.
    engaged() {
      return this.dirty || this.inView();
    }

    restyle(theme) {
      this.style(css(theme || {}, this.config.placement));
    }

    destroy() {
      this.dead = true;
      if (this.disarm) this.disarm();
      document.removeEventListener('keydown', this.onEscape);
      this.host.remove();
    }

    // Paused, ended or gone: disappear, unless the shopper is looking at the form; then
    // the form gives way to a polite word, and the widget goes once it is closed.
    retire() {
      if (!this.inView()) { this.destroy(); return; }
      this.retired = true;
      if (!this.done) this.note('paused', this.t.paused, this.t.pausedMore);
    }

    edited(event) {
      this.dirty = true;
      const field = event.target.closest('[data-q]');
      if (field && event.type === 'change') this.clearField(field);
      if (event.target.tagName !== 'INPUT' || event.target.type === 'email') this.hints();
    }

    // The answers as they stand, text untrimmed: what the budget must still hold.
    draft() {
      const answers = {};
      for (const q of this.config.questions) answers[q.id] = answerOf(this.form, q, q.type === 'text');
      return answers;
    }

    bytesLeft(answers) {
      return this.maxBytes - utf8Bytes(JSON.stringify(this.body(answers)));
    }

    // Each text box may grow by what the whole submission has left, and says so when
    // that runs short: a form the widget lets a shopper fill is one the server accepts.
    hints() {
      const left = this.bytesLeft(this.draft());
      for (const area of this.form.querySelectorAll('textarea')) {
        const length = area.value.length;
        area.maxLength = Math.min(this.textChars, length + Math.max(0, left));
        const room = Math.min(this.textChars - length, left);
        const hint = area.nextElementSibling;
        hint.textContent = room < 0 ? this.t.over : room < HINT_BELOW ? this.t.left(room) : '';
      }
    }

    clearField(field) {
      field.querySelector('.err').textContent = '';
      field.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    }

    clearErrors() {
      this.status.textContent = '';
      this.form.querySelectorAll('[data-q]').forEach((field) => this.clearField(field));
    }

    markInvalid(questionId, message) {
      const field = this.form.querySelector(`[data-q="${questionId}"]`);
      if (!field) return null;
      field.querySelector('.err').textContent = message;
      const inputs = field.querySelectorAll('input,textarea');
      inputs.forEach((el) => el.setAttribute('aria-invalid', 'true'));
      return inputs[0];
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
      if (this.bytesLeft(answers) < 0) {
        this.status.textContent = this.t.tooLong;
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

    body(answers) {
      const form = this.form;
      return {
        answers, page_url: String(location.href).slice(0, 2000), language: this.lang,
        customer_email: form.querySelector('[name=email]')?.value.trim() || null,
        website: form.querySelector('[name=website]').value,
      };
    }

    async send(answers) {
      if (this.preview) { this.thank(); return; }
      let response;
      try {
        response = await fetch(`${this.origin}/public/widgets/${encodeURIComponent(this.config.public_id)}/submissions`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(this.body(answers)),
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
      if (status === 409) this.retire();
      else if (status === 413) this.status.textContent = this.t.tooLong;
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

    // The form gives way to a message; focus follows only if it was in the form.
    note(kind, title, more) {
      const hadFocus = !!this.root.activeElement && this.panel.contains(this.root.activeElement);
      const heading = h('h2', { tabindex: '-1', text: title });
      this.form.replaceWith(h('div', { class: `note ${kind}`, role: 'status' }, heading, h('p', { text: more })));
      this.panel.querySelector('#rz-title').hidden = true;
      if (hadFocus) heading.focus();
    }

    thank() {
      this.done = true;
      this.note('thanks', this.t.thanks, this.t.thanksMore);
    }

    arm(trigger) {
      if (this.inline || !trigger || trigger.type === 'manual') return;
      const key = `resonanz:${this.config.public_id}:shown`;
      const fire = guard(() => {
        this.disarm();
        try {
          if (sessionStorage.getItem(key)) return;
          sessionStorage.setItem(key, '1');
        } catch (_) { /* storage blocked: open anyway, once per page */ }
        this.open(false);
      });
      // Seen down to here; a page too short to scroll that far has been seen whole.
      const onScroll = guard(() => {
        const seen = (window.scrollY + window.innerHeight) / Math.max(1, document.documentElement.scrollHeight);
        if (seen * 100 >= (trigger.percentage || 50)) fire();
      });
      const onLeave = guard((event) => { if (!event.relatedTarget && event.clientY <= 0) fire(); });
      let timer = null;
      this.disarm = () => {
        window.removeEventListener('scroll', onScroll);
        window.removeEventListener('resize', onScroll);
        window.removeEventListener('load', onScroll);
        document.removeEventListener('mouseout', onLeave);
        if (timer) clearTimeout(timer);
      };
      if (trigger.type === 'scroll-depth') {
        window.addEventListener('scroll', onScroll, { passive: true });
        window.addEventListener('resize', onScroll);
        // Measured once the page is laid out whole: a half-loaded page is not short.
        if (document.readyState === 'complete') onScroll(); else window.addEventListener('load', onScroll);
      } else if (trigger.type === 'exit-intent') document.addEventListener('mouseout', onLeave);
      else if (trigger.type === 'time-on-page') timer = setTimeout(fire, (trigger.seconds || 10) * 1000);
    }
  }

  /* --- boot and keeping up with changes --------------------------------------------- */

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

  const live = (config) => config && config.active && Array.isArray(config.questions);
  // What needs a new form; the theme alone is only restyled.
  const shape = (config) => JSON.stringify({ ...config, theme: null });

  // Follows one widget's config while the page is open: the first answer decides what is
  // shown, later ones (revalidated with the ETag: 304 while nothing changed) pause,
  // resume, restyle or rebuild it.
  class Follower {
    constructor(script, publicId, origin) {
      this.script = script;
      this.origin = origin;
      this.url = `${origin}/public/widgets/${encodeURIComponent(publicId)}`;
      this.mount = (placement) => mountFor(script, publicId, placement);
      this.text = null;
      this.widget = null;
    }

    async check() {
      if (this.stopped || (this.text !== null && document.hidden)) return;
      // `no-cache`: the browser asks with If-None-Match and gets 304 while nothing changed.
      const response = await fetch(this.url, { credentials: 'omit', mode: 'cors', cache: this.text === null ? 'default' : 'no-cache' });
      // A refused origin or an unknown widget will not change while this page is open.
      if (response.status === 403 || response.status === 404) this.stop();
      if (!response.ok && !this.stopped) {
        if (this.text === null) report(this.script, 'hidden');
        return;
      }
      const text = response.ok ? await response.text() : '';
      if (text === this.text) return;
      // A change the shopper is in the middle of waits; it is looked at again next time.
      if (this.apply(text ? JSON.parse(text) : null)) this.text = text;
    }

    stop() {
      this.stopped = true;
      clearInterval(this.timer);
    }

    apply(config) {
      const widget = this.widget && !this.widget.dead ? this.widget : null;
      if (!live(config)) {
        if (widget) widget.retire();
        report(this.script, 'hidden');
        return true;
      }
      if (widget && !widget.retired) {
        widget.restyle(config.theme);
        if (widget.done || shape(config) === shape(widget.config)) return true;
        if (widget.engaged()) return false;
        widget.destroy();
      } else if (widget) widget.destroy();
      this.show(config);
      return true;
    }

    show(config) {
      const lang = pickLanguage(Array.isArray(config.languages) ? config.languages : ['de', 'en']);
      this.widget = new Widget(config, this.origin, lang, this.mount(config.placement));
      this.widget.arm(config.trigger);
      report(this.script, 'shown');
    }

    start() {
      const check = guard(() => this.check());
      this.timer = setInterval(check, REVALIDATE_MS);
      document.addEventListener('visibilitychange', () => { if (!document.hidden) check(); });
    }
  }

  // The dashboard's live preview: the draft config comes from the page framing this one
  // (same origin only), is shown open, and nothing is ever sent.
  function preview(script) {
    let widget = null;
    addEventListener('message', guard((event) => {
      const data = event.data || {};
      if (event.origin !== location.origin || event.source !== parent || !data.config) return;
      if (widget) widget.destroy();
      widget = null;
      if (/^[a-z]{2}$/.test(data.lang)) document.documentElement.lang = data.lang;
      const config = data.config;
      if (!live(config)) { report(script, 'hidden'); return; }
      widget = new Widget(config, '', pickLanguage(config.languages || ['en']), mountFor(script, config.public_id, config.placement));
      widget.preview = true;
      widget.open(false);
      report(script, 'shown');
    }));
    parent.postMessage({ resonanz: 'ready' }, location.origin);
  }

  async function boot(script) {
    if (script && script.hasAttribute('data-preview')) { preview(script); return; }
    const publicId = script && script.dataset.widget;
    if (!publicId || document.querySelector(`[data-resonanz-widget="${CSS.escape(publicId)}"]`)) return;
    const follower = new Follower(script, publicId, new URL(script.src, location.href).origin);
    if (!document.body) await new Promise((ready) => document.addEventListener('DOMContentLoaded', ready, { once: true }));
    try {
      await follower.check();
    } catch (error) {
      report(script, 'failed');
      warn(error);
    }
    if (!follower.stopped) follower.start();
  }

  const script = document.currentScript || document.querySelector('script[data-widget][src*="widget.js"]');
  try {
    boot(script).catch((error) => { report(script, 'failed'); warn(error); });
  } catch (error) {
    report(script, 'failed');
    warn(error);
  }
})();
