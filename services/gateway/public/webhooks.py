"""Public routes of the webhooks domain."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
