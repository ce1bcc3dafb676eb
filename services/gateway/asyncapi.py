"""The event contracts as AsyncAPI 3.0 at `/asyncapi.json`, beside OpenAPI and like it
public (no key): generated from the payload classes (resonanz.shared.asyncapi) with this
deployment's topic names. Rendered when first asked for, not at start, and in a worker
thread: it costs about a second of CPU that neither the gateway's readiness nor the requests
arriving meanwhile should wait for."""

from __future__ import annotations

import asyncio

from aiohttp import web

from resonanz.shared.asyncapi import document
from resonanz.shared.settings import Settings
from resonanz.shared.web import SettingsKey

from .openapi import Published


class Rendered:
    """The document, rendered once: concurrent first requests wait for the same rendering."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rendering: asyncio.Future[Published] | None = None

    async def published(self) -> Published:
        if self._rendering is None:
            self._rendering = asyncio.ensure_future(asyncio.to_thread(self._render))
        return await asyncio.shield(self._rendering)

    def _render(self) -> Published:
        return Published.of(document(self.settings))


AsyncApiKey = web.AppKey("asyncapi_document", Rendered)

routes = web.RouteTableDef()


async def publish_asyncapi(app: web.Application) -> None:
    """on_startup: the document, rendered when first asked for."""
    app[AsyncApiKey] = Rendered(app[SettingsKey])


@routes.get("/asyncapi.json")
async def asyncapi_document(request: web.Request) -> web.Response:
    return (await request.app[AsyncApiKey].published()).answer(request)
