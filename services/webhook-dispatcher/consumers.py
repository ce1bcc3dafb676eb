"""Kafka in: every domain event becomes deliveries and notices, in the consumer's transaction.

The shared loop runs each handler in one transaction with the event's tracking row,
so the deliveries and mails of an event are created exactly once.
"""

from __future__ import annotations

import asyncpg

from resonanz.shared.consumer import Handler
from resonanz.shared.events import CloudEvent, PayoutCompleted, UserInvited, WidgetChanged

from . import notices, store
from .domain import WEBHOOK_ROUTES, webhook_body
from .notices import Notice


async def fan_out(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """One delivery per subscription that asked for this kind of event."""
    route = WEBHOOK_ROUTES[event.type]
    body = webhook_body(route, event.id, event.time, event.data)
    await store.fan_out(conn, event.tenantid, route.subscribable, event.id, event.type,
                        route.name, body, event.time)


async def _notify(conn: asyncpg.Connection, event: CloudEvent, notice: Notice | None) -> None:
    if notice is not None:
        await store.queue_notice(conn, event.tenantid, f"{event.id}:{notice.kind}", notice)


async def on_widget_resumed(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await fan_out(conn, event)
    data = event.payload()
    assert isinstance(data, WidgetChanged)
    if data.notify:
        await _notify(conn, event, notices.widget_resumed(data))


async def on_payout_completed(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await fan_out(conn, event)
    data = event.payload()
    assert isinstance(data, PayoutCompleted)
    await _notify(conn, event, notices.payout(data))


def invitation_handler(link_template: str | None) -> Handler:
    async def on_user_invited(conn: asyncpg.Connection, event: CloudEvent) -> None:
        data = event.payload()
        assert isinstance(data, UserInvited)
        await _notify(conn, event, notices.invitation(data, link_template))

    return on_user_invited


def build_handlers(invitation_link_template: str | None = None) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {event_type: fan_out for event_type in WEBHOOK_ROUTES}
    handlers["widget.resumed"] = on_widget_resumed
    handlers["payout.completed"] = on_payout_completed
    handlers["user.invited"] = invitation_handler(invitation_link_template)
    return handlers
