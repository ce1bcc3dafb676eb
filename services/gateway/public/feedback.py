"""Public routes of the feedback domain: `/v1/feedback` and `/api/v1/responses`."""

from __future__ import annotations

from aiohttp import web

from ..api import PrincipalKey
from ..dialects import FEEDBACKPRO
from ..upstream import call

routes = web.RouteTableDef()


@routes.post("/v1/feedback")
async def fbp_create_feedback(request: web.Request) -> web.Response:
    body = await request.json()
    _, entry = await call(request, "feedback", "POST", "/entries", request[PrincipalKey],
                          json=body)
    location = f"/v1/feedback/{entry['id']}"
    return FEEDBACKPRO.ok(request, entry, status=201, headers={"Location": location},
                          links={"self": location})
