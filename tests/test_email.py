"""Outbound email through the dispatcher, against a real local SMTP server (aiosmtpd):
invitations, admin notices on resume with notify, payout emails, endpoint-disabled
notices, and mail that waits out an SMTP outage instead of being lost."""

from __future__ import annotations

import asyncio
import email
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from resonanz.devstack.supervisor import Stack, free_port
from resonanz.shared.events import (
    PayoutCompleted,
    UserInvited,
    WidgetResumed,
    WidgetSnapshot,
)

from .conftest import Infra
from .helpers import bearer, new_tenant
from .support import eventually, query, query_value
from .test_webhooks_support import Receiver, producer, publish, receiving, topic, webhook_stack


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port, self.inbox = port, Inbox()
        self._controller: Controller | None = None

    async def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None


@pytest.fixture(scope="module")
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer(free_port())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def stack(infra: Infra, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    async with webhook_stack(infra, tmp_path_factory.mktemp("email"),
                             smtp_port=str(smtp.port), mail_poll_interval="0.2",
                             webhook_allow_private_networks="127.0.0.0/8") as running:
        yield running


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def mails_to(smtp: SmtpServer, address: str) -> list[Message]:
    return smtp.inbox.to(address)


def invitation(stack: Stack, email: str, role: str, token: str) -> UserInvited:
    """The event the gateway emits on an invitation, its token sealed as the gateway does."""
    user_id = str(uuid.uuid4())
    return UserInvited(user_id=user_id, email=email, role=role,
                       expires_at=datetime.now(UTC) + timedelta(days=7),
                       token_sealed=UserInvited.seal_token(stack.key_ring(), user_id, token))


def widget(notify: bool) -> WidgetResumed:
    snapshot = WidgetSnapshot(id=str(uuid.uuid4()), public_id="wdg_4nR7xQ",
                              name="Checkout survey", status="active")
    return WidgetResumed(widget=snapshot, notify=notify)


async def test_an_invitation_is_emailed_to_the_invitee(stack: Stack, smtp: SmtpServer) -> None:
    tenant, _ = await new_tenant(stack, "Invite")
    invited = invitation(stack, "marlene.hoffmann@shopware-ag.de", "editor", "inv_9f2xK3")
    async with producer(stack.bootstrap_servers) as sender:
        await publish(sender, topic(stack, "identity"), tenant,
                      invited.user_id, invited)
    [mail] = await eventually(lambda: mails_to(smtp, invited.email), bool, within=30,
                              what="the invitation email")
    assert "invited" in mail["Subject"]
    assert "inv_9f2xK3" in text_of(mail) and "editor" in text_of(mail)
    await eventually(lambda: _stored_bodies(stack, invited.email),
                     lambda rows: rows == [(None, None)], within=10,
                     what="the body dropped once the mail is sent")


async def test_a_queued_mail_holds_its_body_only_sealed(stack: Stack, smtp: SmtpServer) -> None:
    """While SMTP is away the invitation waits in the queue: its one-time link is sealed there,
    and once sent the body is gone from the table."""
    tenant, _ = await new_tenant(stack, "Sealed mail")
    invited = invitation(stack, "queued@shop.example", "viewer", "inv_QueuedSecret")
    await smtp.stop()
    try:
        async with producer(stack.bootstrap_servers) as sender:
            await publish(sender, topic(stack, "identity"), tenant,
                          invited.user_id, invited)
        [(plain, sealed)] = await eventually(lambda: _stored_bodies(stack, invited.email), bool,
                                             within=30, what="the queued invitation")
        assert plain is None and sealed is not None and "inv_QueuedSecret" not in sealed
        assert "inv_QueuedSecret" in stack.key_ring().decrypt(
            sealed, f"webhooks.outgoing_mail.body:{await _dedup_key(stack, invited.email)}")
    finally:
        await smtp.start()
    [mail] = await eventually(lambda: mails_to(smtp, invited.email), bool, within=40,
                              what="the invitation once SMTP is back")
    assert "inv_QueuedSecret" in text_of(mail)
    await eventually(lambda: _stored_bodies(stack, invited.email),
                     lambda rows: rows == [(None, None)], within=10,
                     what="the body dropped once sent")


async def _stored_bodies(stack: Stack, recipient: str) -> list[tuple[str | None, str | None]]:
    rows = await query(stack.database_url, "SELECT body, body_sealed FROM webhooks.outgoing_mail"
                       " WHERE recipient = $1", recipient)
    return [(r["body"], r["body_sealed"]) for r in rows]


async def _dedup_key(stack: Stack, recipient: str) -> str:
    return str(await query_value(stack.database_url, "SELECT dedup_key FROM"
                                 " webhooks.outgoing_mail WHERE recipient = $1", recipient))


async def test_resuming_with_notify_emails_the_tenants_admins_and_without_it_no_one(
    stack: Stack, smtp: SmtpServer,
) -> None:
    tenant, _ = await new_tenant(stack, "Resume")
    silent, loud, marker = widget(notify=False), widget(notify=True), widget(notify=True)
    async with producer(stack.bootstrap_servers) as sender:
        for data in (silent, loud, marker):  # one partition, in this order
            await publish(sender, topic(stack, "widgets"), tenant,
                          "same-widget", data)
    owner = "owner@resume.example"
    # The marker's notice comes after any the silent resume could have caused.
    mails = await eventually(lambda: mails_to(smtp, owner),
                             lambda found: any(marker.widget.id in text_of(m) for m in found),
                             within=30, what="the marker's resume notice")
    about = [[w.widget.id for w in (silent, loud, marker) if w.widget.id in text_of(m)]
             for m in mails]
    assert sorted(about) == sorted([[loud.widget.id], [marker.widget.id]]), about
    assert all(m["Subject"] == "Widget resumed: Checkout survey" for m in mails)


async def test_a_payout_is_emailed_to_the_customer(stack: Stack, smtp: SmtpServer) -> None:
    tenant, _ = await new_tenant(stack, "Payout")
    payout_id = str(uuid.uuid4())
    paid = PayoutCompleted(
        payout_id=payout_id, response_id=str(uuid.uuid4()), customer_email="lars.mueller@web.de",
        voucher_code_sealed=PayoutCompleted.seal_voucher(stack.key_ring(), payout_id, "DANKE-10"))
    async with producer(stack.bootstrap_servers) as sender:
        await publish(sender, topic(stack, "feedback"), tenant,
                      paid.response_id, paid)
    mails = await eventually(lambda: mails_to(smtp, "lars.mueller@web.de"),
                             lambda found: any("DANKE-10" in text_of(m) for m in found),
                             within=30, what="the payout email")
    assert mails[0]["From"].endswith("<no-reply@resonanz.localhost>")


async def test_a_disabled_endpoint_is_reported_to_the_admins(
    stack: Stack, smtp: SmtpServer,
) -> None:
    _, key = await new_tenant(stack, "Gone")

    async def gone(request: web.Request) -> web.StreamResponse:
        return web.Response(status=410)

    receiver = Receiver(gone)
    async with receiving(receiver), aiohttp.ClientSession() as http:
        async with http.post(f"{stack.services['gateway'].url}/api/v1/webhooks",
                             headers=bearer(key), json={"url": receiver.url,
                                                        "events": ["feedback_created"]}
                             ) as response:
            assert response.status == 201
        async with http.post(f"{stack.services['gateway'].url}/v1/feedback",
                             headers=bearer(key), json={"body": "Hi", "rating": 5}) as response:
            assert response.status == 201
        [mail] = await eventually(lambda: mails_to(smtp, "owner@gone.example"), bool,
                                  within=30, what="the endpoint-disabled notice")
    assert mail["Subject"] == "Webhook endpoint disabled"
    assert receiver.url in text_of(mail) and "410" in text_of(mail)


async def test_mail_waits_out_an_smtp_outage_and_is_sent_when_it_returns(
    stack: Stack, smtp: SmtpServer,
) -> None:
    tenant, _ = await new_tenant(stack, "Outage")
    invited = invitation(stack, "late@shop.example", "viewer", "inv_late")
    await smtp.stop()
    try:
        async with producer(stack.bootstrap_servers) as sender:
            await publish(sender, topic(stack, "identity"), tenant,
                          invited.user_id, invited)
        await eventually(lambda: _failed_attempts(stack, invited.email), lambda n: n >= 1,
                         within=30, what="a failed SMTP attempt")
    finally:
        await smtp.start()
    await eventually(lambda: mails_to(smtp, invited.email), bool, within=40,
                     what="the mail sent once SMTP is back")


async def _failed_attempts(stack: Stack, recipient: str) -> int:
    return int(await query_value(
        stack.database_url, "SELECT coalesce(max(attempts), 0) FROM webhooks.outgoing_mail"
        " WHERE recipient = $1 AND status = 'pending'", recipient))
