"""HTTP in and out for analytics: the summary served from aggregates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import query_uuid
from resonanz.shared.web import json_response

from . import store
from .domain import GROUPINGS, PERIODS, median_of

routes = web.RouteTableDef()


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise InvalidInput.naming([
            {"field": name, "message": f"must be one of {list(allowed)}", "value": value}])
    return value


def _rates(row: dict[str, Any], histogram: list[tuple[int, int]]) -> dict[str, Any]:
    submissions = int(row["submissions"] or 0)
    rated, resolved = int(row["rating_count"] or 0), int(row["resolved"] or 0)
    return {
        "total_submissions": submissions,
        "average_rating": round(row["rating_sum"] / rated, 3) if rated else None,
        "response_rate": round(row["responded"] / submissions, 4) if submissions else None,
        "time_to_resolve": {
            "resolved": resolved,
            "average_seconds": round(row["resolve_seconds_sum"] / resolved, 1) if resolved
            else None,
            "median_seconds": _rounded(median_of(histogram)),
        },
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _overall(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("submissions", "rating_count", "rating_sum", "responded", "resolved",
            "resolve_seconds_sum")
    return {k: sum(b[k] or 0 for b in buckets) for k in keys}


@routes.get("/summary")
async def summary(request: web.Request) -> web.Response:
    tenant = request.headers.get("X-Tenant-Id")
    if not tenant:
        raise InvalidInput("X-Tenant-Id header is required")
    period = _choice(request, "period", tuple(PERIODS), "30d")
    group_by = _choice(request, "group_by", GROUPINGS, "week")
    widget = query_uuid(request.query, "widget_id")
    return json_response(await summary_for(request.app[PoolKey], tenant, period, group_by,
                                           widget))


async def summary_for(pool: asyncpg.Pool, tenant: str, period: str, group_by: str,
                      widget: str | None, today: date | None = None) -> dict[str, Any]:
    """The summary from aggregates only: cost independent of how many entries exist."""
    since = (today or datetime.now(UTC).date()) - timedelta(days=PERIODS[period] - 1)
    buckets = await store.bucket_stats(pool, tenant, since, group_by, widget)
    counts = await store.dimension_counts(pool, tenant, since, widget)
    histograms = await store.resolve_histograms(pool, tenant, since, group_by, widget)
    return {
        "period": period, "group_by": group_by, "widget_id": widget, "from": since,
        **_rates(_overall(buckets), histograms[None]),
        "rating_distribution": counts["rating"], "categories": counts["category"],
        "statuses": counts["status"],
        "buckets": [{"start": b["bucket"], **_rates(b, histograms.get(b["bucket"], []))}
                    for b in buckets],
    }
