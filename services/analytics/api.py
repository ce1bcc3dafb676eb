"""HTTP in and out for analytics: the summary served from aggregates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import query_uuid
from resonanz.shared.web import json_response

from . import store
from .domain import GROUPINGS, PERIODS, RESOLVE, RESPONSE, Window, median_of

routes = web.RouteTableDef()


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise InvalidInput.naming([
            {"field": name, "message": f"must be one of {list(allowed)}", "value": value}])
    return value


def _durations(counted: str, n: int, ms_sum: int, histogram: Counter[int] | None
               ) -> dict[str, Any]:
    return {counted: n, "average_seconds": round(ms_sum / n / 1000, 3) if n else None,
            "median_seconds": _rounded(median_of(histogram or Counter()))}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _rates(row: dict[str, int], histograms: dict[str, Counter[int]]) -> dict[str, Any]:
    submissions, rated = row["submissions"], row["rating_count"]
    return {
        "total_submissions": submissions,
        "average_rating": round(row["rating_sum"] / rated, 3) if rated else None,
        "response_rate": round(row["responded"] / submissions, 4) if submissions else None,
        "time_to_first_response": _durations("responded", row["responded"],
                                             row["response_ms"], histograms.get(RESPONSE)),
        "time_to_resolve": _durations("resolved", row["resolved"], row["resolve_ms"],
                                      histograms.get(RESOLVE)),
    }


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
                      widget: str | None, now: datetime | None = None) -> dict[str, Any]:
    """The summary from aggregates only: cost independent of how many entries exist."""
    zone = await store.timezone_of(pool, tenant)
    window = Window.of(zone, period, group_by, now or datetime.now(UTC))
    pieces = window.pieces()
    stats = await store.bucket_stats(pool, tenant, pieces, widget)
    durations = await store.bucket_durations(pool, tenant, pieces, widget)
    counts = await store.dimension_counts(pool, tenant, window.total_pieces(), widget)
    buckets = [_rates(stats.get(i, ZERO), {m: durations.get((i, m), Counter())
                                          for m in (RESPONSE, RESOLVE)})
               for i in range(len(window.starts()))]
    return {
        "period": period, "group_by": group_by, "widget_id": widget, "timezone": zone,
        "from": window.first.isoformat(), "to": window.today.isoformat(),
        **_rates(_overall(stats.values()), _overall_histograms(durations)),
        "rating_distribution": counts["rating"], "categories": counts["category"],
        "statuses": counts["status"],
        "buckets": [{"start": start.isoformat(), **rates}
                    for start, rates in zip(window.starts(), buckets, strict=True)],
    }


ZERO = dict.fromkeys(store.STAT_COLUMNS, 0)


def _overall(rows: Iterable[dict[str, int]]) -> dict[str, int]:
    total = Counter(ZERO)
    for row in rows:
        total.update(row)
    return dict(total)


def _overall_histograms(durations: dict[tuple[int, str], Counter[int]]
                        ) -> dict[str, Counter[int]]:
    out: dict[str, Counter[int]] = {RESPONSE: Counter(), RESOLVE: Counter()}
    for (_, measure), histogram in durations.items():
        out[measure].update(histogram)
    return out
