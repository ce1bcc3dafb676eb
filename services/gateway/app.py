"""Wiring of the gateway: the only public door."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from aiohttp import web
from pydantic import Field, SecretStr

from resonanz.shared.db import database_ready, pool_ctx
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.ratelimit import Quota, limiter_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app, http_client_ctx

from . import audit_log, dashboard
from .api import MIDDLEWARES
from .asyncapi import publish_asyncapi
from .asyncapi import routes as asyncapi_routes
from .auth import authenticator_ctx
from .housekeeping import housekeeping_ctx
from .idempotency import KeyRingKey
from .internal import routes as internal_routes
from .limits import AuthFailuresKey
from .openapi import publish_document
from .openapi import routes as openapi_routes
from .operations import routes_of
from .sessions import Timeouts, sessions_ctx
from .table import OPERATIONS
from .upstream import UpstreamsKey

SERVICE = "gateway"


class GatewaySettings(Settings):
    required_secrets: ClassVar[tuple[str, ...]] = ("internal_token", "api_key_pepper",
                                                   "encryption_keys")

    port: int = 8080
    # /metrics and /readyz listen here, never on the public port (see create_service_app).
    ops_port: int = 9080
    api_key_pepper: SecretStr = SecretStr("dev-pepper-change-me")
    feedback_url: str = "http://127.0.0.1:8081"
    widgets_url: str = "http://127.0.0.1:8082"
    webhook_dispatcher_url: str = "http://127.0.0.1:8083"
    analytics_url: str = "http://127.0.0.1:8084"
    dashboard_url: str = "http://127.0.0.1:8085"
    upstream_timeout: float = 10.0
    # Browser sessions end after this long unused, and at the latest this long after sign-in.
    session_idle_minutes: float = Field(default=120.0, gt=0)
    session_absolute_hours: float = Field(default=12.0, gt=0)
    # Failed authentications one client address may make a minute before it gets 429s;
    # raise it where many clients share an address the gateway cannot see behind.
    auth_failures_per_minute: int = Field(default=30, gt=0)

    def upstreams(self) -> dict[str, str]:
        return {"feedback": self.feedback_url, "widgets": self.widgets_url,
                "webhook_dispatcher": self.webhook_dispatcher_url,
                "analytics": self.analytics_url, "dashboard": self.dashboard_url}

    def session_timeouts(self) -> Timeouts:
        return Timeouts(idle=timedelta(minutes=self.session_idle_minutes),
                        absolute=timedelta(hours=self.session_absolute_hours))


def create_app(settings: GatewaySettings) -> web.Application:
    app = create_service_app(
        SERVICE, settings, public=True,
        routes=[*internal_routes, *openapi_routes, *asyncapi_routes, *routes_of(OPERATIONS),
                *dashboard.routes],
        middlewares=[*MIDDLEWARES, audit_log.record_changes],
        cleanup_ctxs=[
            pool_ctx(SERVICE, settings),
            http_client_ctx(settings, timeout=settings.upstream_timeout),
            dashboard.dashboard_client_ctx(settings.upstream_timeout),
            authenticator_ctx(settings.api_key_pepper.get_secret_value().encode(),
                              settings.service_dsn(SERVICE)),
            sessions_ctx(settings.api_key_pepper.get_secret_value().encode(),
                         settings.session_timeouts()),
            limiter_ctx(settings),
            relay_ctx(SERVICE, settings),
            housekeeping_ctx(),
            audit_log.recorder_ctx(),
        ],
        readiness=[database_ready],
        ops_port=settings.ops_port,
    )
    app[UpstreamsKey] = settings.upstreams()
    app[KeyRingKey] = settings.key_ring()
    app[AuthFailuresKey] = Quota("auth-failures", settings.auth_failures_per_minute)
    app.on_startup.append(publish_document)
    app.on_startup.append(publish_asyncapi)
    return app
