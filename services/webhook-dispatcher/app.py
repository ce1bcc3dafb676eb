"""Wiring of the webhook_dispatcher service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import ClassVar

import asyncpg
from aiohttp import web
from pydantic import Field, SecretStr

from resonanz.shared.consumer import consumer_ctx
from resonanz.shared.db import PoolKey, database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import HttpClientKey, create_service_app, http_client_ctx
from resonanz.shared.worker import Repeating, alongside, running

from . import commands
from .api import ClockKey, PolicyKey, SecretBoxKey, routes
from .consumers import DEFAULT_DASHBOARD_URL, build_handlers
from .delivery import (
    DeliveryWorker,
    HandOff,
    guarded_session,
    listen_for_work,
    report_queue,
    utc_now,
)
from .domain import NetworkPolicy
from .mailer import MailWorker, SmtpSettings
from .owner import EntryOwner
from .sealing import SecretBox

log = logging.getLogger(__name__)

SERVICE = "webhook_dispatcher"
CONSUMER_GROUP = "webhook-dispatcher"
SEAL_BATCH = 100
PURGE_BATCH = 1000
# Again after the first pass: an older replica may still write plaintext during an upgrade.
SEAL_INTERVAL = 3600.0


class WebhookDispatcherSettings(Settings):
    required_secrets: ClassVar[tuple[str, ...]] = ("internal_token", "encryption_keys")

    port: int = 8083
    gateway_url: str = "http://127.0.0.1:8080"
    # Asked for an entry's text and the shopper's email (events carry neither).
    feedback_url: str = "http://127.0.0.1:8081"
    # Comma-separated CIDRs and host names webhooks may reach although private
    # (tests, on-premise receivers). Empty: only public addresses.
    webhook_allow_private_networks: str = ""
    webhook_timeout: float = Field(default=15.0, gt=0, le=15)
    # The claim on an attempt; it must outlive the request so no one retries too early.
    webhook_lease_seconds: float = Field(default=45.0, gt=0)
    webhook_per_endpoint_concurrency: int = Field(default=4, ge=1)
    webhook_max_in_flight: int = Field(default=256, ge=1)
    # One tenant's share of webhook_max_in_flight: its dead endpoints cannot take every slot.
    webhook_per_tenant_concurrency: int = Field(default=64, ge=1)
    # Of that share, what its silent endpoints may hold: those not answering (new, timed out,
    # unreachable) until one answers.
    webhook_silent_per_tenant: int = Field(default=8, ge=1)
    webhook_batch_size: int = Field(default=100, ge=1)
    webhook_poll_interval: float = Field(default=1.0, gt=0)
    # How long the delivery log (deliveries and attempts, also those recorded while an
    # endpoint was disabled) and sent mail are kept.
    webhook_log_retention_days: int = Field(default=30, ge=1)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_from: str = "Resonanz <no-reply@resonanz.localhost>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool | None = None
    smtp_use_tls: bool = False
    smtp_timeout: float = 10.0
    mail_poll_interval: float = Field(default=2.0, gt=0)
    invitation_link_template: str | None = None
    # The dashboard as people reach it (through the gateway): the base of the links in
    # invitation and password-reset mails.
    public_dashboard_url: str = DEFAULT_DASHBOARD_URL

    def network_policy(self) -> NetworkPolicy:
        return NetworkPolicy.from_setting(self.webhook_allow_private_networks)

    def lease(self) -> timedelta:
        return timedelta(seconds=max(self.webhook_lease_seconds, self.webhook_timeout + 5))

    def smtp(self) -> SmtpSettings:
        password = self.smtp_password.get_secret_value() if self.smtp_password else None
        return SmtpSettings(self.smtp_host, self.smtp_port, self.smtp_from,
                            username=self.smtp_username, password=password,
                            start_tls=self.smtp_starttls, use_tls=self.smtp_use_tls,
                            timeout=self.smtp_timeout)


def workers_ctx(settings: WebhookDispatcherSettings, handoff: HandOff
                ) -> Callable[[web.Application], AsyncIterator[None]]:
    """The delivery and mail workers beside the HTTP server, woken by NOTIFY; the delivery
    worker also takes the consumer's fresh deliveries (`handoff`)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool, policy, box = app[PoolKey], app[PolicyKey], app[SecretBoxKey]
        async with guarded_session(policy, settings.webhook_timeout) as session:
            deliveries = DeliveryWorker(
                pool, session, policy, box, topic_webhooks=settings.topic_webhooks,
                lease=settings.lease(), per_endpoint=settings.webhook_per_endpoint_concurrency,
                max_in_flight=settings.webhook_max_in_flight,
                per_tenant=settings.webhook_per_tenant_concurrency,
                silent_per_tenant=settings.webhook_silent_per_tenant,
                batch_size=settings.webhook_batch_size,
                poll_interval=settings.webhook_poll_interval,
            )
            mails = MailWorker(pool, box, app[HttpClientKey], settings.gateway_url, settings.smtp(),
                               poll_interval=settings.mail_poll_interval)

            def wake_both() -> None:
                deliveries.wake()
                mails.wake()

            retention = timedelta(days=settings.webhook_log_retention_days)
            handoff.worker = deliveries
            try:
                async with (alongside(listen_for_work(settings.service_dsn(SERVICE), wake_both),
                                      report_queue(pool, utc_now)),
                            running(deliveries, mails, sealing(pool, box),
                                    purging(pool, retention))):
                    yield
            finally:
                handoff.worker = None

    return ctx


def sealing(pool: asyncpg.Pool, box: SecretBox) -> Repeating:
    """Seal the secrets older releases left in plaintext: batch after batch at start,
    then hourly."""

    async def seal_batch() -> int:
        try:
            return await commands.seal_plaintext(pool, box, SEAL_BATCH)
        except asyncpg.PostgresError as exc:  # e.g. started before its migration: next time
            log.warning("plaintext secrets not sealed: %r", exc)
            return 0

    return Repeating(seal_batch, batch=SEAL_BATCH, poll_interval=SEAL_INTERVAL,
                     what="secret sealing")


def purging(pool: asyncpg.Pool, retention: timedelta) -> Repeating:
    """Purge the log beyond its retention: batch after batch, then hourly."""

    async def purge_batch() -> int:
        try:
            return await commands.purge_log(pool, utc_now() - retention, PURGE_BATCH)
        except asyncpg.PostgresError as exc:  # e.g. started before its migration: next time
            log.warning("delivery log not purged: %r", exc)
            return 0

    return Repeating(purge_batch, batch=PURGE_BATCH, poll_interval=SEAL_INTERVAL,
                     what="delivery log retention")


def create_app(settings: WebhookDispatcherSettings) -> web.Application:
    box = SecretBox(settings.key_ring())
    owner = EntryOwner(settings.feedback_url)
    handoff = HandOff()
    app = create_service_app(
        SERVICE, settings, routes=routes,
        cleanup_ctxs=[
            pool_ctx(SERVICE, settings),
            relay_ctx(SERVICE, settings),
            http_client_ctx(settings),
            workers_ctx(settings, handoff),
            consumer_ctx(settings, service=SERVICE, group=CONSUMER_GROUP,
                         topics=[settings.topic_feedback, settings.topic_widgets,
                                 settings.topic_identity, settings.topic_webhooks],
                         handlers=build_handlers(box, settings.invitation_link_template,
                                                 settings.public_dashboard_url,
                                                 settings.topic_webhooks,
                                                 owner, handoff)),
        ],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )
    app[PolicyKey] = settings.network_policy()
    app[ClockKey] = utc_now
    app[SecretBoxKey] = box
    owner.app = app
    return app
