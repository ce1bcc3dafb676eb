"""Public routes of analytics: `/v1/analytics/summary`."""

from __future__ import annotations

from aiohttp import web

from ..api import PrincipalKey
from ..dialects import FEEDBACKPRO
from ..upstream import call

routes = web.RouteTableDef()


@routes.get("/v1/analytics/summary")
async def fbp_analytics_summary(request: web.Request) -> web.Response:
    _, summary = await call(request, "analytics", "GET", "/summary", request[PrincipalKey],
                            params=dict(request.query))
    return FEEDBACKPRO.ok(request, summary)
