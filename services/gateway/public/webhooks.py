"""The webhooks domain's hooks for the operations table: `/api/v1/webhooks` (the
Pay4Feedback reference) and `/v1/webhooks` (the same subscriptions for FeedBackPro
clients), forwarded to the webhook dispatcher. Only admins manage webhooks."""

from __future__ import annotations

import orjson
from aiohttp import web

from resonanz.shared.errors import InvalidInput

# The delivery log's filters; nothing else of the caller's query is passed on.
DELIVERY_FILTERS = ("status", "event_id", "limit")


async def json_body(request: web.Request) -> bytes:
    """The caller's JSON as sent (an empty body is `{}`); the dispatcher validates it."""
    raw = await request.read() or b"{}"
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("request body is not valid JSON",
                           details=[{"field": None, "message": "malformed JSON"}]) from None
    return raw


async def delivery_filters(request: web.Request) -> dict[str, str]:
    return {name: request.query[name] for name in DELIVERY_FILTERS if name in request.query}
