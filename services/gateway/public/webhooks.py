"""Public routes of the webhooks domain, in both dialects: `/api/v1/webhooks` (the
Pay4Feedback reference) and `/v1/webhooks` (the same subscriptions for FeedBackPro
clients). Only admin keys manage webhooks."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from resonanz.shared import contracts as c
from resonanz.shared.errors import InvalidInput

from .. import openapi
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


async def update_webhook(request: web.Request) -> web.Response:
    """Only the fields given change; a new URL is judged as on create."""
    _, sub = await _forward(request, "PATCH", _sub(request), body=True)
    return _render(request, sub)


async def send_test_event(request: web.Request) -> web.Response:
    """A signed sample to this endpoint only, marked `"test": true` in its data."""
    status, delivery = await _forward(request, "POST", f"{_sub(request)}/test", body=True)
    return _render(request, delivery, status)


async def event_types(request: web.Request) -> web.Response:
    _, payload = await _forward(request, "GET", "/event-types")
    return _list(request, payload)


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
    routes.get(f"{_base}/event-types")(event_types)
    routes.get(_base)(list_webhooks)
    routes.post(_base)(create_webhook)
    routes.get(f"{_base}/{{id}}")(get_webhook)
    routes.patch(f"{_base}/{{id}}")(update_webhook)
    routes.delete(f"{_base}/{{id}}")(delete_webhook)
    routes.post(f"{_base}/{{id}}/test")(send_test_event)
    routes.post(f"{_base}/{{id}}/rotate-secret")(rotate_secret)
    routes.post(f"{_base}/{{id}}/enable")(enable_webhook)
    routes.get(f"{_base}/{{id}}/deliveries")(list_deliveries)
    routes.get(f"{_base}/{{id}}/deliveries/{{delivery_id}}/attempts")(list_attempts)
    routes.post(f"{_base}/{{id}}/deliveries/{{delivery_id}}/resend")(resend_delivery)
    routes.post(f"{_base}/{{id}}/recover")(recover_failed)


def _portal_operations(base: str) -> list[openapi.Operation]:
    """The portal's operations, beside the ones openapi.py documents for this module."""
    sub_id = openapi.Param("id", {"type": "string"}, "path", required=True)
    return [
        openapi.Operation("GET", f"{base}/event-types", "Event catalog: every webhook a"
                          " subscription may choose, with its JSON Schema and a sample",
                          response=c.EventTypeView, many=True, errors=(401, 403, 429)),
        openapi.Operation("PATCH", f"{base}/{{id}}", "Change url, events, description or"
                          " enabled", request=c.WebhookPatchIn, response=c.WebhookView,
                          params=(sub_id,), errors=(400, 401, 403, 404, 415, 429)),
        openapi.Operation("POST", f"{base}/{{id}}/test", "Send a test event: a signed sample"
                          " with \"test\": true in its data, to this endpoint only, logged like"
                          " any delivery", request=c.WebhookTestIn, response=c.WebhookTestView,
                          status=202, params=(sub_id,), errors=(400, 401, 403, 404, 409, 429)),
    ]


openapi.register(*(op for prefix in PREFIXES for op in _portal_operations(f"{prefix}/webhooks")))
