"""Browser sessions at the edge: the `rsz_session` cookie, CSRF, idle and absolute ends.

A session token is 256 random bits, given once in an HttpOnly cookie and stored only as
its SHA-256 digest. Each request with the cookie (and no API key) looks its session up:
no cache, so a session ended anywhere (sign-out, revocation, a removed member, a reset
password) is refused on its next request. The session's `last_seen_at`, which the idle
timeout counts from, and its member's `last_active_at` are written at most once per
TOUCH_INTERVAL, not once per request.

The CSRF token is an HMAC of the session's digest under the pepper: bound to the session,
never stored, and sent by the dashboard as `X-CSRF-Token` on every write.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from resonanz.shared.clientaddr import forwarded_proto, trusted_networks
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import Forbidden, Unauthenticated
from resonanz.shared.web import SettingsKey
from resonanz.shared.worker import alongside

from . import store
from .auth import Principal

log = logging.getLogger(__name__)

COOKIE = "rsz_session"
CSRF_HEADER = "X-CSRF-Token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOUCH_INTERVAL = 60.0
PRUNE_INTERVAL = 600.0
USER_AGENT_MAX = 512
# Reached without a session or key: they start one, or have none yet.
OPEN_OPERATIONS = frozenset({
    ("POST", "/v1/sessions"), ("POST", "/v1/invitations/accept"),
    ("POST", "/v1/password-resets"), ("POST", "/v1/password-resets/complete"),
})
EXPIRED = "session expired or ended: sign in again"


def is_open(request: web.Request) -> bool:
    return (request.method, request.path.rstrip("/")) in OPEN_OPERATIONS


def is_own_session_operation(request: web.Request) -> bool:
    """Signing out and ending one's own sessions: allowed to viewers too."""
    path = request.path.rstrip("/")
    return path == "/v1/session" or path.startswith("/v1/sessions/")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_token(pepper: bytes, digest: bytes) -> str:
    mac = hmac.new(pepper, b"csrf:" + digest, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta

    @property
    def touch_interval(self) -> timedelta:
        """How stale `last_seen_at` may be: a minute, less under a short idle timeout."""
        return min(timedelta(seconds=MAX_TOUCH_INTERVAL), self.idle / 10)

    def idle_end(self, last_seen_at: datetime, expires_at: datetime) -> datetime:
        return min(expires_at, last_seen_at + self.idle)

    def alive(self, record: store.SessionRecord, now: datetime) -> bool:
        return now < self.idle_end(record.last_seen_at, record.expires_at)


def session_body(member: dict[str, Any], csrf: str, expires_at: datetime,
                 idle_expires_at: datetime) -> dict[str, Any]:
    user = {k: member[k] for k in ("id", "email", "name", "role", "tenant_id", "status",
                                   "email_verified", "last_active_at")}
    return {"user": user, "csrf_token": csrf, "expires_at": expires_at,
            "idle_expires_at": idle_expires_at}


class SessionAuthenticator:
    def __init__(self, pool: asyncpg.Pool, pepper: bytes, timeouts: Timeouts) -> None:
        self.pool, self.pepper, self.timeouts = pool, pepper, timeouts

    async def current(self, request: web.Request) -> tuple[store.SessionRecord, bytes]:
        """The live session the request's cookie names, or 401."""
        digest = token_digest(request.cookies.get(COOKIE, ""))
        record = await store.find_session(self.pool, digest)
        if (record is None or record.status != "active"
                or not self.timeouts.alive(record, datetime.now(UTC))):
            raise Unauthenticated(EXPIRED)
        return record, digest

    async def authenticate(self, request: web.Request) -> Principal:
        record, digest = await self.current(request)
        if request.method in WRITE_METHODS:
            self.check_csrf(request, digest)
        if datetime.now(UTC) - record.last_seen_at >= self.timeouts.touch_interval:
            await store.touch_session(self.pool, record.id, record.user_id)
        return Principal(record.tenant_id, f"session:{record.id}", record.role, record.user_id,
                         record.rate_limits, session_id=record.id)

    def check_csrf(self, request: web.Request, digest: bytes) -> None:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), csrf_token(self.pepper, digest).encode()):
            raise Forbidden("CSRF token missing or invalid", code="csrf_failed", details=[
                {"field": CSRF_HEADER, "message": "send the csrf_token of your session"}])

    async def prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL)
            try:
                await store.prune_sessions(self.pool, self.timeouts.idle.total_seconds())
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("could not prune ended sessions: %r", exc)


SessionsKey = web.AppKey("sessions", SessionAuthenticator)


def sessions_ctx(pepper: bytes, timeouts: Timeouts
                 ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[SessionsKey] = sessions = SessionAuthenticator(app[PoolKey], pepper, timeouts)
        async with alongside(sessions.prune_periodically()):
            yield

    return ctx


# --- the cookie ----------------------------------------------------------------------------


def is_https(request: web.Request) -> bool:
    """Whether the browser talks HTTPS to us: directly, or to a proxy we trust."""
    trusted = trusted_networks(request.app[SettingsKey].trusted_proxies)
    return request.secure or forwarded_proto(request.remote, request.headers,
                                             trusted) == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, token: str,
               lifetime: timedelta) -> None:
    response.set_cookie(COOKIE, token, max_age=int(lifetime.total_seconds()), path="/",
                        httponly=True, samesite="Lax", secure=is_https(request))


def clear_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.set_cookie(COOKIE, "", max_age=0, path="/", httponly=True, samesite="Lax",
                        secure=is_https(request))


def refuse_cross_site(request: web.Request) -> None:
    """Endpoints reached without a session still refuse another site's page posting to
    them (login CSRF): an `Origin` that is not this host's is 403. Without `Origin`
    (curl, scripts) the request is not a browser's cross-site one."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower():
        raise Forbidden("cross-site request refused", code="cross_site", details=[
            {"field": "Origin", "message": "must be this site's origin"}])


def user_agent(request: web.Request) -> str | None:
    agent = request.headers.get("User-Agent")
    return agent[:USER_AGENT_MAX].replace("\x00", "") if agent else None
