"""Public routes of analytics: `/v1/analytics/summary`."""

from __future__ import annotations

from aiohttp import web

from ..api import PrincipalKey
from ..dialects import FEEDBACKPRO
from ..references import widget_in_query
from ..upstream import call

routes = web.RouteTableDef()


@routes.get("/v1/analytics/summary")
async def fbp_analytics_summary(request: web.Request) -> web.Response:
    params = dict(request.query)
    params.pop("widget_id", None)
    widget = await widget_in_query(request, ("widget_id",))
    if widget:
        params["widget_id"] = widget
    _, summary = await call(request, "analytics", "GET", "/summary", request[PrincipalKey],
                            params=params)
    return FEEDBACKPRO.ok(request, summary)
