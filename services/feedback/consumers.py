"""What the feedback service learns from others: removed members, campaign rules."""

from __future__ import annotations

import asyncpg

from resonanz.shared.consumer import Handler
from resonanz.shared.events import CloudEvent, UserRemoved, WidgetChanged
from resonanz.shared.settings import Settings

from . import commands, store
from .domain import Campaign

WIDGET_TYPES = ("widget.created", "widget.updated", "widget.paused", "widget.resumed",
                "widget.ended")


def handlers(settings: Settings) -> dict[str, Handler]:
    async def on_user_removed(conn: asyncpg.Connection, event: CloudEvent) -> None:
        data = event.payload()
        assert isinstance(data, UserRemoved)
        await commands.reassign_open_entries(conn, settings.topic_feedback, event.tenantid,
                                             data.user_id, data.owner_id, event.requestid)

    table: dict[str, Handler] = {"user.removed": on_user_removed}
    table.update({t: on_widget_changed for t in WIDGET_TYPES})
    return table


async def on_widget_changed(conn: asyncpg.Connection, event: CloudEvent) -> None:
    data = event.payload()
    assert isinstance(data, WidgetChanged)
    widget = data.widget
    campaign = Campaign(widget.id, widget.status, widget.reward, widget.auto_approve_above,
                        widget.auto_reject_below)
    version = widget.version or 0
    await store.upsert_campaign(conn, event.tenantid, version, campaign)

