"""Use cases: each is one transaction holding the change to a widget and its event."""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from resonanz.shared.caller import Caller
from resonanz.shared.events import WidgetChanged, WidgetCreated, WidgetResumed, new_event
from resonanz.shared.outbox import enqueue

from . import store
from .domain import PAUSED, Widget, event_class, resume_widget

SOURCE = "resonanz/widgets"
PUBLIC_ID_ALPHABET = string.ascii_letters + string.digits


def new_ids() -> tuple[str, str]:
    """A widget id, and the public id a shop page embeds (unguessable: 95 bits)."""
    public = "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(16))
    return str(uuid.uuid4()), f"wdg_{public}"


async def _record(conn: asyncpg.Connection, topic: str, kind: type[WidgetChanged],
                  widget: Widget, request_id: str | None, notify: bool = False) -> None:
    event = new_event(kind(widget=widget.snapshot(), notify=notify), source=SOURCE,
                      tenant_id=widget.tenant_id, subject=widget.id, request_id=request_id)
    await enqueue(conn, event, topic)
    if widget.status == PAUSED and widget.resume_at is not None:
        await store.announce_schedule(conn)


async def create_widget(pool: asyncpg.Pool, topic: str, actor: Caller, draft: Widget) -> Widget:
    async with pool.acquire() as conn, conn.transaction():
        widget = await store.insert_widget(conn, draft)
        await _record(conn, topic, WidgetCreated, widget, actor.request_id)
    return widget


async def change_widget(pool: asyncpg.Pool, topic: str, actor: Caller, widget_id: str,
                        change: Callable[[Widget, datetime], Widget], *,
                        notify: bool = False) -> Widget:
    """Apply `change` to the widget under a row lock; report it unless nothing changed."""
    async with pool.acquire() as conn, conn.transaction():
        before = await store.get_widget(conn, actor.tenant_id, widget_id, for_update=True)
        after = change(before, datetime.now(UTC))
        if after == before:
            return before
        saved = await store.save_widget(conn, after)
        await _record(conn, topic, event_class(before, saved), saved, actor.request_id,
                      notify=notify)
    return saved


async def resume_due_widgets(pool: asyncpg.Pool, topic: str, batch: int = 100) -> int:
    """Resume every paused widget whose time has come; returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        due = await store.claim_due(conn, batch)
        for widget in due:
            resumed = await store.save_widget(conn, resume_widget(widget))
            await _record(conn, topic, WidgetResumed, resumed, None)
    return len(due)
