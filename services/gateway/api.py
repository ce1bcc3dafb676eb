"""The public API: authentication, dialect rendering, forwarding to the owning service."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import DomainError, validation_details
from resonanz.shared.logs import tenant_id_var

from . import store
from .auth import AuthenticatorKey, Principal
from .dialects import FEEDBACKPRO, PAY4FEEDBACK, dialect_of

routes = web.RouteTableDef()
PrincipalKey = web.RequestKey("principal", Principal)

PUBLIC_PREFIXES = ("/v1/", "/api/v1/")


@web.middleware
async def dialect_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error on a public path is rendered in the caller's dialect."""
    try:
        return await handler(request)
    except DomainError as exc:
        return dialect_of(request.path).error(request, exc.status, exc.code, exc.message,
                                              exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        headers = {k: v for k, v in exc.headers.items()
                   if k.lower() in {"allow", "retry-after"}}
        return dialect_of(request.path).error(request, exc.status, code, exc.reason, [],
                                              headers=headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PUBLIC_PREFIXES):
        principal = await request.app[AuthenticatorKey].authenticate(request)
        request[PrincipalKey] = principal
        tenant_id_var.set(principal.tenant_id)
        if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
            principal.require_write()
    return await handler(request)


def _validation(exc: Any) -> DomainError:
    return DomainError("invalid request", details=validation_details(exc.errors()),
                       code="validation_error", status=400)


# --- identity -------------------------------------------------------------------------


async def _me(request: web.Request) -> dict[str, Any]:
    principal = request[PrincipalKey]
    tenant = await store.get_tenant(request.app[PoolKey], principal.tenant_id)
    return {"tenant": {"id": tenant["id"], "name": tenant["name"]},
            "id": tenant["id"], "name": tenant["name"],
            "key": {"id": principal.key_id, "role": principal.role}}


@routes.get("/v1/me")
async def fbp_me(request: web.Request) -> web.Response:
    return FEEDBACKPRO.ok(request, await _me(request))


@routes.get("/api/v1/me")
async def p4f_me(request: web.Request) -> web.Response:
    return PAY4FEEDBACK.ok(request, await _me(request))
