"""Public routes of the widgets domain."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
