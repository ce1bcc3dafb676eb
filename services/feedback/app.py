"""Wiring of the feedback service."""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web
from pydantic import Field, SecretStr, model_validator

from resonanz.shared.consumer import consumer_ctx
from resonanz.shared.db import PoolKey, database_ready, pool_ctx
from resonanz.shared.kafka import broker_ready_check
from resonanz.shared.outbox import relay_ctx
from resonanz.shared.settings import Settings
from resonanz.shared.web import CleanupCtx, create_service_app, http_client_ctx
from resonanz.shared.worker import Repeating, background_ctx

from . import claims, sepa, store
from .api import intake_ctx, routes
from .consumers import handlers
from .payouts import payout_worker_ctx
from .privacy import routes as privacy_routes
from .retention import retention_ctx
from .sending import provider_worker_ctx

SERVICE = "feedback"
# Seconds between folds of the list totals' deltas (store.fold_entry_counts).
COUNTS_FOLD_INTERVAL = 5.0


class FeedbackSettings(Settings):
    # The key ring seals the voucher codes of payout events (only the dispatcher opens them).
    required_secrets: ClassVar[tuple[str, ...]] = ("internal_token", "encryption_keys")

    port: int = 8081
    widgets_url: str = "http://127.0.0.1:8082"
    # Seconds between the retention job's runs (it also runs at start; docs/privacy.md).
    retention_interval: float = Field(default=3600.0, gt=0)
    # PayPal's Payouts API pays claimed PayPal payouts (sending.py) once all three are set;
    # off by default (the shop marks them paid by hand). Live: https://api-m.paypal.com,
    # sandbox: https://api-m.sandbox.paypal.com.
    paypal_base_url: str | None = None
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None
    # Seconds before a sent payout's status is first asked for, and a failed send retried
    # (doubling up to an hour); later polls come at a tenth of the payout's age.
    paypal_poll_interval: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _paypal_complete(self) -> FeedbackSettings:
        given = [self.paypal_base_url, self.paypal_client_id, self.paypal_client_secret]
        if any(given) and not all(given):
            raise ValueError("RESONANZ_PAYPAL_BASE_URL, RESONANZ_PAYPAL_CLIENT_ID and"
                             " RESONANZ_PAYPAL_CLIENT_SECRET are set together, or none")
        if (self.paypal_base_url and not self.paypal_base_url.startswith("https://")
                and self.env != "development"):
            raise ValueError("RESONANZ_PAYPAL_BASE_URL: an https:// URL")
        return self


def create_app(settings: FeedbackSettings) -> web.Application:
    return create_service_app(
        SERVICE, settings, routes=[*routes, *privacy_routes, *claims.routes, *sepa.routes],
        cleanup_ctxs=[
            pool_ctx(SERVICE, settings),
            intake_ctx,
            relay_ctx(SERVICE, settings),
            http_client_ctx(settings),
            payout_worker_ctx(settings, settings.widgets_url),
            _provider_worker(settings),
            retention_ctx(settings.retention_interval),
            background_ctx(lambda app: [Repeating(
                lambda: store.fold_entry_counts(app[PoolKey]), batch=100,
                poll_interval=COUNTS_FOLD_INTERVAL, what="entry counts")]),
            consumer_ctx(settings, service=SERVICE, group="feedback",
                         topics=[settings.topic_identity, settings.topic_widgets,
                                 settings.topic_webhooks],
                         handlers=handlers(settings)),
        ],
        readiness=[database_ready, broker_ready_check(settings.kafka_bootstrap_servers)],
    )


def _provider_worker(settings: FeedbackSettings) -> CleanupCtx:
    secret = settings.paypal_client_secret
    return provider_worker_ctx(settings.paypal_base_url, settings.paypal_client_id,
                               secret.get_secret_value() if secret is not None else None,
                               settings.paypal_poll_interval, settings.topic_feedback,
                               settings.key_ring())
