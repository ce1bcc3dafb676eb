"""`/v1/api-keys` and `/api/v1/api-keys`: the organization's API keys, in both dialects.
Only admins manage keys (a key changes who may read and write everything). The whole key
is answered once, on creation and rotation; lists show its prefix only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from resonanz.shared.contracts import ApiKeyIn
from resonanz.shared.db import PoolKey
from resonanz.shared.logs import request_id_var
from resonanz.shared.web import SettingsKey, read_model

from .. import api_keys, commands
from ..auth import AuthenticatorKey, Principal, PrincipalKey
from ..dialects import FEEDBACKPRO, dialect_of


def _admin(request: web.Request) -> Principal:
    """The caller, whom the table lets in as an admin only."""
    principal: Principal = request[PrincipalKey]
    return principal


def _pepper(request: web.Request) -> bytes:
    return request.app[AuthenticatorKey].pepper


def _topic(request: web.Request) -> str:
    """Where the key's `api_key.*` event goes."""
    return request.app[SettingsKey].topic_identity


def _created(request: web.Request, key: dict[str, Any], base: str) -> web.Response:
    """201 with the key's Location; FeedBackPro's envelope links to it as well."""
    location = f"{base}/{key['id']}"
    links: dict[str, str | None] | None = (
        {"self": location} if dialect_of(request.path) is FEEDBACKPRO else None)
    return dialect_of(request.path).ok(request, key, status=201,
                                       headers={"Location": location}, links=links)


def _base(request: web.Request) -> str:
    return "/api/v1/api-keys" if request.path.startswith("/api/") else "/v1/api-keys"


async def list_keys(request: web.Request) -> web.Response:
    found = await api_keys.list_keys(request.app[PoolKey], _admin(request))
    return dialect_of(request.path).ok(request, found, meta={"total": len(found)})


async def get_key(request: web.Request) -> web.Response:
    key = await api_keys.get_key(request.app[PoolKey], _admin(request),
                                 request.match_info["id"])
    return dialect_of(request.path).ok(request, key)


async def create_key(request: web.Request) -> web.Response:
    principal = _admin(request)
    body = await read_model(request, ApiKeyIn)
    key = await commands.create_key(request.app[PoolKey], _pepper(request), _topic(request),
                                    principal, body, request_id_var.get())
    return _created(request, key, _base(request))


async def rotate_key(request: web.Request) -> web.Response:
    principal = _admin(request)
    key = await commands.rotate_key(request.app[PoolKey], _pepper(request), _topic(request),
                                    principal, request.match_info["id"], request_id_var.get())
    return _created(request, key, _base(request))


async def revoke_key(request: web.Request) -> web.Response:
    principal, pool = _admin(request), request.app[PoolKey]
    revoked = await commands.revoke_key(pool, _topic(request), request.match_info["id"],
                                        principal.tenant_id, request_id_var.get())
    key = await api_keys.get_key(pool, principal, revoked["id"])
    return dialect_of(request.path).ok(request, key)
