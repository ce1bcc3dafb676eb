"""Business gauges for operators, with tenant labels kept bounded."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MAX_TENANT_LABELS = 200

SUBMISSIONS = Counter("resonanz_analytics_submissions_total", "Feedback entries counted",
                      ["tenant"])
RATING = Histogram("resonanz_analytics_rating", "Ratings of counted entries", ["tenant"],
                   buckets=(1, 2, 3, 4, 5))

_seen: set[str] = set()


def tenant_label(tenant_id: str) -> str:
    """The first tenants get their own series; the rest share one, so cardinality is capped."""
    if tenant_id in _seen or len(_seen) < MAX_TENANT_LABELS:
        _seen.add(tenant_id)
        return tenant_id
    return "other"


def count_submission(tenant_id: str, rating: int | None) -> None:
    label = tenant_label(tenant_id)
    SUBMISSIONS.labels(label).inc()
    if rating is not None:
        RATING.labels(label).observe(rating)
