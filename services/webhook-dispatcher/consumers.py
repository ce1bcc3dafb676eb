"""Kafka in: every domain event becomes deliveries and notices, in the consumer's transaction.

The shared loop runs each handler in one transaction with the event's tracking row,
so the deliveries and mails of an event are created exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import asyncpg

from resonanz.shared.consumer import Batched, Handlers, after_commit
from resonanz.shared.events import (
    CloudEvent,
    EventData,
    FeedbackCreated,
    PasswordResetRequested,
    PayoutClaimOffered,
    PayoutCompleted,
    PrivacyErasureCompleted,
    PrivacyErasureRequested,
    RewardApproved,
    RewardRejected,
    RewardReviewed,
    UserInvited,
    WidgetResumed,
    new_event,
)
from resonanz.shared.outbox import enqueue

from . import erasure, notices
from .domain import WEBHOOK_ROUTES, webhook_body
from .notices import Notice
from .owner import PERSONAL_FIELDS, EntryOwner
from .sealing import SecretBox
from .store import deliveries, outgoing_mail, subscriptions

SOURCE = "resonanz/webhook-dispatcher"
# The dashboard as people reach it: through the gateway, under /app.
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8080/app"


def outgoing(event: CloudEvent, data: EventData,
             personal: dict[str, Any] | None = None) -> deliveries.Outgoing:
    """The event as its webhooks carry it; `personal` are the fields the owner gave for it
    (the event carries none)."""
    route = WEBHOOK_ROUTES[type(data)]
    body = webhook_body(route, event.id, event.time, {**event.data, **(personal or {})})
    return deliveries.Outgoing(event.tenantid, event.id, event.type, route.name, body,
                               event.time)


def carried(event: CloudEvent) -> dict[str, Any]:
    """The personal fields as an event of an older release carried them (for an entry the
    feedback service does not know; its answer wins otherwise)."""
    return {name: event.data.get(name) for name in PERSONAL_FIELDS}


async def fan_out(conn: asyncpg.Connection, event: CloudEvent, data: EventData,
                  personal: dict[str, Any] | None = None) -> list[deliveries.Fresh]:
    """One delivery per subscription that asked for this kind of event. Returns those due
    at once."""
    return await deliveries.fan_out(conn, WEBHOOK_ROUTES[type(data)].subscribable,
                                    [outgoing(event, data, personal)])


def build_handlers(box: SecretBox, invitation_link_template: str | None = None,
                   dashboard_url: str = DEFAULT_DASHBOARD_URL,
                   topic_webhooks: str = "webhooks.events",
                   owner: EntryOwner | None = None,
                   handoff: Callable[[list[deliveries.Fresh]], None] | None = None) -> Handlers:
    """The handler per event type: every webhook's fans out, some also send mail. Mail
    bodies are sealed in the queue with `box`, which also opens the one-time tokens that
    events carry sealed; their links lead to pages of the dashboard at `dashboard_url`.
    The deliveries due at once go to `handoff` once the consumer's transaction commits
    (the delivery worker of this process sends them without waiting for a claim round)."""

    def hand_off(fresh: list[deliveries.Fresh]) -> None:
        if handoff is not None and fresh:
            after_commit(partial(handoff, fresh))

    async def deliver(conn: asyncpg.Connection, event: CloudEvent, data: EventData,
                      personal: dict[str, Any] | None = None) -> None:
        hand_off(await fan_out(conn, event, data, personal))

    async def notify(conn: asyncpg.Connection, event: CloudEvent, notice: Notice | None
                     ) -> None:
        if notice is not None:
            await outgoing_mail.queue_notice(conn, box, event.tenantid, f"{event.id}:{notice.kind}",
                                     notice)

    async def on_widget_resumed(conn: asyncpg.Connection, event: CloudEvent,
                                data: WidgetResumed) -> None:
        await deliver(conn, event, data)
        if data.notify:
            await notify(conn, event, notices.widget_resumed(data))

    async def personal(event: CloudEvent, entry_id: str) -> dict[str, Any]:
        """The entry's text and the shopper's email, from the feedback service: its answer
        wins over what an event of an older release carried, so an erased entry gives
        nothing; the event's copy only for an entry the service does not know."""
        if owner is None:
            raise RuntimeError("the dispatcher needs the feedback service's address")
        found = await owner.personal(event.tenantid, entry_id)
        return found if found is not None else carried(event)

    async def on_feedback_created(conn: asyncpg.Connection,
                                  events: list[tuple[CloudEvent, FeedbackCreated]]) -> None:
        """A batch's new entries at once: their text and email asked of the feedback service
        in one request per tenant, and only for tenants with an endpoint that wants them;
        their deliveries written by one statement."""
        if owner is None:
            raise RuntimeError("the dispatcher needs the feedback service's address")
        route = WEBHOOK_ROUTES[FeedbackCreated]
        wanted = await subscriptions.tenants_subscribed(
            conn, sorted({event.tenantid for event, _ in events}), route.subscribable)
        ids = {tenant_id: [data.entry.id for event, data in events if event.tenantid == tenant_id]
               for tenant_id in sorted(wanted)}
        # Asked for every tenant at once: one tenant's many entries do not delay another's.
        parts = await asyncio.gather(*(owner.personal_many(t, i) for t, i in ids.items()))
        found = {entry_id: {name: fields[name] for name in PERSONAL_FIELDS}
                 for part in parts for entry_id, fields in part.items()}
        hand_off(await deliveries.fan_out(conn, route.subscribable, [
            outgoing(event, data, found.get(data.entry.id) or carried(event))
            for event, data in events if event.tenantid in wanted]))

    async def on_reward_reviewed(conn: asyncpg.Connection, event: CloudEvent,
                                 data: RewardReviewed) -> None:
        """The team's reason from the feedback service, as it is now (`[erased]` once the
        shopper was erased); the event's own copy only for an entry the service does not
        know (events of older releases carried it). Asked only when an endpoint of the
        tenant wants the event (a campaign's automatic reviews make one per entry)."""
        if owner is None:
            raise RuntimeError("the dispatcher needs the feedback service's address")
        if not await subscriptions.tenants_subscribed(
                conn, [event.tenantid], WEBHOOK_ROUTES[type(data)].subscribable):
            return
        found = await owner.personal(event.tenantid, data.response_id)
        await deliver(conn, event, data,
                      {"reason": found["reason"] if found is not None else data.reason})

    async def on_payout_completed(conn: asyncpg.Connection, event: CloudEvent,
                                  data: PayoutCompleted) -> None:
        email = (await personal(event, data.response_id))["customer_email"]
        await deliver(conn, event, data, {"customer_email": email})
        shopper = data.model_copy(update={"customer_email": email})
        await notify(conn, event, notices.payout(shopper, data.voucher(box.keys)))

    async def on_payout_claim_offered(conn: asyncpg.Connection, event: CloudEvent,
                                      data: PayoutClaimOffered) -> None:
        """The shopper's claim link (no webhook: the shop learns of the claim from the
        payouts API)."""
        email = (await personal(event, data.response_id))["customer_email"]
        await notify(conn, event, notices.claim_offer(data, email, data.open_token(box.keys),
                                                      dashboard_url))

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
        await deliver(conn, event, data)
        done = PrivacyErasureCompleted(request_id=data.request_id, service=erasure.SERVICE,
                                       redacted=counts)
        await enqueue(conn, new_event(done, source=SOURCE, tenant_id=event.tenantid,
                                      subject=data.request_id, request_id=event.requestid),
                      topic_webhooks)

    handlers = Handlers().on(WidgetResumed, on_widget_resumed) \
        .on(PayoutCompleted, on_payout_completed).on(UserInvited, on_user_invited) \
        .on(PasswordResetRequested, on_password_reset_requested) \
        .on(PrivacyErasureRequested, on_erasure_requested) \
        .on(FeedbackCreated, Batched(on_feedback_created)) \
        .on(PayoutClaimOffered, on_payout_claim_offered) \
        .on(RewardApproved, on_reward_reviewed).on(RewardRejected, on_reward_reviewed)
    # Every other webhook's event only fans out (the six above fan out and more).
    for model in WEBHOOK_ROUTES.keys() - {WidgetResumed, PayoutCompleted,
                                          PrivacyErasureRequested, FeedbackCreated,
                                          RewardApproved, RewardRejected}:
        handlers.on(model, deliver)
    return handlers
