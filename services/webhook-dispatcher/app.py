"""Wiring of the webhook_dispatcher service."""

from __future__ import annotations

from aiohttp import web

from resonanz.shared.db import database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app

from .api import routes

SERVICE = "webhook_dispatcher"


class WebhookDispatcherSettings(Settings):
    port: int = 8083


def create_app(settings: WebhookDispatcherSettings) -> web.Application:
    return create_service_app(
        SERVICE, settings, routes=routes,
        cleanup_ctxs=[pool_ctx(SERVICE, settings), relay_ctx(SERVICE, settings)],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )
