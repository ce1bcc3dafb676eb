"""Rate limits as the references state them, per tenant and per dialect.

FeedBackPro: 60/min reads, 20/min writes, 30/min `GET /v1/users`.
Pay4Feedback: 60/min for everything. A tenant's `rate_limits` overrides any of
them by name (e.g. `{"feedbackpro.reads": 600}`). Failed authentication spends no
tenant's quota; it is limited per client address instead.

People signed in to the dashboard do not spend the quota of the tenant's integrations (a
dashboard polling its inbox would starve them, and be starved): each member has their own,
`dashboard.member`, 600 requests a minute in both dialects — enough to bulk-triage a page of
entries one request each.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from prometheus_client import Counter

from resonanz.shared.errors import TooManyRequests
from resonanz.shared.ratelimit import Decision, Quota, RateLimiter, limit_headers

DEFAULT_LIMITS = {
    "feedbackpro.reads": 60,
    "feedbackpro.writes": 20,
    "feedbackpro.users": 30,
    "pay4feedback.api": 60,
    "dashboard.member": 600,
}

REJECTIONS = Counter("resonanz_ratelimit_rejections_total", "Requests refused by a rate limit",
                     ["tenant", "dialect"])

# Failed authentications per client address a minute (`RESONANZ_AUTH_FAILURES_PER_MINUTE`).
AuthFailuresKey = web.AppKey("auth_failures", Quota)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def quota_name(dialect: str, method: str, path: str, *, session: bool = False) -> str:
    if session:
        return "dashboard.member"
    if dialect == "pay4feedback":
        return "pay4feedback.api"
    if method == "GET" and path.rstrip("/") == "/v1/users":
        return "feedbackpro.users"
    return "feedbackpro.reads" if method in READ_METHODS else "feedbackpro.writes"


def quota_for(name: str, overrides: Mapping[str, int]) -> Quota:
    return Quota(name.split(".")[1], int(overrides.get(name, DEFAULT_LIMITS[name])))


async def check_tenant_quota(limiter: RateLimiter, tenant_id: str, dialect: str, method: str,
                             path: str, overrides: Mapping[str, int],
                             member: str | None = None) -> tuple[Quota, Decision]:
    """The tenant's quota for this request; a signed-in `member` (their user id) has their
    own."""
    name = quota_name(dialect, method, path, session=member is not None)
    quota = quota_for(name, overrides)
    bucket = f"{tenant_id}:{name}" if member is None else f"{tenant_id}:{name}:{member}"
    decision = await limiter.hit(bucket, quota)
    if not decision.allowed:
        REJECTIONS.labels(tenant_id, dialect).inc()
        raise rate_limited(quota, decision)
    return quota, decision


async def check_auth_failures(limiter: RateLimiter, client: str, dialect: str,
                              quota: Quota) -> None:
    """Called after a failed authentication: too many from one address → 429."""
    decision = await limiter.hit(f"authfail:{client}", quota)
    if not decision.allowed:
        REJECTIONS.labels("", dialect).inc()
        raise rate_limited(quota, decision)


def rate_limited(quota: Quota, decision: Decision) -> TooManyRequests:
    return TooManyRequests(
        f"Rate limit exceeded. Retry in {decision.retry_after}s.",
        details=[{"field": None, "message": f"{quota.limit} requests per "
                  f"{int(quota.window)} s", "quota": quota.name}],
        headers=limit_headers(quota, decision),
    )
