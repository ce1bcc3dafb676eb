"""What the feedback service learns from others: removed members, campaign rules, other
services' parts of an erasure done, and each organization's retention."""

from __future__ import annotations

import asyncpg

from resonanz.shared.consumer import Handlers
from resonanz.shared.events import (
    CloudEvent,
    PrivacyErasureCompleted,
    TenantUpdated,
    UserRemoved,
    WidgetChanged,
)
from resonanz.shared.settings import Settings

from . import commands, privacy, retention, store
from .domain import Campaign


def handlers(settings: Settings) -> Handlers:
    async def on_user_removed(conn: asyncpg.Connection, event: CloudEvent,
                              data: UserRemoved) -> None:
        await commands.reassign_open_entries(conn, settings.topic_feedback, event.tenantid,
                                             data.user_id, data.owner_id, event.requestid)

    # Every widget event (created, updated, paused, resumed, ended) carries the snapshot.
    return Handlers().on(UserRemoved, on_user_removed).on(WidgetChanged, on_widget_changed) \
        .on(PrivacyErasureCompleted, on_erasure_completed).on(TenantUpdated, on_tenant_updated)


async def on_tenant_updated(conn: asyncpg.Connection, event: CloudEvent,
                            data: TenantUpdated) -> None:
    await retention.save_retention(conn, event.tenantid, data.retention_months, data.version)


async def on_erasure_completed(conn: asyncpg.Connection, event: CloudEvent,
                               data: PrivacyErasureCompleted) -> None:
    await privacy.record_completion(conn, event.tenantid, data, event.time)


async def on_widget_changed(conn: asyncpg.Connection, event: CloudEvent,
                            data: WidgetChanged) -> None:
    widget = data.widget
    campaign = Campaign(widget.id, widget.status, widget.reward, widget.auto_approve_above,
                        widget.auto_reject_below)
    version = widget.version or 0
    await store.upsert_campaign(conn, event.tenantid, version, campaign)
