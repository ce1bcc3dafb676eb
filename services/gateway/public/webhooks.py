"""Public routes of the webhooks domain, in both dialects: `/api/v1/webhooks` (the
Pay4Feedback reference) and `/v1/webhooks` (the same subscriptions for FeedBackPro
clients). Only admin keys manage webhooks."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from resonanz.shared.errors import InvalidInput

from ..api import PrincipalKey
from ..dialects import FEEDBACKPRO, dialect_of
from ..upstream import call, segment

routes = web.RouteTableDef()

PREFIXES = ("/v1", "/api/v1")
SERVICE = "webhook_dispatcher"
# The delivery log's filters; nothing else of the caller's query is passed on.
DELIVERY_FILTERS = ("status", "event_id", "limit")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidInput("request body is not valid JSON",
                           details=[{"field": None, "message": "malformed JSON"}]) from None


async def _forward(request: web.Request, method: str, path: str, *, body: bool = False,
                   params: dict[str, str] | None = None) -> tuple[int, Any]:
    principal = request[PrincipalKey]
    principal.require_admin()
    payload = await _json_body(request) if body else None
    return await call(request, SERVICE, method, path, principal, json=payload, params=params)


def _render(request: web.Request, data: Any, status: int = 200) -> web.Response:
    return dialect_of(request.path).ok(request, data, status=status)


def _list(request: web.Request, payload: dict[str, Any]) -> web.Response:
    items = payload["items"]
    return dialect_of(request.path).ok(request, items, meta={"total": len(items)})


def _sub(request: web.Request) -> str:
    """Ids pass on escaped and unjudged: the dispatcher parses them (a malformed one,
    a NUL byte in it too, is its 404)."""
    return f"/subscriptions/{segment(request, 'id')}"


async def list_webhooks(request: web.Request) -> web.Response:
    _, payload = await _forward(request, "GET", "/subscriptions")
    return _list(request, payload)


async def create_webhook(request: web.Request) -> web.Response:
    """The secret (generated as `whsec_…` when none is given) is shown here only."""
    status, created = await _forward(request, "POST", "/subscriptions", body=True)
    if dialect_of(request.path) is FEEDBACKPRO:
        location = f"/v1/webhooks/{created['id']}"
        return FEEDBACKPRO.ok(request, created, status=status, headers={"Location": location},
                              links={"self": location})
    return _render(request, created, status)


async def get_webhook(request: web.Request) -> web.Response:
    _, sub = await _forward(request, "GET", _sub(request))
    return _render(request, sub)


async def delete_webhook(request: web.Request) -> web.Response:
    _, deleted = await _forward(request, "DELETE", _sub(request))
    return _render(request, deleted)


async def rotate_secret(request: web.Request) -> web.Response:
    _, sub = await _forward(request, "POST", f"{_sub(request)}/rotate-secret")
    return _render(request, sub)


async def enable_webhook(request: web.Request) -> web.Response:
    _, sub = await _forward(request, "POST", f"{_sub(request)}/enable")
    return _render(request, sub)


async def list_deliveries(request: web.Request) -> web.Response:
    filters = {name: request.query[name] for name in DELIVERY_FILTERS if name in request.query}
    _, payload = await _forward(request, "GET", f"{_sub(request)}/deliveries", params=filters)
    return _list(request, payload)


async def list_attempts(request: web.Request) -> web.Response:
    path = f"{_sub(request)}/deliveries/{segment(request, 'delivery_id')}/attempts"
    _, payload = await _forward(request, "GET", path)
    return _list(request, payload)


async def resend_delivery(request: web.Request) -> web.Response:
    path = f"{_sub(request)}/deliveries/{segment(request, 'delivery_id')}/resend"
    status, delivery = await _forward(request, "POST", path)
    return _render(request, delivery, status)


async def recover_failed(request: web.Request) -> web.Response:
    status, result = await _forward(request, "POST", f"{_sub(request)}/recover", body=True)
    return _render(request, result, status)


async def event_deliveries(request: web.Request) -> web.Response:
    path = f"/events/{segment(request, 'event_id')}/deliveries"
    _, payload = await _forward(request, "GET", path)
    return _list(request, payload)


for _prefix in PREFIXES:
    _base = f"{_prefix}/webhooks"
    # Registered before `{id}` routes so that `events` is never taken for an id.
    routes.get(f"{_base}/events/{{event_id}}/deliveries")(event_deliveries)
    routes.get(_base)(list_webhooks)
    routes.post(_base)(create_webhook)
    routes.get(f"{_base}/{{id}}")(get_webhook)
    routes.delete(f"{_base}/{{id}}")(delete_webhook)
    routes.post(f"{_base}/{{id}}/rotate-secret")(rotate_secret)
    routes.post(f"{_base}/{{id}}/enable")(enable_webhook)
    routes.get(f"{_base}/{{id}}/deliveries")(list_deliveries)
    routes.get(f"{_base}/{{id}}/deliveries/{{delivery_id}}/attempts")(list_attempts)
    routes.post(f"{_base}/{{id}}/deliveries/{{delivery_id}}/resend")(resend_delivery)
    routes.post(f"{_base}/{{id}}/recover")(recover_failed)
