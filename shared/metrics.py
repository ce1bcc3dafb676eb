"""Prometheus metrics every service exposes; one registry per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "resonanz_http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "resonanz_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("resonanz_http_requests_in_flight", "Requests being served", ["service"])
DB_POOL_SIZE = Gauge("resonanz_db_pool_connections", "Connections in the pool", ["service"])
DB_POOL_IDLE = Gauge("resonanz_db_pool_idle_connections", "Idle pooled connections", ["service"])

OUTBOX_BACKLOG = Gauge("resonanz_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "resonanz_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_PUBLISHED = Counter(
    "resonanz_outbox_published_total", "Outbox rows published to the broker", ["service"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "resonanz_outbox_publish_failures_total", "Failed relay rounds (broker down)", ["service"]
)

CONSUMER_LAG = Gauge(
    "resonanz_consumer_lag", "Messages behind the partition end", ["group", "topic", "partition"]
)
CONSUMED = Counter(
    "resonanz_consumer_events_total", "Events consumed, by outcome", ["group", "type", "outcome"]
)
EVENT_AGE = Histogram(
    "resonanz_event_age_at_consumption_seconds",
    "From event time to its processing",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
DEAD_LETTERED = Counter(
    "resonanz_consumer_dead_lettered_total",
    "Poison events sent to the dead-letter topic",
    ["group"],
)
