"""HTTP in and out for the webhook_dispatcher service."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
