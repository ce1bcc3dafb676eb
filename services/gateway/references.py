"""Ids a request names in its body or query, resolved against their owners before it
goes on: a widget or team member of another tenant (or of none) is a 404 naming the
field, as both references answer an id outside the caller's tenant; an id that is no
UUID is a 400 ("bad UUID")."""

from __future__ import annotations

import uuid

from aiohttp import web

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import DomainError, NotFound
from resonanz.shared.params import query_uuid

from . import store
from .api import PrincipalKey
from .upstream import call


def _not_ours(field: str, what: str, value: uuid.UUID) -> NotFound:
    return NotFound(f"{what} not found", details=[
        {"field": field, "message": f"no such {what} in this organization",
         "value": str(value)}])


async def require_own_widget(request: web.Request, widget_id: uuid.UUID, field: str) -> None:
    """Asked of the widgets service, which owns widgets: a widget created a moment ago
    is known there at once, while events about it may still be on their way."""
    try:
        await call(request, "widgets", "GET", f"/widgets/{widget_id}", request[PrincipalKey])
    except DomainError as exc:
        if exc.status != 404:
            raise
        raise _not_ours(field, "widget", widget_id) from None


async def require_member(request: web.Request, user_id: uuid.UUID, field: str) -> None:
    """A current or invited member of the caller's team; a removed one is gone."""
    tenant = request[PrincipalKey].tenant_id
    if not await store.is_member(request.app[PoolKey], tenant, user_id):
        raise _not_ours(field, "team member", user_id)


async def widget_in_query(request: web.Request, names: tuple[str, ...]) -> str | None:
    """The caller's own widget a list or summary is filtered by (under the first of
    `names` the query holds), canonical; None when it names none."""
    name = next((n for n in names if request.query.get(n)), None)
    widget_id = query_uuid(request.query, name) if name else None
    if name is None or widget_id is None:
        return None
    await require_own_widget(request, uuid.UUID(widget_id), name)
    return widget_id
