// Signed-out pages: sign in, forgotten password, reset from the mailed link, accepting an
// invitation. One-time tokens arrive in the URL fragment (never sent to a server) and are
// taken out of the address bar at once.

import {ApiError, session} from './api.js';
import {append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';

const MIN_PASSWORD = 10;
const MAX_PASSWORD = 256;

/** The token from `#token=…`, removed from the address bar and the history entry. */
export function takeFragmentToken() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (window.location.hash) {
    window.history.replaceState(window.history.state, '',
      window.location.pathname + window.location.search);
  }
  return token && token.trim() ? token.trim() : null;
}

/** Where to go after signing in: only a page of this app (no open redirect). */
export function safeNext(value) {
  if (typeof value !== 'string' || !value.startsWith('/app')) return '/app/';
  if (value.startsWith('//') || value.includes('\\') || /[\u0000-\u001f]/.test(value)) return '/app/';
  try {
    const url = new URL(value, window.location.origin);
    if (url.origin !== window.location.origin || !url.pathname.startsWith('/app')) return '/app/';
    return url.pathname + url.search;
  } catch {
    return '/app/';
  }
}

function passwordProblem(password, confirmation, email) {
  if (password.length < MIN_PASSWORD) return t('password.tooShort', {n: MIN_PASSWORD});
  if (password.length > MAX_PASSWORD) return t('password.tooLong', {n: MAX_PASSWORD});
  if (email && password.trim().toLowerCase() === email.trim().toLowerCase()) return t('password.isEmail');
  if (confirmation !== undefined && password !== confirmation) return t('password.mismatch');
  return null;
}

function authCard(ctx, title, ...content) {
  ctx.setTitle(title);
  return h('section', {class: 'auth-card', 'aria-labelledby': 'page-title'},
    h('h1', {id: 'page-title', tabindex: '-1'}, title), content);
}

function showProblem(box, text) {
  clear(box);
  if (text) box.append(messageBox('error', text));
}

function submitting(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

export function signInPage(ctx) {
  const email = h('input', {type: 'email', name: 'email', autocomplete: 'username', required: true,
                             maxlength: '320'});
  const password = h('input', {type: 'password', name: 'password', required: true,
                                autocomplete: 'current-password', maxlength: String(MAX_PASSWORD)});
  const problems = h('div', {class: 'problems'});
  const button = h('button', {type: 'submit', class: 'primary'}, t('signin.submit'));
  const flash = ctx.flashBox();
  const form = h('form', {novalidate: true, 'aria-describedby': 'signin-problems',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!email.value.trim() || !password.value) {
        showProblem(problems, t('signin.missing'));
        (email.value.trim() ? password : email).focus();
        return;
      }
      submitting(button, true);
      try {
        const body = await session.signIn(email.value.trim(), password.value);
        ctx.app.signedIn(body);
        ctx.app.navigate(safeNext(ctx.query.get('next')), {replace: true});
      } catch (error) {
        password.value = '';
        showProblem(problems, signInProblem(error));
        password.focus();
      } finally {
        submitting(button, false);
      }
    }},
  field(t('field.email'), email).wrapper,
  field(t('field.password'), password).wrapper,
  h('div', {id: 'signin-problems', class: 'problems-slot'}, problems),
  h('div', {class: 'actions'}, button,
    h('a', {href: '/app/forgot-password'}, t('signin.forgot'))));
  append(ctx.main, authCard(ctx, t('signin.title'),
    flash, form));
  email.focus();
}

function signInProblem(error) {
  if (!(error instanceof ApiError)) return t('error.unexpected');
  if (error.status === 401 || error.status === 400) return t('signin.wrong');
  if (error.status === 429) {
    return t('signin.throttled', {minutes: Math.max(1, Math.ceil((error.retryAfter || 60) / 60))});
  }
  if (error.status === 403) return t('signin.refused');
  return error.status === 0 ? t('error.network') : t('error.server', {message: error.message});
}

export function forgotPage(ctx) {
  const email = h('input', {type: 'email', name: 'email', autocomplete: 'username', required: true,
                             maxlength: '320'});
  const problems = h('div', {class: 'problems'});
  const button = h('button', {type: 'submit', class: 'primary'}, t('forgot.submit'));
  const card = authCard(ctx, t('forgot.title'), h('p', {}, t('forgot.intro')));
  const form = h('form', {novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    if (!email.value.trim()) {
      showProblem(problems, t('forgot.missing'));
      email.focus();
      return;
    }
    submitting(button, true);
    try {
      await session.requestReset(email.value.trim());
      form.replaceWith(messageBox('success', t('forgot.sent')),
        h('p', {}, h('a', {href: '/app/sign-in'}, t('auth.backToSignIn'))));
    } catch (error) {
      showProblem(problems, error instanceof ApiError && error.status === 429
        ? t('forgot.throttled') : t('error.server', {message: error.message}));
    } finally {
      submitting(button, false);
    }
  }},
  field(t('field.email'), email).wrapper, problems,
  h('div', {class: 'actions'}, button, h('a', {href: '/app/sign-in'}, t('auth.backToSignIn'))));
  card.append(form);
  append(ctx.main, card);
  email.focus();
}

function newPasswordFields() {
  const password = h('input', {type: 'password', name: 'new-password', required: true,
    autocomplete: 'new-password', minlength: String(MIN_PASSWORD), maxlength: String(MAX_PASSWORD)});
  const confirmation = h('input', {type: 'password', name: 'confirm-password', required: true,
    autocomplete: 'new-password', maxlength: String(MAX_PASSWORD)});
  return {
    password, confirmation,
    fields: [field(t('field.newPassword'), password, t('password.rule', {n: MIN_PASSWORD})).wrapper,
             field(t('field.confirmPassword'), confirmation).wrapper],
  };
}

function tokenProblem(error) {
  if (error instanceof ApiError && error.status === 400) {
    if (error.about('password')) return t('password.refused', {message: error.about('password')});
    if (error.about('token') || /token/i.test(error.message)) return null;  // caller says it
    return t('error.server', {message: error.message});
  }
  return error instanceof ApiError && error.status === 0 ? t('error.network')
    : t('error.server', {message: error.message});
}

export function resetPage(ctx) {
  const token = ctx.app.fragmentToken();
  if (!token) {
    append(ctx.main, authCard(ctx, t('reset.title'), messageBox('error', t('reset.noToken')),
      h('p', {}, h('a', {href: '/app/forgot-password'}, t('reset.requestNew')))));
    return;
  }
  const {password, confirmation, fields} = newPasswordFields();
  const problems = h('div', {class: 'problems'});
  const button = h('button', {type: 'submit', class: 'primary'}, t('reset.submit'));
  const card = authCard(ctx, t('reset.title'));
  const form = h('form', {novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const problem = passwordProblem(password.value, confirmation.value);
    if (problem) {
      showProblem(problems, problem);
      password.focus();
      return;
    }
    submitting(button, true);
    try {
      await session.completeReset(token, password.value);
      ctx.app.flash(t('reset.done'));
      ctx.app.navigate('/app/sign-in', {replace: true});
    } catch (error) {
      const text = tokenProblem(error);
      if (text === null) {
        form.replaceWith(messageBox('error', t('reset.badToken')),
          h('p', {}, h('a', {href: '/app/forgot-password'}, t('reset.requestNew'))));
      } else {
        showProblem(problems, text);
      }
    } finally {
      submitting(button, false);
    }
  }}, fields, problems, h('div', {class: 'actions'}, button));
  card.append(form);
  append(ctx.main, card);
  password.focus();
}

export function invitationPage(ctx) {
  const token = ctx.app.fragmentToken();
  if (!token) {
    append(ctx.main, authCard(ctx, t('invite.title'), messageBox('error', t('invite.noToken'))));
    return;
  }
  const name = h('input', {type: 'text', name: 'name', autocomplete: 'name', maxlength: '200'});
  const {password, confirmation, fields} = newPasswordFields();
  const problems = h('div', {class: 'problems'});
  const button = h('button', {type: 'submit', class: 'primary'}, t('invite.submit'));
  const card = authCard(ctx, t('invite.title'), h('p', {}, t('invite.intro')));
  const form = h('form', {novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const problem = passwordProblem(password.value, confirmation.value);
    if (problem) {
      showProblem(problems, problem);
      password.focus();
      return;
    }
    submitting(button, true);
    try {
      const body = await session.acceptInvitation(token, password.value, name.value.trim());
      ctx.app.signedIn(body);
      ctx.app.flash(t('invite.done'));
      ctx.app.navigate('/app/', {replace: true});
    } catch (error) {
      const text = tokenProblem(error);
      if (text === null) {
        form.replaceWith(messageBox('error', t('invite.badToken')));
      } else {
        showProblem(problems, text);
      }
    } finally {
      submitting(button, false);
    }
  }}, field(t('field.name'), name).wrapper, fields, problems,
  h('div', {class: 'actions'}, button));
  card.append(form);
  append(ctx.main, card);
  name.focus();
}
