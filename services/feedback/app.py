"""Wiring of the feedback service."""

from __future__ import annotations

from aiohttp import web

from resonanz.shared.consumer import consumer_ctx
from resonanz.shared.db import database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app

from .api import routes
from .consumers import handlers
from .payouts import payout_worker_ctx

SERVICE = "feedback"


class FeedbackSettings(Settings):
    port: int = 8081


def create_app(settings: FeedbackSettings) -> web.Application:
    return create_service_app(
        SERVICE, settings, routes=routes,
        cleanup_ctxs=[
            pool_ctx(SERVICE, settings),
            relay_ctx(SERVICE, settings),
            payout_worker_ctx(settings),
            consumer_ctx(settings, group="feedback",
                         topics=[settings.topic_identity, settings.topic_widgets],
                         handlers=handlers(settings)),
        ],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )
