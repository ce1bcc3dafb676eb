"""Wiring of the analytics service."""

from __future__ import annotations

from aiohttp import web

from resonanz.shared.consumer import consumer_ctx
from resonanz.shared.db import database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app

from .api import routes
from .consumers import HANDLERS

SERVICE = "analytics"


class AnalyticsSettings(Settings):
    port: int = 8084
    feedback_url: str = "http://127.0.0.1:8081"


def create_app(settings: AnalyticsSettings) -> web.Application:
    return create_service_app(
        SERVICE, settings, routes=routes,
        cleanup_ctxs=[
            pool_ctx(SERVICE, settings),
            consumer_ctx(settings, service=SERVICE, group="analytics",
                         topics=[settings.topic_feedback, settings.topic_identity],
                         handlers=HANDLERS),
        ],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )
