"""HTTP in and out for the widgets service."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
