"""HTTP in and out for managing widgets (internal API; the gateway renders the dialects)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import bounded_datetime, query_int, query_page
from resonanz.shared.timestamps import rfc3339
from resonanz.shared.web import SettingsKey, json_response, read_model

from . import commands, store
from .domain import (
    ACTIVE,
    DEFAULT_QUESTIONS,
    DRAFT,
    ORIGIN,
    PAUSED,
    Language,
    Placement,
    Question,
    Reward,
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
    voucher_pool_digest,
)

routes = web.RouteTableDef()

MAX_PAGE = 500


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _trigger_name(value: Any) -> Any:
    """`"exit-intent"` is shorthand for `{"type": "exit-intent"}`."""
    return {"type": value} if isinstance(value, str) else value


def _origin(value: Any) -> Any:
    return value.strip().lower().rstrip("/") if isinstance(value, str) else value


Status = Annotated[Literal["DRAFT", "ACTIVE", "PAUSED", "ENDED"], BeforeValidator(_upper)]
TriggerIn = Annotated[Trigger, BeforeValidator(_trigger_name)]
Origin = Annotated[str, BeforeValidator(_origin), Field(pattern=ORIGIN)]
Score = Annotated[int, Field(ge=0, le=100)]


class WidgetSettingsIn(BaseModel):
    """Settings both dialects may send; `position` is FeedBackPro's word for placement."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    placement: Placement | None = Field(
        default=None, validation_alias=AliasChoices("placement", "position"))
    trigger: TriggerIn | None = None
    theme: dict[str, Any] | None = None
    languages: list[Language] | None = Field(default=None, min_length=1)
    questions: list[Question] | None = Field(default=None, min_length=1, max_length=20)
    reward: Reward | None = None
    auto_approve_above: Score | None = None
    auto_reject_below: Score | None = None
    allowed_origins: list[Origin] | None = Field(default=None, max_length=50)
    status: Status | None = None
    is_active: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The settings this request sets, as the domain holds them."""
        given = self.model_fields_set - {"status", "is_active"}
        out: dict[str, Any] = {name: getattr(self, name) for name in given}
        for name in ("placement", "trigger", "theme", "languages", "questions", "name"):
            if out.get(name, ...) is None:
                del out[name]  # null is "leave as is" for what cannot be empty
        if "allowed_origins" in out and out["allowed_origins"] is None:
            out["allowed_origins"] = ()  # null: no restriction, any shop origin
        for name in ("languages", "questions", "allowed_origins"):
            if out.get(name) is not None:
                out[name] = tuple(dict.fromkeys(out[name]) if name != "questions"
                                  else out[name])
        return out

    def wanted_status(self, current: str) -> str | None:
        if self.status is not None:
            return self.status
        if self.is_active is True:
            return ACTIVE
        if self.is_active is False and current == ACTIVE:
            return PAUSED
        return None


class WidgetIn(WidgetSettingsIn):
    name: str = Field(min_length=1, max_length=200)


class WidgetPatch(WidgetSettingsIn):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500)
    resume_at: Annotated[AwareDatetime, AfterValidator(bounded_datetime)] | None = None


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    notify: bool = False


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


def actor_of(request: web.Request) -> commands.Actor:
    tenant = request.headers.get("X-Tenant-Id")
    if not tenant:
        raise InvalidInput("X-Tenant-Id header is required")
    return commands.Actor(tenant, request.headers.get("X-Actor-Id"),
                          request.headers.get("X-Request-Id"))


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
    actor = actor_of(request)
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


@routes.get("/widgets")
async def list_widgets(request: web.Request) -> web.Response:
    actor = actor_of(request)
    limit, page = _page_args(request)
    items, total = await store.list_widgets(request.app[PoolKey], actor.tenant_id, limit,
                                            (page - 1) * limit)
    return json_response({"items": [widget_json(w) for w in items], "total": total,
                          "page": page, "limit": limit})


@routes.get("/widgets/{id}")
async def get_widget(request: web.Request) -> web.Response:
    actor = actor_of(request)
    widget = await store.get_widget(request.app[PoolKey], actor.tenant_id,
                                    request.match_info["id"])
    return json_response(widget_json(widget))


@routes.get("/widgets/by-public-id/{public_id}")
async def get_widget_by_public_id(request: web.Request) -> web.Response:
    """The gateway resolves a public id a client names (`wdg_…`) here, then goes on with
    the widget's id."""
    actor = actor_of(request)
    widget = await store.find_by_public_id(request.app[PoolKey], actor.tenant_id,
                                           request.match_info["public_id"])
    return json_response(widget_json(widget))


@routes.get("/widgets/{id}/voucher-codes")
async def voucher_codes(request: web.Request) -> web.Response:
    """The codes of a widget's voucher pool, for the feedback service's payout worker only:
    the gateway exposes no route to this, and events carry only the pool's size and digest."""
    actor = actor_of(request)
    widget = await store.get_widget(request.app[PoolKey], actor.tenant_id,
                                    request.match_info["id"])
    codes = widget.reward.voucher_codes if widget.reward else None
    if not codes:
        return json_response({"codes": [], "digest": None})
    return json_response({"codes": list(codes), "digest": voucher_pool_digest(codes)})


async def _change(request: web.Request, change: Callable[[Widget, datetime], Widget],
                  notify: bool = False) -> web.Response:
    actor = actor_of(request)
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
