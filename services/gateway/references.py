"""Ids a request names in its path, body or query, resolved against their owners before
it goes on: a widget or team member of another tenant (or of none) is a 404 naming the
field, as both references answer an id outside the caller's tenant; an id that is no
UUID is a 400 ("bad UUID").

A widget may be named by its id or by its public id (`wdg_…`, the one in the embed code
and in the FeedBackPro reference's examples): the public id is resolved here, once, and
the services only ever see the UUID."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from aiohttp import web

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import DomainError, InvalidInput, NotFound
from resonanz.shared.params import parse_uuid

from . import store
from .api import PrincipalKey
from .upstream import call

# What the widgets service hands out as a public id (commands.new_ids); anything else
# names no widget and is never sent on (a NUL in one once reached a query).
PUBLIC_WIDGET_ID = re.compile(r"wdg_[A-Za-z0-9]{1,64}")


def _not_ours(field: str, what: str, value: uuid.UUID | str) -> NotFound:
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


async def widget_named(request: web.Request, raw: str, field: str) -> uuid.UUID | None:
    """The id of the caller's widget that `raw` names by its id or its public id; None
    when `raw` is neither. A public id that is not the caller's is a 404 naming `field`;
    a UUID is returned as it is (whoever uses it checks the owner)."""
    parsed = parse_uuid(raw)
    if parsed is not None or not PUBLIC_WIDGET_ID.fullmatch(raw):
        return parsed
    try:
        _, widget = await call(request, "widgets", "GET", f"/widgets/by-public-id/{raw}",
                               request[PrincipalKey])
    except DomainError as exc:
        if exc.status != 404:
            raise
        raise _not_ours(field, "widget", raw) from None
    return uuid.UUID(widget["id"])


async def widget_in_path(request: web.Request) -> uuid.UUID:
    """The widget (campaign) a management path names, by id or public id."""
    widget_id = await widget_named(request, request.match_info["id"], "id")
    if widget_id is None:
        raise NotFound("widget not found")
    return widget_id


async def require_member(request: web.Request, user_id: uuid.UUID, field: str) -> None:
    """A current or invited member of the caller's team; a removed one is gone."""
    tenant = request[PrincipalKey].tenant_id
    if not await store.is_member(request.app[PoolKey], tenant, user_id):
        raise _not_ours(field, "team member", user_id)


async def widget_in_query(request: web.Request, names: tuple[str, ...],
                          query: Mapping[str, str] | None = None) -> str | None:
    """The caller's own widget a list or summary is filtered by (under the first of
    `names` the query holds; `query`: a bulk change's filter), canonical; None when it
    names none."""
    q = request.query if query is None else query
    name = next((n for n in names if q.get(n)), None)
    if name is None:
        return None
    raw = q[name]
    widget_id = await widget_named(request, raw, name)
    if widget_id is None:
        raise InvalidInput(f"{name}: must be a widget id (UUID) or public id (wdg_…)",
                           details=[{"field": name, "message": "must be a UUID or wdg_…",
                                     "value": raw}])
    if parse_uuid(raw) is not None:
        await require_own_widget(request, widget_id, name)
    return str(widget_id)
