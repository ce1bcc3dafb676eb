"""HTTP in and out for managing widgets (internal API; the gateway renders the dialects)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from resonanz.shared.caller import caller_of
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import (
    cursor_parts,
    cursor_token,
    parse_datetime,
    parse_uuid,
    query_int,
    query_page,
)
from resonanz.shared.timestamps import rfc3339
from resonanz.shared.web import SettingsKey, json_response, read_model
from resonanz.shared.widget_contracts import (
    PauseIn,
    ResumeIn,
    WidgetIn,
    WidgetPatch,
    voucher_pool_digest,
)

from . import commands, store
from .domain import (
    ACTIVE,
    DEFAULT_QUESTIONS,
    DRAFT,
    Theme,
    Trigger,
    Widget,
    check_questions,
    check_thresholds,
    configure_widget,
    end_widget,
    move_to,
    pause_widget,
    resume_widget,
    validated,
)

routes = web.RouteTableDef()

MAX_PAGE = 500


# --- representation --------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def widget_json(w: Widget) -> dict[str, Any]:
    return {
        "id": w.id, "public_id": w.public_id, "name": w.name, "status": w.status,
        "placement": w.placement, "trigger": w.trigger.model_dump(exclude_none=True),
        "theme": w.theme.model_dump(), "languages": list(w.languages),
        "questions": [q.model_dump(mode="json") for q in w.questions],
        "reward": w.reward.model_dump(mode="json", exclude_none=True) if w.reward else None,
        "auto_approve_above": w.auto_approve_above, "auto_reject_below": w.auto_reject_below,
        "allowed_origins": list(w.allowed_origins), "pause_reason": w.pause_reason,
        "paused_at": iso(w.paused_at), "resume_at": iso(w.resume_at),
        "ended_at": iso(w.ended_at), "version": w.version,
        "created_at": iso(w.created_at), "updated_at": iso(w.updated_at),
    }


# --- handlers ---------------------------------------------------------------------------


def _draft(tenant_id: str, body: WidgetIn) -> Widget:
    widget_id, public_id = commands.new_ids()
    now = datetime.now(UTC)
    changes = body.changes()
    widget = Widget(
        id=widget_id, tenant_id=tenant_id, public_id=public_id, name=body.name,
        status=DRAFT, placement="bottom-right", trigger=Trigger(),
        theme=validated(Theme, changes.pop("theme", None) or {}, "theme"),
        languages=("de", "en"), questions=DEFAULT_QUESTIONS, reward=None,
        auto_approve_above=None, auto_reject_below=None, allowed_origins=(),
        pause_reason=None, paused_at=None, resume_at=None, ended_at=None, version=1,
        created_at=now, updated_at=now,
    )
    widget = configure_widget(widget, changes)
    wanted = body.wanted_status(DRAFT)
    if wanted not in (None, DRAFT, ACTIVE):
        raise InvalidInput("a new widget starts as DRAFT or ACTIVE", details=[
            {"field": "status", "message": "must be DRAFT or ACTIVE"}])
    return move_to(widget, wanted, now) if wanted else widget


@routes.post("/widgets")
async def create_widget(request: web.Request) -> web.Response:
    actor = caller_of(request)
    body = await read_model(request, WidgetIn)
    draft = _draft(actor.tenant_id, body)
    check_questions(draft.questions)
    check_thresholds(draft.auto_approve_above, draft.auto_reject_below)
    topic = request.app[SettingsKey].topic_widgets
    widget = await commands.create_widget(request.app[PoolKey], topic, actor, draft)
    return json_response(widget_json(widget), status=201)


def _page_args(request: web.Request) -> tuple[int, int]:
    return (query_int(request.query, "limit", 50, upper=MAX_PAGE),
            query_page(request.query))


def _position(w: Widget) -> str:
    """The opaque cursor to the widgets after `w` (newest first)."""
    return cursor_token(w.created_at.isoformat(), w.id)


def _after(token: str) -> tuple[datetime, uuid.UUID] | None:
    """The position a cursor names (None: the first page). A client may send anything:
    each part is checked before it reaches the database."""
    if not token:
        return None
    parts = cursor_parts(token, 2)
    try:
        position = (parse_datetime(parts[0]), parse_uuid(parts[1])) if parts else None
    except (ValueError, TypeError):
        position = None
    if position is None or position[1] is None:
        raise InvalidInput.naming([{"field": "cursor", "message":
                                    "pass a next cursor exactly as a list returned it"}])
    return position[0], position[1]


@routes.get("/widgets")
async def list_widgets(request: web.Request) -> web.Response:
    """Pages by number (`page`, with the `total`), or by keyset once `cursor` is given
    (empty for the first page): then `next_cursor` leads on, and is null on the last."""
    actor = caller_of(request)
    if "cursor" in request.query:
        size = query_int(request.query, "limit", 50, upper=MAX_PAGE)
        found = await store.list_widgets_after(request.app[PoolKey], actor.tenant_id,
                                               size + 1, _after(request.query["cursor"]))
        more = len(found) > size
        return json_response({"items": [widget_json(w) for w in found[:size]],
                              "next_cursor": _position(found[size - 1]) if more else None})
    limit, page = _page_args(request)
    items, total = await store.list_widgets(request.app[PoolKey], actor.tenant_id, limit,
                                            (page - 1) * limit)
    return json_response({"items": [widget_json(w) for w in items], "total": total,
                          "page": page, "limit": limit})


@routes.get("/widgets/{id}")
async def get_widget(request: web.Request) -> web.Response:
    actor = caller_of(request)
    widget = await store.get_widget(request.app[PoolKey], actor.tenant_id,
                                    request.match_info["id"])
    return json_response(widget_json(widget))


@routes.get("/widgets/by-public-id/{public_id}")
async def get_widget_by_public_id(request: web.Request) -> web.Response:
    """The gateway resolves a public id a client names (`wdg_…`) here, then goes on with
    the widget's id."""
    actor = caller_of(request)
    widget = await store.find_by_public_id(request.app[PoolKey], actor.tenant_id,
                                           request.match_info["public_id"])
    return json_response(widget_json(widget))


@routes.get("/widgets/{id}/voucher-codes")
async def voucher_codes(request: web.Request) -> web.Response:
    """The codes of a widget's voucher pool, for the feedback service's payout worker only:
    the gateway exposes no route to this, and events carry only the pool's size and digest."""
    actor = caller_of(request)
    widget = await store.get_widget(request.app[PoolKey], actor.tenant_id,
                                    request.match_info["id"])
    codes = widget.reward.voucher_codes if widget.reward else None
    if not codes:
        return json_response({"codes": [], "digest": None})
    return json_response({"codes": list(codes), "digest": voucher_pool_digest(codes)})


async def _change(request: web.Request, change: Callable[[Widget, datetime], Widget],
                  notify: bool = False) -> web.Response:
    actor = caller_of(request)
    topic = request.app[SettingsKey].topic_widgets
    widget = await commands.change_widget(request.app[PoolKey], topic, actor,
                                          request.match_info["id"], change, notify=notify)
    return json_response(widget_json(widget))


@routes.patch("/widgets/{id}")
async def patch_widget(request: web.Request) -> web.Response:
    body = await read_model(request, WidgetPatch)
    changes = body.changes()

    def change(widget: Widget, now: datetime) -> Widget:
        configured = configure_widget(widget, dict(changes))
        wanted = body.wanted_status(widget.status)
        return move_to(configured, wanted, now) if wanted else configured

    return await _change(request, change)


@routes.post("/widgets/{id}/pause")
async def pause(request: web.Request) -> web.Response:
    body = await read_model(request, PauseIn)
    return await _change(request, lambda w, now: pause_widget(w, body.reason, body.resume_at,
                                                              now))


@routes.post("/widgets/{id}/resume")
async def resume(request: web.Request) -> web.Response:
    body = await read_model(request, ResumeIn)
    return await _change(request, lambda w, now: resume_widget(w), notify=body.notify)


@routes.post("/widgets/{id}/end")
async def end(request: web.Request) -> web.Response:
    return await _change(request, end_widget)
