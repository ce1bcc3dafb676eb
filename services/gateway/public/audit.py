"""The organization's audit log (`/v1/audit-log`, `/api/v1/audit-log`), restoring a
soft-deleted entry (`/v1/feedback/{id}/restore`) and the inbox export
(`/v1/feedback/export`, `/api/v1/responses/export`).

The audit log is for admins only: it shows what every member and key did across the
organization, the same circle that manages keys and members. Editors restore entries
(they may delete them); whoever may read entries may export them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from resonanz.shared.contracts import AuditEventView, ExportRowView, RestoredView
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import DomainError, InvalidInput
from resonanz.shared.logs import request_id_var
from resonanz.shared.params import parse_uuid, path_uuid, query_datetime, query_limit
from resonanz.shared.web import HttpClientKey

from .. import openapi
from ..audit_log import AuditQuery, list_events, principal_of
from ..auth import Principal
from ..dialects import FEEDBACKPRO, PAY4FEEDBACK
from ..references import widget_in_query
from ..upstream import UpstreamsKey, call, client_ip, reaching
from .feedback import _dates, _filters, _reward_states

routes = web.RouteTableDef()

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
    raw = orjson.dumps([event["at"].isoformat(), event["id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str) -> tuple[datetime, int]:
    try:
        at, event_id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        moment = datetime.fromisoformat(at)
    except (ValueError, TypeError, binascii.Error):
        raise _bad("cursor", "pass a next_cursor exactly as the log returned it",
                   token) from None
    if not isinstance(event_id, int) or moment.tzinfo is None:
        raise _bad("cursor", "pass a next_cursor exactly as the log returned it", token)
    return moment, event_id


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
    dates = {target: next((query_datetime(q, n) for n in names if q.get(n)), None)
             for target, names in (("from", ("from", "since")), ("to", ("to", "until")))}
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
    principal.require_admin()
    events, more = await list_events(request.app[PoolKey],
                                     audit_query(request, principal.tenant_id))
    next_cursor = _cursor(events[-1]) if more else None
    return [_view(e) for e in events], next_cursor


@routes.get("/v1/audit-log")
async def fbp_audit_log(request: web.Request) -> web.Response:
    events, next_cursor = await _page(request)
    links: dict[str, str | None] = {"next": str(request.rel_url.update_query(
        cursor=next_cursor)) if next_cursor else None}
    return FEEDBACKPRO.ok(request, events, meta={"next_cursor": next_cursor,
                                                 "per_page": len(events)}, links=links)


@routes.get("/api/v1/audit-log")
async def p4f_audit_log(request: web.Request) -> web.Response:
    events, next_cursor = await _page(request)
    return PAY4FEEDBACK.ok(request, events, links={"next": next_cursor})


# --- restore ---------------------------------------------------------------------------


@routes.post("/v1/feedback/{id}/restore")
async def fbp_restore_feedback(request: web.Request) -> web.Response:
    """Undo a soft delete (editors and admins); 404 for an entry unknown or not deleted."""
    entry_id = path_uuid(request.match_info["id"], "feedback entry")
    _, entry = await call(request, "feedback", "POST", f"/entries/{entry_id}/restore",
                          _caller(request), body=b"{}")
    return FEEDBACKPRO.ok(request, {"id": entry["id"], "restored": True,
                                    "status": entry["status"]})


# --- export ----------------------------------------------------------------------------

FORMATS = ("csv", "jsonl")


async def _fbp_export_params(request: web.Request) -> dict[str, str]:
    q = request.query
    params = {**_dates(q), **_filters(request, assignee_names=("assignee", "assigned_to"))}
    for name in ("status", "sort"):
        if q.get(name):
            params[name] = q[name]
    if q.get("reward_status"):
        params["reward_status"] = _reward_states(q["reward_status"], "reward_status")
    widget = await widget_in_query(request, ("widget_id",))
    if widget:
        params["widget_id"] = widget
    return params


async def _p4f_export_params(request: web.Request) -> dict[str, str]:
    q = request.query
    params = {**_dates(q), **_filters(request, assignee_names=("assignee",))}
    if q.get("status"):
        params["reward_status"] = _reward_states(q["status"], "status")
    campaign = await widget_in_query(request, ("campaign_id", "campaign"))
    if campaign:
        params["widget_id"] = campaign
    return params


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "csv").strip().lower()
    if fmt not in FORMATS:
        raise _bad("format", f"allowed: {list(FORMATS)}", request.query.get("format"))
    return fmt


def _refusal(status: int, raw: bytes) -> DomainError:
    try:
        error = orjson.loads(raw).get("error", {})
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    return DomainError(error.get("message", "export refused"), code=error.get("code", "error"),
                       details=error.get("details", []), status=status)


async def relay_export(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
    """The feedback service's file, passed on chunk by chunk as it arrives: nothing is
    buffered here. The whole file may take minutes, so only the wait for each chunk is
    bounded (the client's total timeout is lifted for this one call)."""
    principal = _caller(request)
    params = {**params, "format": _format(request)}
    settings_timeout = request.app[HttpClientKey].timeout
    timeout = aiohttp.ClientTimeout(total=None, connect=settings_timeout.connect,
                                    sock_read=settings_timeout.total)
    headers = {"X-Request-Id": request_id_var.get() or "", "X-Client-Ip": client_ip(request),
               "X-Tenant-Id": principal.tenant_id, "X-Actor-Id": principal.actor_id,
               "X-Actor-Role": principal.role}
    url = request.app[UpstreamsKey]["feedback"] + "/entries/export"
    with reaching("feedback"):
        async with request.app[HttpClientKey].get(url, params=params, headers=headers,
                                                  timeout=timeout) as upstream:
            if upstream.status >= 400:
                # Refused before the first byte: the service's error, in the caller's dialect.
                raise _refusal(upstream.status, await upstream.read())
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


@routes.get("/v1/feedback/export")
async def fbp_export_feedback(request: web.Request) -> web.StreamResponse:
    return await relay_export(request, await _fbp_export_params(request))


@routes.get("/api/v1/responses/export")
async def p4f_export_responses(request: web.Request) -> web.StreamResponse:
    return await relay_export(request, await _p4f_export_params(request))


# --- the document ----------------------------------------------------------------------

_STRING = {"type": "string"}
_DATE = {"type": "string", "format": "date-time"}
AUDIT_PARAMS = (
    openapi.Param("actor", {"type": "string", "format": "uuid"},
                  description="a user id or key id: what that member or key did"),
    openapi.Param("method", _STRING, description="comma list of POST, PUT, PATCH, DELETE"
                  " (also as `action`)"),
    openapi.Param("operation", _STRING, description="a path template, e.g."
                  " /v1/feedback/{id}"),
    openapi.Param("path", _STRING, description="paths starting with this"),
    openapi.Param("target_id", _STRING, description="the id of the record changed"),
    openapi.Param("from", _DATE), openapi.Param("to", _DATE),
    openapi.Param("limit", {"type": "integer", "minimum": 1},
                  description="default 50; more than 200 is clamped to 200"),
    openapi.Param("cursor", _STRING, description="opaque; from meta.next_cursor (next)"),
)
EXPORT = ("Stream every entry the list's filters find as a file: `format=csv` (default;"
          " answers and metadata as JSON text, cells that a spreadsheet would run as a"
          " formula prefixed with ') or `format=jsonl` (one JSON object a line)")
ID = openapi.Param("id", _STRING, "path", required=True)
FORMAT = openapi.Param("format", {"enum": list(FORMATS)})
FILTERED_BY = "the same filter as in the entry list"
FBP_EXPORT = (FORMAT, *(openapi.Param(name, _STRING, description=FILTERED_BY) for name in (
    "status", "reward_status", "widget_id", "from", "to", "q", "rating", "rating_min",
    "rating_max", "category", "quality", "score_min", "score_max", "assignee", "sort")))
P4F_EXPORT = (FORMAT, *(openapi.Param(name, _STRING, description=FILTERED_BY) for name in (
    "status", "campaign_id", "from", "to", "q", "rating", "rating_min", "rating_max",
    "category", "quality", "score_min", "score_max", "assignee")))

EXPORT_MEDIA = ("text/csv", "application/x-ndjson")

openapi.register(
    openapi.Operation("GET", "/v1/audit-log", "The organization's audit log, newest first"
                      " (admins): every change by members and keys", response=AuditEventView,
                      many=True, params=AUDIT_PARAMS, errors=(400, 401, 403, 429), role="admin"),
    openapi.Operation("GET", "/api/v1/audit-log", "The organization's audit log (admins)",
                      response=AuditEventView, many=True, params=AUDIT_PARAMS,
                      errors=(400, 401, 403, 429), role="admin"),
    openapi.Operation("POST", "/v1/feedback/{id}/restore", "Restore a soft-deleted entry"
                      " (404 when it is not deleted)", params=(ID,), response=RestoredView,
                      errors=(400, 401, 403, 404, 429)),
    openapi.Operation("GET", "/v1/feedback/export", EXPORT, response=ExportRowView,
                      many=True, params=FBP_EXPORT, media=EXPORT_MEDIA),
    openapi.Operation("GET", "/api/v1/responses/export", EXPORT, response=ExportRowView,
                      many=True, params=P4F_EXPORT, media=EXPORT_MEDIA),
)
