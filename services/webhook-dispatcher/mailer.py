"""Sending the outgoing-mail table over SMTP: at least once, never lost.

A mail is claimed with a lease like a delivery; it is marked sent only after the SMTP
server accepted it, so a crash in between sends it again rather than not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiohttp
import aiosmtplib
import asyncpg

from resonanz.shared.worker import Repeating

from . import commands, metrics
from .delivery import Clock, utc_now
from .notices import mail_retry_delay
from .sealing import SecretBox
from .store import outgoing_mail
from .store.outgoing_mail import Mail

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BATCH = 20


class AdminLookupFailed(Exception):
    """The gateway could not say who the tenant's admins are (yet)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    start_tls: bool | None = None  # None: STARTTLS when the server offers it
    use_tls: bool = False
    timeout: float = 10.0


class MailWorker(Repeating):
    def __init__(self, pool: asyncpg.Pool, box: SecretBox, internal: aiohttp.ClientSession,
                 gateway_url: str, smtp: SmtpSettings, *, poll_interval: float = 2.0,
                 clock: Clock = utc_now) -> None:
        super().__init__(self.send_due, batch=BATCH, poll_interval=poll_interval,
                         what="mail worker")
        self.pool, self.box = pool, box
        self.internal, self.gateway_url = internal, gateway_url.rstrip("/")
        self.smtp, self.clock = smtp, clock

    async def send_due(self) -> int:
        now = self.clock()
        mails = await outgoing_mail.claim(self.pool, self.box, now, now + LEASE, BATCH)
        for mail in mails:
            await self._handle(mail)
        return len(mails)

    async def _handle(self, mail: Mail) -> None:
        try:
            if mail.audience == "tenant_admins":
                await commands.expand_mail(self.pool, self.box, mail,
                                        await self._admins(mail.tenant_id))
                self.waker.wake()
                return
            await self._send(mail)
        except (aiosmtplib.SMTPException, aiohttp.ClientError, OSError, TimeoutError,
                AdminLookupFailed) as exc:
            metrics.MAILS.labels("failure").inc()
            delay = mail_retry_delay(mail.attempts + 1)
            retry_at = self.clock() + delay if delay is not None else None
            log.warning("mail %d (%s) not sent, %s: %r", mail.id, mail.kind,
                        "will retry" if retry_at else "giving up", exc)
            await outgoing_mail.mark_failed(self.pool, mail.id, repr(exc), retry_at)
            return
        metrics.MAILS.labels("sent").inc()
        await outgoing_mail.mark_sent(self.pool, mail.id, self.clock())

    async def _admins(self, tenant_id: str) -> list[str]:
        url = f"{self.gateway_url}/internal/tenants/{tenant_id}/admins"
        async with self.internal.get(url) as response:
            if response.status != 200:
                raise AdminLookupFailed(f"gateway answered {response.status}")
            admins = await response.json()
        return sorted({a["email"] for a in admins if a.get("email")})

    async def _send(self, mail: Mail) -> None:
        assert mail.recipient is not None
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(self.clock())
        message["Message-ID"] = make_msgid(domain="resonanz")
        message["X-Resonanz-Kind"] = mail.kind
        message.set_content(mail.body)
        await aiosmtplib.send(
            message, hostname=self.smtp.host, port=self.smtp.port,
            username=self.smtp.username, password=self.smtp.password,
            start_tls=self.smtp.start_tls, use_tls=self.smtp.use_tls, timeout=self.smtp.timeout,
        )
