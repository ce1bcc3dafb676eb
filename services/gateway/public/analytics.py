"""The analytics domain's hook for the operations table: `/v1/analytics/summary`."""

from __future__ import annotations

from aiohttp import web

from ..references import widget_in_query


async def summary_query(request: web.Request) -> dict[str, str]:
    """The caller's query, with the widget named by id or public id made its id."""
    params = dict(request.query)
    params.pop("widget_id", None)
    widget = await widget_in_query(request, ("widget_id",))
    if widget:
        params["widget_id"] = widget
    return params
