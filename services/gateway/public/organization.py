"""`/v1/organization`: the organization's name and time zone. A change is announced as
`tenant.updated` on the identity topic (commands.change_organization)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from resonanz.shared.contracts import OrganizationIn, OrganizationView
from resonanz.shared.db import PoolKey
from resonanz.shared.logs import request_id_var
from resonanz.shared.web import SettingsKey, read_model

from .. import commands, store
from ..auth import PrincipalKey
from ..dialects import FEEDBACKPRO


async def get_organization(request: web.Request) -> web.Response:
    organization = await store.organization_of(request.app[PoolKey],
                                               request[PrincipalKey].tenant_id)
    return FEEDBACKPRO.ok(request, _view(organization))


async def update_organization(request: web.Request) -> web.Response:
    principal = request[PrincipalKey]
    body = await read_model(request, OrganizationIn)
    organization = await commands.change_organization(
        request.app[PoolKey], request.app[SettingsKey].topic_identity, principal.tenant_id,
        body, request_id_var.get())
    return FEEDBACKPRO.ok(request, _view(organization))


def _view(organization: dict[str, Any]) -> dict[str, Any]:
    return {name: organization[name] for name in OrganizationView.model_fields}

