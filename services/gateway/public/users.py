"""`/v1/users`: the team behind a FeedBackPro organization: invited, given roles, removed."""

from __future__ import annotations

from aiohttp import web

from resonanz.shared.contracts import InvitationIn, RoleIn
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput, NotFound
from resonanz.shared.logs import request_id_var
from resonanz.shared.params import path_uuid
from resonanz.shared.web import SettingsKey, read_model

from .. import commands, store
from ..api import PrincipalKey
from ..dialects import FEEDBACKPRO
from ..idempotency import KeyRingKey
from ..paging import Paging


async def list_users(request: web.Request) -> web.Response:
    paging = Paging.from_query(request.query, default_limit=50, max_limit=200)
    users = await store.list_users(request.app[PoolKey], request[PrincipalKey].tenant_id)
    page = users[paging.offset: paging.offset + paging.limit]
    return FEEDBACKPRO.ok(request, page, meta=paging.meta(len(users)),
                          links=paging.links(request, len(users)))


async def get_user(request: web.Request) -> web.Response:
    """One team member: where `POST /v1/users` points its Location."""
    user_id = str(path_uuid(request.match_info["id"], "team member"))
    users = await store.list_users(request.app[PoolKey], request[PrincipalKey].tenant_id)
    found = next((u for u in users if str(u["id"]) == user_id), None)
    if found is None:
        raise NotFound("team member not found")
    return FEEDBACKPRO.ok(request, found)


async def invite_user(request: web.Request) -> web.Response:
    principal = request[PrincipalKey]
    body = await read_model(request, InvitationIn)
    topic = request.app[SettingsKey].topic_identity
    user = await commands.invite_member(request.app[PoolKey], request.app[KeyRingKey], topic,
                                        principal, body.email, body.name, body.role,
                                        request_id_var.get())
    location = f"/v1/users/{user['id']}"
    return FEEDBACKPRO.ok(request, user, status=201, headers={"Location": location},
                          links={"self": location})


async def remove_user(request: web.Request) -> web.Response:
    principal = request[PrincipalKey]
    if request.headers.get("X-Confirm", "").lower() != "true":
        raise InvalidInput("removing a team member is irreversible: confirm with"
                           " the header X-Confirm: true",
                           details=[{"field": "X-Confirm", "message": "must be 'true'"}])
    topic = request.app[SettingsKey].topic_identity
    user_id = path_uuid(request.match_info["id"], "team member")
    # Their keys are revoked with them: answered once no gateway accepts those any more.
    user = await commands.remove_member(request.app[PoolKey], topic, principal, user_id,
                                        request_id_var.get())
    return FEEDBACKPRO.ok(request, user)


async def change_role(request: web.Request) -> web.Response:
    """A member's role (admin), from their next request on."""
    principal = request[PrincipalKey]
    body = await read_model(request, RoleIn)
    user_id = path_uuid(request.match_info["id"], "team member")
    user = await commands.change_role(request.app[PoolKey], principal, user_id, body.role)
    return FEEDBACKPRO.ok(request, user)


async def resend_invitation(request: web.Request) -> web.Response:
    """A new invitation mail for a member who has not accepted; the old link dies."""
    principal = request[PrincipalKey]
    user_id = path_uuid(request.match_info["id"], "team member")
    user = await commands.resend_invitation(request.app[PoolKey], request.app[KeyRingKey],
                                            request.app[SettingsKey].topic_identity,
                                            principal, user_id, request_id_var.get())
    return FEEDBACKPRO.ok(request, user)
