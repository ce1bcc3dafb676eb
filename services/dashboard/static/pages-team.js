// The team: members and pending invitations for everyone to read; admins invite with a
// role, change roles, send an invitation again or revoke it, and remove members after a
// confirmation that says what happens to their open entries.

import * as api from './api.js';
import {announce, append, clear, field, h, messageBox} from './dom.js';
import {t} from './i18n.js';
import {time} from './view.js';

const ROLES = ['viewer', 'editor', 'admin'];
const USERS = '/v1/users';

const userPath = (id) => `${USERS}/${encodeURIComponent(id)}`;
const who = (member) => member.name || member.email;

export async function teamPage(ctx) {
  const {app} = ctx;
  ctx.setTitle(t('team.title'));
  const isAdmin = !!app.user && app.user.role === 'admin';
  append(ctx.main, h('h1', {id: 'page-title', tabindex: '-1'}, t('team.title')), ctx.flashBox());
  const problems = h('div', {class: 'problems'});
  const members = h('tbody');
  const pending = h('tbody');
  const noPending = h('p', {class: 'empty'}, t('team.noPending'));
  let ownerId = null;

  function failed(error) {
    problems.append(messageBox('error', t('error.server', {message: error.message})));
  }

  async function act(button, call, message) {
    clear(problems);
    button.disabled = true;
    try {
      await call();
      app.members.reset();
      announce(message);
      await load();
      document.getElementById('page-title').focus();
    } catch (error) {
      button.disabled = false;
      failed(error);
    }
  }

  /** Asks in the row itself (no browser dialog) and says what the removal does. */
  function confirmRemoval(cell, member, question, confirmLabel, done, back) {
    const yes = h('button', {type: 'button', class: 'reject', onclick: () => act(yes,
      () => api.del(userPath(member.id), {headers: {'X-Confirm': 'true'}}), done)}, confirmLabel);
    clear(cell).append(h('p', {class: 'confirm'}, question),
      h('div', {class: 'actions'}, yes,
        h('button', {type: 'button', class: 'secondary', onclick: back}, t('team.cancel'))));
    yes.focus();
  }

  function roleControl(member) {
    const mine = member.id === app.user.id;
    if (!isAdmin || mine || member.id === ownerId) {
      return [t(`role.${member.role}`),
        member.id === ownerId ? h('span', {class: 'badge current'}, t('team.owner')) : null];
    }
    const select = h('select', {'aria-label': t('team.roleOf', {name: who(member)})},
      ROLES.map((r) => h('option', {value: r, selected: r === member.role}, t(`role.${r}`))));
    const save = h('button', {type: 'button', class: 'secondary', onclick: () => act(save,
      () => api.patch(userPath(member.id), {role: select.value}),
      t('team.roleChanged', {name: who(member), role: t(`role.${select.value}`)})),
    'aria-label': t('team.saveRoleOf', {name: who(member)})}, t('team.saveRole'));
    return h('div', {class: 'role-change'}, select, ' ', save);
  }

  function memberActions(member) {
    const cell = h('td', {class: 'row-actions'});
    if (!isAdmin || member.id === app.user.id || member.id === ownerId) return cell;
    const fill = () => {
      clear(cell).append(h('button', {type: 'button', class: 'reject',
        'aria-label': t('team.removeOne', {name: who(member)}),
        onclick: () => confirmRemoval(cell, member, t('team.removeQuestion', {name: who(member)}),
          t('team.removeConfirm'), t('team.removed', {name: who(member)}), () => {
            fill();
            cell.querySelector('button').focus();
          })}, t('team.remove')));
    };
    fill();
    return cell;
  }

  function invitationActions(member) {
    const cell = h('td', {class: 'row-actions'});
    if (!isAdmin) return cell;
    const fill = () => {
      const resend = h('button', {type: 'button', class: 'secondary',
        'aria-label': t('team.resendOne', {email: member.email}),
        onclick: () => act(resend, () => api.post(`${userPath(member.id)}/invitation`),
          t('team.resent', {email: member.email}))}, t('team.resend'));
      clear(cell).append(resend, ' ', h('button', {type: 'button', class: 'reject',
        'aria-label': t('team.revokeOne', {email: member.email}),
        onclick: () => confirmRemoval(cell, member, t('team.revokeQuestion', {email: member.email}),
          t('team.revokeConfirm'), t('team.revoked', {email: member.email}), () => {
            fill();
            cell.querySelector('button').focus();
          })}, t('team.revoke')));
    };
    fill();
    return cell;
  }

  async function load() {
    let users;
    try {
      const [list, organization] = await Promise.all([api.everyRow(USERS),
        api.get('/v1/organization')]);
      users = list;
      ownerId = organization.data.owner_id;
    } catch (error) {
      failed(error);
      return;
    }
    const active = users.filter((u) => u.status === 'active');
    const invited = users.filter((u) => u.status === 'pending');
    clear(members).append(...active.map((m) => h('tr', {dataset: {id: m.id}},
      h('th', {scope: 'row'}, m.name || m.email), h('td', {}, m.email),
      h('td', {}, roleControl(m)), h('td', {}, time(m.last_active_at)), memberActions(m))));
    clear(pending).append(...invited.map((m) => h('tr', {dataset: {id: m.id}},
      h('th', {scope: 'row'}, m.email), h('td', {}, roleControl(m)), h('td', {}, time(m.created_at)),
      invitationActions(m))));
    noPending.hidden = invited.length > 0;
  }

  const email = h('input', {type: 'email', name: 'invite-email', required: true, autocomplete: 'off'});
  const name = h('input', {type: 'text', name: 'invite-name', maxlength: '200', autocomplete: 'off'});
  const role = h('select', {name: 'invite-role'},
    ROLES.map((r) => h('option', {value: r}, t(`role.${r}`))));
  const formProblems = h('div', {class: 'problems'});
  const form = isAdmin ? h('form', {class: 'panel invite-form', 'aria-labelledby': 'invite-title',
                                    novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clear(formProblems);
    if (!email.value.trim()) {
      formProblems.append(messageBox('error', t('team.emailMissing')));
      email.focus();
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const body = {email: email.value.trim(), role: role.value};
      if (name.value.trim()) body.name = name.value.trim();
      await api.post(USERS, body);
      announce(t('team.invited', {email: body.email}));
      formProblems.append(messageBox('success', t('team.invited', {email: body.email})));
      email.value = '';
      name.value = '';
      app.members.reset();
      await load();
    } catch (error) {
      formProblems.append(messageBox('error', t('error.server', {message: error.message})));
    } finally {
      submit.disabled = false;
    }
  }},
  h('h2', {id: 'invite-title'}, t('team.invite')),
  formProblems,
  h('div', {class: 'filter-fields'},
    field(t('field.email'), email).wrapper,
    field(t('team.name'), name).wrapper,
    field(t('team.role'), role).wrapper),
  h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, t('team.inviteSubmit'))))
    : null;

  append(ctx.main, h('p', {}, isAdmin ? t('team.intro') : t('team.readOnly')), form, problems,
    h('h2', {id: 'members-title'}, t('team.members')),
    h('table', {class: 'team', 'aria-labelledby': 'members-title'},
      h('thead', {}, h('tr', {}, [t('team.name'), t('field.email'), t('team.role'),
        t('team.lastActive'), t('team.actions')].map((text) => h('th', {scope: 'col'}, text)))),
      members),
    h('h2', {id: 'pending-title'}, t('team.pending')), noPending,
    h('table', {class: 'invitations', 'aria-labelledby': 'pending-title'},
      h('thead', {}, h('tr', {}, [t('field.email'), t('team.role'), t('team.invitedAt'),
        t('team.actions')].map((text) => h('th', {scope: 'col'}, text)))),
      pending));
  await load();
}
