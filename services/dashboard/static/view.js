// Small pieces of rendering shared by the pages.

import {h} from './dom.js';
import {formatDateTime, t} from './i18n.js';

export function excerpt(text, length = 140) {
  if (typeof text !== 'string' || !text.trim()) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

export function statusBadge(status) {
  return h('span', {class: `badge status-${String(status).replace(/[^a-z_]/g, '')}`},
    t(`status.${status}`));
}

export function ratingText(rating) {
  return rating === null || rating === undefined ? t('rating.none') : t('rating.value', {n: rating});
}

/** A member's name (or email) for a user id; anything else as it was written. */
export function personName(members, id) {
  if (!id) return t('assignee.nobody');
  const member = members.get(id);
  if (member) return member.name || member.email;
  return String(id);
}

export function time(value) {
  if (!value) return t('none');
  return h('time', {datetime: value}, formatDateTime(value));
}

/** Any JSON value as readable text. */
export function valueText(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) {
    return value.join(', ');
  }
  return JSON.stringify(value);
}

export function loadingNote() {
  return h('p', {class: 'loading', role: 'status'}, t('loading'));
}

/** A `<dl>` of [term, description] pairs. */
export function facts(pairs, className = 'facts') {
  return h('dl', {class: className},
    pairs.filter(Boolean).map(([term, description]) => [h('dt', {}, term), h('dd', {}, description)]));
}
