"""The dispatcher's own Prometheus metrics (names used by deploy/ alerts and dashboard)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter(
    "resonanz_webhook_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"]
)
DELIVERY_SECONDS = Histogram(
    "resonanz_webhook_delivery_seconds", "From the event to its successful delivery",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 36000),
)
ATTEMPT_SECONDS = Histogram(
    "resonanz_webhook_attempt_duration_seconds", "One HTTP attempt, connect to response",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
QUEUE_DEPTH = Gauge("resonanz_webhook_queue_depth", "Deliveries waiting to be delivered")
OLDEST_PENDING_AGE = Gauge(
    "resonanz_webhook_oldest_pending_age_seconds", "Age of the oldest pending delivery"
)
DISABLED_ENDPOINTS = Gauge(
    "resonanz_webhook_disabled_endpoints", "Subscriptions disabled for failing or 410 Gone"
)
MAILS = Counter("resonanz_email_sent_total", "Outgoing email attempts, by outcome", ["outcome"])
