"""The event contracts as AsyncAPI 3.0 at `/asyncapi.json`, beside OpenAPI and like it
public (no key): generated from the payload classes (resonanz.shared.asyncapi) with this
deployment's topic names. Rendered on the first request, not at start: it costs a second
of CPU that the gateway's readiness need not wait for."""

from __future__ import annotations

import functools

from aiohttp import web

from resonanz.shared.asyncapi import document
from resonanz.shared.settings import Settings
from resonanz.shared.web import SettingsKey

from .openapi import Published


class Rendered:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @functools.cached_property
    def published(self) -> Published:
        return Published.of(document(self.settings))


AsyncApiKey = web.AppKey("asyncapi_document", Rendered)

routes = web.RouteTableDef()


async def publish_asyncapi(app: web.Application) -> None:
    """on_startup: the document, rendered when first asked for."""
    app[AsyncApiKey] = Rendered(app[SettingsKey])


@routes.get("/asyncapi.json")
async def asyncapi_document(request: web.Request) -> web.Response:
    return request.app[AsyncApiKey].published.answer(request)
