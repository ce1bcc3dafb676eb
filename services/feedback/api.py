"""HTTP in and out for the feedback service (internal API; the gateway renders dialects)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.web import SettingsKey, json_response, read_model

from . import commands, store
from .domain import STATUSES, Entry

routes = web.RouteTableDef()

MAX_METADATA_BYTES = 16 * 1024


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    body: str | None = Field(default=None, max_length=10_000)
    rating: int | None = Field(default=None, ge=1, le=5)
    category: str | None = Field(default=None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    customer_email: EmailStr | None = None
    widget_id: str | None = None
    answers: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def metadata_fits(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must encode to at most {MAX_METADATA_BYTES} bytes")
        return value


def actor_of(request: web.Request) -> commands.Actor:
    tenant = request.headers.get("X-Tenant-Id")
    if not tenant:
        raise InvalidInput("X-Tenant-Id header is required")
    return commands.Actor(tenant, request.headers.get("X-Actor-Id"),
                          request.headers.get("X-Actor-Role"), request.headers.get("X-Request-Id"))


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id, "widget_id": entry.widget_id, "body": entry.body,
        "rating": entry.rating, "category": entry.category, "metadata": entry.metadata,
        "customer_email": entry.customer_email, "answers": entry.answers,
        "status": entry.status, "assignee": entry.assignee,
        "quality_score": entry.quality_score, "quality": entry.quality,
        "reward_status": entry.reward_status, "created_at": entry.created_at,
        "updated_at": entry.updated_at, "resolved_at": entry.resolved_at,
    }


@routes.post("/entries")
async def create_entry(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_model(request, EntryIn)
    new = store.NewEntry(
        tenant_id=actor.tenant_id, widget_id=body.widget_id, body=body.body,
        rating=body.rating, category=body.category, metadata=body.metadata,
        customer_email=body.customer_email, answers=body.answers,
    )
    settings = request.app[SettingsKey]
    entry = await commands.create_entry(request.app[PoolKey], settings.topic_feedback, actor, new)
    return json_response(entry_json(entry), status=201)


def _list_query(request: web.Request, tenant_id: str) -> store.ListQuery:
    q = request.query
    statuses = tuple(s for s in q.get("status", "").split(",") if s)
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise InvalidInput("unknown status", details=[
            {"field": "status", "message": f"unknown {unknown}; allowed {list(STATUSES)}"}])
    return store.ListQuery(
        tenant_id=tenant_id, statuses=statuses, widget_id=q.get("widget_id") or None,
        created_from=_when(q.get("from")), created_to=_when(q.get("to")),
        descending=q.get("order", "desc") != "asc", limit=int(q.get("limit", "50")),
        page=int(q.get("page", "1")), cursor=q.get("cursor") or None,
        with_total=q.get("total", "1") == "1",
    )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@routes.get("/entries")
async def list_entries(request: web.Request) -> web.Response:
    actor = actor_of(request)
    page = await store.list_entries(request.app[PoolKey], _list_query(request, actor.tenant_id))
    return json_response({"items": [entry_json(e) for e in page.items], "total": page.total,
                          "next_cursor": page.next_cursor})


@routes.get("/entries/{id}")
async def get_entry(request: web.Request) -> web.Response:
    actor = actor_of(request)
    pool = request.app[PoolKey]
    entry = await store.get_entry(pool, actor.tenant_id, request.match_info["id"])
    body = entry_json(entry)
    body["audit_trail"] = await store.audit_trail(pool, entry.id)
    body["notes"] = await store.notes_of(pool, entry.id)
    return json_response(body)
