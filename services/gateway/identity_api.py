"""`/v1/sessions`, `/v1/session`, `/v1/invitations/accept`, `/v1/password-resets`: how team
members sign in to the dashboard (FeedBackPro dialect only). The first four operations are
reached without a key or session (see sessions.OPEN_OPERATIONS) and refuse another site's
`Origin`; the rest act on the caller's own sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import NotFound, TooManyRequests, Unauthenticated
from resonanz.shared.logs import request_id_var
from resonanz.shared.params import path_uuid
from resonanz.shared.ratelimit import LimiterKey, Quota
from resonanz.shared.web import SettingsKey, read_model

from . import identity, store
from .auth import PrincipalKey
from .dialects import FEEDBACKPRO
from .idempotency import KeyRingKey
from .identity import Device, Started
from .sessions import (
    SessionsKey,
    clear_cookie,
    refuse_cross_site,
    set_cookie,
    user_agent,
)
from .upstream import client_ip

RESET_REQUESTS_PER_ADDRESS = Quota("password-resets", 10, 15 * 60.0)


# --- contract ------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInIn(_In):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    tenant_id: uuid.UUID | None = Field(
        default=None, description="when the email is a member of several organizations")


class InvitationAcceptIn(_In):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024, description="10 to 256 characters")
    name: str | None = Field(default=None, max_length=200)


class PasswordResetIn(_In):
    email: EmailStr


class PasswordResetCompleteIn(_In):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024, description="10 to 256 characters")


class SessionUserView(BaseModel):
    id: str
    email: str
    name: str | None
    role: str
    tenant_id: str
    status: str
    email_verified: bool
    last_active_at: datetime | None


class SessionView(BaseModel):
    user: SessionUserView
    csrf_token: str = Field(description="send as X-CSRF-Token on every write")
    expires_at: datetime
    idle_expires_at: datetime


class SessionListItemView(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool


class ResetRequestedView(BaseModel):
    message: str


# --- handlers ------------------------------------------------------------------------------


def _device(request: web.Request) -> Device:
    return Device(user_agent(request), client_ip(request))


def _signed_in(request: web.Request, started: Started, status: int) -> web.Response:
    response = FEEDBACKPRO.ok(request, started.body, status=status)
    set_cookie(response, request, started.token, request.app[SessionsKey].timeouts.absolute)
    return response


def _session_id(request: web.Request) -> str:
    principal = request[PrincipalKey]
    if principal.session_id is None:
        raise Unauthenticated("this is about a browser session: sign in (an API key has"
                              " none)")
    return principal.session_id


async def sign_in(request: web.Request) -> web.Response:
    refuse_cross_site(request)
    body = await read_model(request, SignInIn)
    sessions = request.app[SessionsKey]
    started = await identity.sign_in(request.app[PoolKey], sessions.pepper, sessions.timeouts,
                                     body.email, body.password, body.tenant_id,
                                     _device(request))
    return _signed_in(request, started, 201)


async def current_session(request: web.Request) -> web.Response:
    _session_id(request)
    sessions = request.app[SessionsKey]
    record, digest = await sessions.current(request)
    return FEEDBACKPRO.ok(request, await identity.describe_session(
        request.app[PoolKey], sessions.pepper, sessions.timeouts, record, digest))


async def sign_out(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    await identity.end_session(request.app[PoolKey], request[PrincipalKey].user_id or "",
                               uuid.UUID(session_id))
    response = web.Response(status=204)
    clear_cookie(response, request)
    return response


async def list_sessions(request: web.Request) -> web.Response:
    current = _session_id(request)
    found = await store.list_sessions(request.app[PoolKey], request[PrincipalKey].user_id or "")
    return FEEDBACKPRO.ok(request, [{**s, "current": s["id"] == current} for s in found])


async def end_session(request: web.Request) -> web.Response:
    _session_id(request)
    target = path_uuid(request.match_info["id"], "session")
    if not await identity.end_session(request.app[PoolKey],
                                      request[PrincipalKey].user_id or "", target):
        raise NotFound("session not found")
    return web.Response(status=204)


async def accept_invitation(request: web.Request) -> web.Response:
    refuse_cross_site(request)
    body = await read_model(request, InvitationAcceptIn)
    sessions = request.app[SessionsKey]
    started = await identity.accept_invitation(
        request.app[PoolKey], sessions.pepper, sessions.timeouts, body.token, body.password,
        body.name, _device(request))
    return _signed_in(request, started, 200)


async def request_password_reset(request: web.Request) -> web.Response:
    refuse_cross_site(request)
    body = await read_model(request, PasswordResetIn)
    decision = await request.app[LimiterKey].hit(f"pwreset:{client_ip(request)}",
                                                 RESET_REQUESTS_PER_ADDRESS)
    if not decision.allowed:
        raise TooManyRequests(f"too many reset requests: retry in {decision.retry_after} s",
                              headers={"Retry-After": str(decision.retry_after)})
    await identity.request_password_reset(request.app[PoolKey], request.app[KeyRingKey],
                                          request.app[SettingsKey].topic_identity,
                                          str(body.email), request_id_var.get())
    return FEEDBACKPRO.ok(request, {"message": "if an active member has this email, a link"
                                    " to set a new password is on its way"}, status=202)


async def complete_password_reset(request: web.Request) -> web.Response:
    refuse_cross_site(request)
    body = await read_model(request, PasswordResetCompleteIn)
    await identity.complete_password_reset(request.app[PoolKey], body.token, body.password)
    return web.Response(status=204)
