"""Wiring of the widgets service."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from resonanz.shared.db import database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.ratelimit import Quota, limiter_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app, http_client_ctx

from .api import routes
from .public import (
    PolicyKey,
    PublicPolicy,
    WidgetScriptKey,
    load_widget_script,
    public_responses,
)
from .public import routes as public_routes
from .scheduler import scheduler_ctx

SERVICE = "widgets"


class WidgetsSettings(Settings):
    port: int = 8082
    feedback_url: str = "http://127.0.0.1:8081"
    # A PATCH must be live on every shop page within 15 s: browsers may keep the config this long.
    public_config_max_age: int = Field(default=10, ge=0, le=15)
    submission_max_bytes: int = Field(default=16 * 1024, ge=1024)
    submissions_per_address_per_minute: int = Field(default=10, ge=1)
    submissions_per_widget_per_minute: int = Field(default=600, ge=1)
    configs_per_address_per_minute: int = Field(default=300, ge=1)
    configs_per_widget_per_minute: int = Field(default=30_000, ge=1)

    def public_policy(self) -> PublicPolicy:
        return PublicPolicy(
            config_max_age=self.public_config_max_age,
            submission_max_bytes=self.submission_max_bytes,
            feedback_url=self.feedback_url.rstrip("/"),
            submissions_per_address=Quota(
                "submissions-per-address", self.submissions_per_address_per_minute),
            submissions_per_widget=Quota(
                "submissions-per-widget", self.submissions_per_widget_per_minute),
            configs_per_address=Quota("configs-per-address", self.configs_per_address_per_minute),
            configs_per_widget=Quota("configs-per-widget", self.configs_per_widget_per_minute),
        )


def create_app(settings: WidgetsSettings) -> web.Application:
    app = create_service_app(
        SERVICE, settings, routes=[*routes, *public_routes],
        middlewares=[public_responses],
        cleanup_ctxs=[pool_ctx(SERVICE, settings), relay_ctx(SERVICE, settings),
                      http_client_ctx(settings), limiter_ctx(settings),
                      scheduler_ctx(SERVICE, settings)],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )
    app[PolicyKey] = settings.public_policy()
    app[WidgetScriptKey] = load_widget_script()
    return app
