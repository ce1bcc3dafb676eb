"""The organization's audit log (`/v1/audit-log`, `/api/v1/audit-log`), restoring a
soft-deleted entry (`/v1/feedback/{id}/restore`) and the inbox export
(`/v1/feedback/export`, `/api/v1/responses/export`).

The audit log is for admins only: it shows what every member and key did across the
organization, the same circle that manages keys and members. Editors restore entries
(they may delete them); whoever may read entries may export them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from resonanz.shared.contracts import AuditEventView
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import (
    cursor_parts,
    cursor_token,
    parse_uuid,
    query_datetime,
    query_limit,
)
from resonanz.shared.web import HttpClientKey

from ..audit_log import AuditQuery, list_events, principal_of
from ..auth import Principal
from ..dialects import FEEDBACKPRO, PAY4FEEDBACK
from ..upstream import UpstreamsKey, as_domain_error, caller_headers, reaching
from .feedback import fbp_filters, p4f_filters, range_end

MAX_LIMIT = 200
METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _caller(request: web.Request) -> Principal:
    principal = principal_of(request)
    assert principal is not None  # every /v1 path is authenticated first
    return principal


def _bad(field: str, message: str, value: Any) -> InvalidInput:
    return InvalidInput.naming([{"field": field, "message": message, "value": value}])


# --- audit log -------------------------------------------------------------------------


def _cursor(event: dict[str, Any]) -> str:
    return cursor_token(event["at"].isoformat(), event["id"])


def _after(token: str) -> tuple[datetime, int]:
    parts = cursor_parts(token, 2)
    try:
        moment = datetime.fromisoformat(parts[0]) if parts else None
    except (ValueError, TypeError):
        moment = None
    if parts is None or moment is None or moment.tzinfo is None \
            or not isinstance(parts[1], int):
        raise _bad("cursor", "pass a next_cursor exactly as the log returned it", token)
    return moment, parts[1]


def _methods(raw: str, field: str) -> tuple[str, ...]:
    methods = tuple(m.strip().upper() for m in raw.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise _bad(field, f"unknown {unknown}; allowed {list(METHODS)}", raw)
    return methods


def _text(q: Mapping[str, str], name: str) -> str | None:
    raw = q.get(name, "").strip()
    if "\x00" in raw or len(raw) > 500:
        raise _bad(name, "at most 500 characters, no NUL", raw[:500])
    return raw or None


def audit_query(request: web.Request, tenant_id: str) -> AuditQuery:
    q = request.query
    actor = _text(q, "actor")
    if actor is not None and parse_uuid(actor) is None:
        raise _bad("actor", "a user id or key id (UUID)", actor)
    methods = _methods(q.get("method", "") or q.get("action", ""),
                       "method" if q.get("method") else "action")
    # A day as the end (`to=2026-12-07`) includes that day, as in the entry lists.
    dates = {target: next((read(q, n) for n in names if q.get(n)), None)
             for target, names, read in (("from", ("from", "since"), query_datetime),
                                         ("to", ("to", "until"), range_end))}
    return AuditQuery(
        tenant_id=tenant_id, actor=str(parse_uuid(actor)) if actor else None,
        methods=methods, operation=_text(q, "operation"), path=_text(q, "path"),
        target=_text(q, "target_id") or _text(q, "target"), at_from=dates["from"],
        at_to=dates["to"], limit=query_limit(q, 50, MAX_LIMIT),
        after=_after(q["cursor"]) if q.get("cursor") else None)


def _view(event: dict[str, Any]) -> dict[str, Any]:
    return {**{k: event[k] for k in AuditEventView.model_fields if k != "id"},
            "id": str(event["id"])}


async def _page(request: web.Request) -> tuple[list[dict[str, Any]], str | None]:
    principal = _caller(request)
    events, more = await list_events(request.app[PoolKey],
                                     audit_query(request, principal.tenant_id))
    next_cursor = _cursor(events[-1]) if more else None
    return [_view(e) for e in events], next_cursor


async def fbp_audit_log(request: web.Request) -> web.Response:
    events, next_cursor = await _page(request)
    links: dict[str, str | None] = {"next": str(request.rel_url.update_query(
        cursor=next_cursor)) if next_cursor else None}
    return FEEDBACKPRO.ok(request, events, meta={"next_cursor": next_cursor,
                                                 "per_page": len(events)}, links=links)


async def p4f_audit_log(request: web.Request) -> web.Response:
    events, next_cursor = await _page(request)
    return PAY4FEEDBACK.ok(request, events, links={"next": next_cursor})


# --- restore ---------------------------------------------------------------------------


async def no_body(request: web.Request) -> bytes:
    return b"{}"


def restored(request: web.Request, entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry["id"], "restored": True, "status": entry["status"]}


# --- export ----------------------------------------------------------------------------

FORMATS = ("csv", "jsonl")


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "csv").strip().lower()
    if fmt not in FORMATS:
        raise _bad("format", f"allowed: {list(FORMATS)}", request.query.get("format"))
    return fmt


async def relay_export(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
    """The feedback service's file, passed on chunk by chunk as it arrives: nothing is
    buffered here. The whole file may take minutes, so only the wait for each chunk is
    bounded (the client's total timeout is lifted for this one call)."""
    principal = _caller(request)
    params = {**params, "format": _format(request)}
    settings_timeout = request.app[HttpClientKey].timeout
    timeout = aiohttp.ClientTimeout(total=None, connect=settings_timeout.connect,
                                    sock_read=settings_timeout.total)
    headers = caller_headers(request, principal)
    url = request.app[UpstreamsKey]["feedback"] + "/entries/export"
    with reaching("feedback"):
        async with request.app[HttpClientKey].get(url, params=params, headers=headers,
                                                  timeout=timeout) as upstream:
            if upstream.status >= 400:
                # Refused before the first byte: the service's error, in the caller's dialect.
                raise as_domain_error(upstream.status, _json(await upstream.read()))
            response = web.StreamResponse(headers={
                "Content-Type": upstream.headers["Content-Type"],
                "Content-Disposition": upstream.headers["Content-Disposition"],
                "Cache-Control": "no-store"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
    await response.write_eof()
    return response


async def fbp_export(request: web.Request) -> web.StreamResponse:
    return await relay_export(request, await fbp_filters(request))


async def p4f_export(request: web.Request) -> web.StreamResponse:
    return await relay_export(request, await p4f_filters(request))


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
