"""Kafka in: every domain event becomes deliveries and notices, in the consumer's transaction.

The shared loop runs each handler in one transaction with the event's tracking row,
so the deliveries and mails of an event are created exactly once.
"""

from __future__ import annotations

import asyncpg

from resonanz.shared.consumer import Handlers
from resonanz.shared.events import (
    CloudEvent,
    EventData,
    PasswordResetRequested,
    PayoutCompleted,
    PrivacyErasureCompleted,
    PrivacyErasureRequested,
    UserInvited,
    WidgetResumed,
    new_event,
)
from resonanz.shared.outbox import enqueue

from . import erasure, notices
from .domain import WEBHOOK_ROUTES, webhook_body
from .notices import Notice
from .sealing import SecretBox
from .store import deliveries, outgoing_mail

SOURCE = "resonanz/webhook-dispatcher"
# The dashboard as people reach it: through the gateway, under /app.
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8080/app"


async def fan_out(conn: asyncpg.Connection, event: CloudEvent, data: EventData) -> None:
    """One delivery per subscription that asked for this kind of event."""
    route = WEBHOOK_ROUTES[type(data)]
    body = webhook_body(route, event.id, event.time, event.data)
    await deliveries.fan_out(conn, event.tenantid, route.subscribable, event.id, event.type,
                        route.name, body, event.time)


def build_handlers(box: SecretBox, invitation_link_template: str | None = None,
                   dashboard_url: str = DEFAULT_DASHBOARD_URL,
                   topic_webhooks: str = "webhooks.events") -> Handlers:
    """The handler per event type: every webhook's fans out, some also send mail. Mail
    bodies are sealed in the queue with `box`, which also opens the one-time tokens that
    events carry sealed; their links lead to pages of the dashboard at `dashboard_url`."""

    async def notify(conn: asyncpg.Connection, event: CloudEvent, notice: Notice | None
                     ) -> None:
        if notice is not None:
            await outgoing_mail.queue_notice(conn, box, event.tenantid, f"{event.id}:{notice.kind}",
                                     notice)

    async def on_widget_resumed(conn: asyncpg.Connection, event: CloudEvent,
                                data: WidgetResumed) -> None:
        await fan_out(conn, event, data)
        if data.notify:
            await notify(conn, event, notices.widget_resumed(data))

    async def on_payout_completed(conn: asyncpg.Connection, event: CloudEvent,
                                  data: PayoutCompleted) -> None:
        await fan_out(conn, event, data)
        await notify(conn, event, notices.payout(data, data.voucher(box.keys)))

    async def on_user_invited(conn: asyncpg.Connection, event: CloudEvent,
                              data: UserInvited) -> None:
        token = data.open_token(box.keys)
        await notify(conn, event, notices.invitation(data, token, invitation_link_template,
                                                     dashboard_url))

    async def on_password_reset_requested(conn: asyncpg.Connection, event: CloudEvent,
                                          data: PasswordResetRequested) -> None:
        token = data.open_token(box.keys)
        await notify(conn, event, notices.password_reset(data, token, dashboard_url))

    async def on_erasure_requested(conn: asyncpg.Connection, event: CloudEvent,
                                   data: PrivacyErasureRequested) -> None:
        """Redact this schema's part first, then tell integrators (`customer_erased`: its
        payload names the subject by hash and ids only) and answer the feedback service."""
        counts = await erasure.erase(conn, event.tenantid, data)
        await fan_out(conn, event, data)
        done = PrivacyErasureCompleted(request_id=data.request_id, service=erasure.SERVICE,
                                       redacted=counts)
        await enqueue(conn, new_event(done, source=SOURCE, tenant_id=event.tenantid,
                                      subject=data.request_id, request_id=event.requestid),
                      topic_webhooks)

    handlers = Handlers().on(WidgetResumed, on_widget_resumed) \
        .on(PayoutCompleted, on_payout_completed).on(UserInvited, on_user_invited) \
        .on(PasswordResetRequested, on_password_reset_requested) \
        .on(PrivacyErasureRequested, on_erasure_requested)
    # Every other webhook's event only fans out (the three above fan out and more).
    for model in WEBHOOK_ROUTES.keys() - {WidgetResumed, PayoutCompleted,
                                          PrivacyErasureRequested}:
        handlers.on(model, fan_out)
    return handlers
