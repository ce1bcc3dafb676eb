"""HTTP in and out for analytics: the summary served from aggregates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from resonanz.shared.caller import caller_of
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import query_uuid
from resonanz.shared.web import json_response

from . import store
from .domain import (
    DURATION_GRAINS,
    EVERY_WIDGET,
    GROUPINGS,
    NO_WIDGET,
    PERIODS,
    RESOLVE,
    RESPONSE,
    STAT_GRAINS,
    Window,
    median_seconds,
)

routes = web.RouteTableDef()


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise InvalidInput.naming([
            {"field": name, "message": f"must be one of {list(allowed)}", "value": value}])
    return value


def _durations(counted: str, n: int, ms_sum: int, middle: tuple[int, int] | None
               ) -> dict[str, Any]:
    return {counted: n, "average_seconds": round(ms_sum / n / 1000, 3) if n else None,
            "median_seconds": round(median_seconds(*middle), 3) if n and middle else None}


def _rates(row: dict[str, int], middles: dict[str, tuple[int, int]]) -> dict[str, Any]:
    submissions, rated = row["submissions"], row["rating_count"]
    return {
        "total_submissions": submissions,
        "average_rating": round(row["rating_sum"] / rated, 3) if rated else None,
        "response_rate": round(row["responded"] / submissions, 4) if submissions else None,
        "time_to_first_response": _durations("responded", row["responded"],
                                             row["response_ms"], middles.get(RESPONSE)),
        "time_to_resolve": _durations("resolved", row["resolved"], row["resolve_ms"],
                                      middles.get(RESOLVE)),
    }


@routes.get("/summary")
async def summary(request: web.Request) -> web.Response:
    tenant = caller_of(request).tenant_id
    period = _choice(request, "period", tuple(PERIODS), "30d")
    group_by = _choice(request, "group_by", GROUPINGS, "week")
    widget = query_uuid(request.query, "widget_id")
    return json_response(await summary_for(request.app[PoolKey], tenant, period, group_by,
                                           widget))


async def summary_for(pool: asyncpg.Pool, tenant: str, period: str, group_by: str,
                      widget: str | None, now: datetime | None = None) -> dict[str, Any]:
    """The summary from aggregates only: cost independent of how many entries exist."""
    # The whole shop's rows are not a widget: that id finds nothing, like any unknown one.
    rows_of = str(NO_WIDGET) if widget == str(EVERY_WIDGET) else widget
    # One snapshot for every statement: the figures agree with each other even while a
    # batch of events is being applied (three connections at once did not).
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                         readonly=True):
        zone = await store.timezone_of(conn, tenant)
        window = Window.of(zone, period, group_by, now or datetime.now(UTC))
        stats = await store.bucket_stats(conn, tenant, window.pieces(STAT_GRAINS), rows_of)
        # The whole period's median from its own ranges (a few weeks), not every bucket's.
        medians = await store.bucket_medians(
            conn, tenant, [*window.pieces(DURATION_GRAINS),
                           *window.total_pieces(DURATION_GRAINS, WHOLE)], rows_of)
        counts = await store.dimension_counts(conn, tenant, window.total_pieces(STAT_GRAINS),
                                              rows_of)
    starts = window.starts()
    buckets = [_rates(stats.get(i, ZERO), _of_bucket(medians, i)) for i in range(len(starts))]
    return {
        "period": period, "group_by": group_by, "widget_id": widget, "timezone": zone,
        "from": window.first.isoformat(), "to": window.today.isoformat(),
        **_rates(_overall(stats.values()), _of_bucket(medians, WHOLE)),
        "rating_distribution": counts["rating"], "categories": counts["category"],
        "statuses": counts["status"],
        "buckets": [{"start": start.isoformat(), **rates}
                    for start, rates in zip(starts, buckets, strict=True)],
    }


ZERO = dict.fromkeys(store.STAT_COLUMNS, 0)
WHOLE = -1  # the bucket number of the whole period


def _overall(rows: Iterable[dict[str, int]]) -> dict[str, int]:
    total = Counter(ZERO)
    for row in rows:
        total.update(row)
    return dict(total)


def _of_bucket(medians: dict[tuple[int, str], tuple[int, int]], bucket: int
               ) -> dict[str, tuple[int, int]]:
    return {m: medians[(bucket, m)] for m in (RESPONSE, RESOLVE) if (bucket, m) in medians}
