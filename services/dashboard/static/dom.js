// Building the page with DOM APIs only. Text is always text (textContent / text nodes):
// nothing a shopper wrote is ever parsed as HTML. Links may only lead to http(s) URLs.

const LINK_PROTOCOLS = new Set(['http:', 'https:']);
// Set as properties, not attributes (the attribute would only be the default).
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'indeterminate']);

/** The URL as a string when it is an http(s) URL (relative ones resolve against this page), else null. */
export function safeHref(value) {
  if (typeof value !== 'string' || value.trim() === '') return null;
  let url;
  try {
    url = new URL(value, window.location.origin);
  } catch {
    return null;
  }
  return LINK_PROTOCOLS.has(url.protocol) ? url.href : null;
}

/** Is this an absolute http(s) URL a shopper wrote, fit to show as an outbound link? */
export function isWebUrl(value) {
  return typeof value === 'string' && /^https?:\/\//i.test(value.trim()) && safeHref(value) !== null;
}

/**
 * h('button', {type: 'button', onclick: fn}, 'Text', child, [more]) — an element.
 * Attribute values are set with setAttribute (never parsed); `on<event>` must be a function;
 * `href` goes through safeHref (an unsafe one leaves the link without href); `style`, `src`,
 * `srcdoc` and `innerHTML` are refused outright.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`${name} must be a function`);
      el.addEventListener(name.slice(2), value);
    } else if (['style', 'src', 'srcdoc', 'innerHTML', 'outerHTML'].includes(name)) {
      throw new TypeError(`${name} is not allowed`);
    } else if (name === 'class') {
      el.className = value;
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'href') {
      const safe = safeHref(String(value));
      if (safe !== null) el.setAttribute('href', safe.startsWith(window.location.origin)
        ? safe.slice(window.location.origin.length) : safe);
    } else if (PROPERTIES.has(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children: strings and numbers become text nodes; arrays are flattened; null skipped. */
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** An outbound link to a URL a shopper wrote: only http(s), never sending a referrer. */
export function externalLink(url, text) {
  if (!isWebUrl(url)) return document.createTextNode(text ?? String(url));
  return h('a', {href: url, rel: 'noopener noreferrer nofollow', target: '_blank',
                 class: 'external'}, text ?? url);
}

let announceTimer = null;

/** Say something to screen readers through the page's live region. */
export function announce(message) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  clearTimeout(announceTimer);
  // A fresh text node after a tick, so the same message twice is read twice.
  announceTimer = setTimeout(() => { live.textContent = message; }, 50);
}

let ids = 0;
export function uid(prefix = 'f') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form field: returns {wrapper, input}. */
export function field(label, input, hint) {
  const id = input.id || uid('field');
  input.id = id;
  const parts = [h('label', {for: id}, label), input];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute('aria-describedby', hintId);
    parts.push(h('p', {class: 'hint', id: hintId}, hint));
  }
  return {wrapper: h('div', {class: 'field'}, parts), input};
}

/** A message box for a form: role=alert for errors, status otherwise. */
export function messageBox(kind, text) {
  return h('p', {class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status'}, text);
}
