"""Internal routes other services call (internal token required): who to notify."""

from __future__ import annotations

from aiohttp import web

from resonanz.shared.db import PoolKey
from resonanz.shared.web import json_response

from . import store

routes = web.RouteTableDef()


@routes.get("/internal/tenants/{tenant_id}")
async def tenant(request: web.Request) -> web.Response:
    return json_response(await store.get_tenant(request.app[PoolKey],
                                                request.match_info["tenant_id"]))


@routes.get("/internal/tenants/{tenant_id}/admins")
async def tenant_admins(request: web.Request) -> web.Response:
    """Active admins of a tenant: the recipients of operational notices."""
    return json_response(await store.admins_of(request.app[PoolKey],
                                               request.match_info["tenant_id"]))
