"""The public edge: authentication, rate limits, idempotency, dialect rendering."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import DomainError, InvalidInput, Unauthenticated
from resonanz.shared.logs import tenant_id_var
from resonanz.shared.ratelimit import LimiterKey, limit_headers
from resonanz.shared.web import error_middleware

from . import idempotency, sessions, store
from .auth import AuthenticatorKey, Principal, PrincipalKey, presented_key
from .dialects import dialect_of
from .idempotency import KeyRingKey
from .limits import AuthFailuresKey, check_auth_failures, check_tenant_quota
from .upstream import client_ip

PUBLIC_PREFIXES = ("/v1/", "/api/v1/")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _dialect_error(request: web.Request, exc: DomainError) -> web.Response:
    return dialect_of(request.path).error(request, exc.status, exc.code, exc.message,
                                          exc.details, headers=exc.headers)


# Every error is rendered in the caller's dialect; even a bug on a public path answers in
# its documented error shape (elsewhere it goes on to the service's own error middleware).
dialect_errors = error_middleware(
    _dialect_error, renders_bugs=lambda request: request.path.startswith(PUBLIC_PREFIXES))


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Key or session → tenant and role; then the tenant's quota; then the role's
    permission. Signing in and what needs no session yet pass without either."""
    if not request.path.startswith(PUBLIC_PREFIXES) or sessions.is_open(request):
        return await handler(request)
    dialect = dialect_of(request.path).name
    limiter = request.app[LimiterKey]
    try:
        principal = await _principal(request)
    except Unauthenticated:
        await check_auth_failures(limiter, client_ip(request), dialect,
                                  request.app[AuthFailuresKey])
        raise
    request[PrincipalKey] = principal
    tenant_id_var.set(principal.tenant_id)
    member = principal.user_id if principal.session_id else None
    quota, decision = await check_tenant_quota(limiter, principal.tenant_id, dialect,
                                               request.method, request.path,
                                               principal.rate_limits, member)

    async def permitted(request: web.Request) -> web.StreamResponse:
        if request.method in WRITE_METHODS and not (
                principal.session_id and sessions.is_own_session_operation(request)):
            principal.require_write()
        return await handler(request)

    # The request has spent quota whatever it is answered, so every answer says what is
    # left, a refusal (403, 404, 409, ...) too: its error is rendered here, in the caller's
    # dialect, rather than further out where these fields would be lost.
    response = await dialect_errors(request, permitted)
    response.headers.update(limit_headers(quota, decision))
    return response


def _undecodable(value: str) -> bool:
    """aiohttp keeps header bytes that are not UTF-8 as lone surrogates (surrogateescape).
    isascii() is a flag lookup, so the usual all-ASCII header costs no scan."""
    return not value.isascii() and any("\udc80" <= ch <= "\udcff" for ch in value)


@web.middleware
async def readable_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A header that is not UTF-8 is refused here, before a key, a cookie, an
    Idempotency-Key or a User-Agent reaches a hash, the database or a JSON answer."""
    for name, value in request.headers.items():
        if _undecodable(value):
            raise InvalidInput(f"{name}: is not valid UTF-8",
                               details=[{"field": name, "message": "is not valid UTF-8"}])
    return await handler(request)


@web.middleware
async def require_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (request.method in BODY_METHODS and request.body_exists
            and request.path.startswith(PUBLIC_PREFIXES)
            and request.content_type != "application/json"):
        raise DomainError("send the body as application/json", code="unsupported_media_type",
                          status=415, details=[{"field": "Content-Type",
                                                "message": request.content_type}])
    return await handler(request)


@web.middleware
async def idempotent(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.headers.get(idempotency.HEADER)
    if request.method != "POST" or key is None or PrincipalKey not in request:
        return await handler(request)
    idempotency.validate_key(key)
    principal = request[PrincipalKey]
    tenant, pool, ring = principal.tenant_id, request.app[PoolKey], request.app[KeyRingKey]
    fingerprint = idempotency.request_hash(principal.key_id, request.method, request.path_qs,
                                           await request.read())
    stored = await idempotency.begin(pool, ring, tenant, key, fingerprint)
    if stored is not None:
        return idempotency.replay(stored)
    try:
        response = await handler(request)
    except DomainError as exc:
        if exc.status >= 500:
            await idempotency.abandon(pool, tenant, key)
            raise
        response = _dialect_error(request, exc)
    except BaseException:
        await idempotency.abandon(pool, tenant, key)
        raise
    assert isinstance(response, web.Response)
    if response.status in idempotency.NOT_KEPT:
        await idempotency.abandon(pool, tenant, key)
    else:
        await idempotency.finish(pool, ring, tenant, key, response)
    return response


async def _principal(request: web.Request) -> Principal:
    """A key, when one is sent; else the session cookie, whose writes need the CSRF token."""
    if presented_key(request) is None and sessions.COOKIE in request.cookies:
        return await request.app[sessions.SessionsKey].authenticate(request)
    return await request.app[AuthenticatorKey].authenticate(request)


MIDDLEWARES = [dialect_errors, readable_headers, require_json, authenticate, idempotent]


# --- identity -------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    """The organization and the key (or session) the caller speaks as."""
    principal = request[PrincipalKey]
    tenant = await store.get_tenant(request.app[PoolKey], principal.tenant_id)
    key = ({"id": None, "role": principal.role, "session_id": principal.session_id}
           if principal.session_id else {"id": principal.key_id, "role": principal.role})
    return dialect_of(request.path).ok(request, {
        "tenant": {"id": tenant["id"], "name": tenant["name"]},
        "id": tenant["id"], "name": tenant["name"], "key": key})
