"""`/v1/organization`: the organization's name and time zone. A change is announced as
`tenant.updated` on the identity topic (analytics counts days in the zone)."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from resonanz.shared.contracts import OrganizationIn, OrganizationView
from resonanz.shared.db import PoolKey
from resonanz.shared.events import TenantUpdated, new_event
from resonanz.shared.logs import request_id_var
from resonanz.shared.outbox import enqueue
from resonanz.shared.web import SettingsKey, read_model

from .. import store
from ..auth import PrincipalKey
from ..dialects import FEEDBACKPRO

SOURCE = "resonanz/gateway"


async def get_organization(request: web.Request) -> web.Response:
    organization = await store.organization_of(request.app[PoolKey],
                                               request[PrincipalKey].tenant_id)
    return FEEDBACKPRO.ok(request, _view(organization))


async def update_organization(request: web.Request) -> web.Response:
    principal = request[PrincipalKey]
    body = await read_model(request, OrganizationIn)
    organization = await change_organization(
        request.app[PoolKey], request.app[SettingsKey].topic_identity, principal.tenant_id,
        body, request_id_var.get())
    return FEEDBACKPRO.ok(request, _view(organization))


async def change_organization(pool: asyncpg.Pool, topic: str, tenant_id: str,
                              change: OrganizationIn, request_id: str | None
                              ) -> dict[str, Any]:
    """The change and its event in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        organization = await store.update_organization(conn, tenant_id, change.name,
                                                       change.timezone)
        data = TenantUpdated(name=organization["name"], timezone=organization["timezone"],
                             version=organization["version"])
        await enqueue(conn, new_event(source=SOURCE, tenant_id=tenant_id,
                                      subject=tenant_id, data=data, request_id=request_id),
                      topic)
    return organization


def _view(organization: dict[str, Any]) -> dict[str, Any]:
    return {name: organization[name] for name in OrganizationView.model_fields}

