"""Wiring of the feedback service."""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web
from pydantic import Field

from resonanz.shared.consumer import consumer_ctx
from resonanz.shared.db import database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app, http_client_ctx

from . import claims, sepa
from .api import routes
from .consumers import handlers
from .payouts import payout_worker_ctx
from .privacy import routes as privacy_routes
from .retention import retention_ctx

SERVICE = "feedback"


class FeedbackSettings(Settings):
    # The key ring seals the voucher codes of payout events (only the dispatcher opens them).
    required_secrets: ClassVar[tuple[str, ...]] = ("internal_token", "encryption_keys")

    port: int = 8081
    widgets_url: str = "http://127.0.0.1:8082"
    # Seconds between the retention job's runs (it also runs at start; docs/privacy.md).
    retention_interval: float = Field(default=3600.0, gt=0)


def create_app(settings: FeedbackSettings) -> web.Application:
    return create_service_app(
        SERVICE, settings, routes=[*routes, *privacy_routes, *claims.routes, *sepa.routes],
        cleanup_ctxs=[
            pool_ctx(SERVICE, settings),
            relay_ctx(SERVICE, settings),
            http_client_ctx(settings),
            payout_worker_ctx(settings, settings.widgets_url),
            retention_ctx(settings.retention_interval),
            consumer_ctx(settings, group="feedback",
                         topics=[settings.topic_identity, settings.topic_widgets,
                                 settings.topic_webhooks],
                         handlers=handlers(settings)),
        ],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )
