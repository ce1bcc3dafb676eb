"""HTTP in and out for the webhook dispatcher: subscriptions and the delivery log.

Internal API; the gateway authenticates, checks the admin role and renders dialects.
Every id is parsed once, here at the edge: a malformed one names nothing and is a 404
before any SQL, and the store sees only parsed values. Writes go to a command (commands.py,
which owns the transaction); reads to the views.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import field_validator

from resonanz.shared import contracts
from resonanz.shared.caller import caller_of
from resonanz.shared.db import PoolKey, uuid_or_404
from resonanz.shared.errors import InvalidInput, NotFound
from resonanz.shared.params import query_limit, query_uuid
from resonanz.shared.web import json_response, read_model

from . import commands, views
from .catalog import CATALOG, TEST_EVENT_TYPE, primary, sample_body
from .delivery import Clock
from .destinations import destination_problem
from .domain import (
    KNOWN_WEBHOOKS,
    NetworkPolicy,
    generate_secret,
    parse_delivery_id,
    secret_key,
    standard_secret,
    unknown_webhooks,
)
from .sealing import SecretBox
from .store.subscriptions import Subscription

routes = web.RouteTableDef()

PolicyKey = web.AppKey("network_policy", NetworkPolicy)
ClockKey: web.AppKey[Clock] = web.AppKey("clock")
SecretBoxKey = web.AppKey("secret_box", SecretBox)



class SubscriptionIn(contracts.SubscriptionIn):
    @field_validator("events")
    @classmethod
    def events_known(cls, value: list[str]) -> list[str]:
        return _known_events(value)

    @field_validator("secret")
    @classmethod
    def secret_well_formed(cls, value: str | None) -> str | None:
        if value is not None:
            secret_key(value)
        return value


def _known_events(value: list[str]) -> list[str]:
    unknown = unknown_webhooks(value)
    if unknown:
        raise ValueError(f"unknown events {unknown}; known: {sorted(KNOWN_WEBHOOKS)}")
    return list(dict.fromkeys(value))


class SubscriptionPatch(contracts.WebhookPatchIn):
    @field_validator("events")
    @classmethod
    def events_known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_events(value)


class TestEventIn(contracts.WebhookTestIn):
    @field_validator("event_type")
    @classmethod
    def catalogued(cls, value: str | None) -> str | None:
        names = {entry["name"] for entry in CATALOG}
        if value is not None and value not in names:
            raise ValueError(f"unknown event type {value!r}; known: {sorted(names)}")
        return value


class RecoverIn(contracts.RecoverIn):
    @field_validator("since")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def tenant_of(request: web.Request) -> uuid.UUID:
    return uuid_or_404(caller_of(request).tenant_id, "tenant")


def subscription_json(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id, "url": sub.url, "events": sub.events, "description": sub.description,
        "status": "active" if sub.enabled else "disabled", "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason, "disabled_at": sub.disabled_at,
        "failing_since": sub.failing_since, "created_at": sub.created_at,
        "previous_secret_valid_until": sub.previous_until,
    }


def _now(request: web.Request) -> datetime:
    return request.app[ClockKey]()


def _sub_id(request: web.Request) -> uuid.UUID:
    return uuid_or_404(request.match_info["id"], "webhook subscription")


def _delivery_id(request: web.Request) -> uuid.UUID:
    parsed = parse_delivery_id(request.match_info["delivery_id"])
    if parsed is None:
        raise NotFound("delivery not found")
    return parsed


def _event_id(request: web.Request) -> uuid.UUID:
    return uuid_or_404(request.match_info["event_id"], "event")


def _box(request: web.Request) -> SecretBox:
    return request.app[SecretBoxKey]


@routes.get("/subscriptions")
async def list_subscriptions(request: web.Request) -> web.Response:
    subs = await views.list_subscriptions(request.app[PoolKey], tenant_of(request))
    return json_response({"items": [subscription_json(s) for s in subs]})


def _url_refused(problem: str) -> InvalidInput:
    """A 400 whose message says why the URL is refused (`url: url must use http or https`),
    not only that it is: a client reads the message (Pay4Feedback: "check the error message
    for which field"), and the reason is the fix."""
    return InvalidInput(f"url is not allowed: {problem}",
                        details=[{"field": "url", "message": problem}])


@routes.post("/subscriptions")
async def create_subscription(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    body = await read_model(request, SubscriptionIn)
    problem = await destination_problem(body.url, request.app[PolicyKey])
    if problem is not None:
        raise _url_refused(problem)
    secret = body.secret or generate_secret()
    sub = await commands.create_subscription(request.app[PoolKey], _box(request), tenant,
                                             body.url, body.events, body.description, secret)
    return json_response({**subscription_json(sub), **_shown_once(secret)}, status=201)


@routes.get("/subscriptions/{id}")
async def get_subscription(request: web.Request) -> web.Response:
    sub = await views.get_subscription(request.app[PoolKey], tenant_of(request),
                                       _sub_id(request))
    return json_response(subscription_json(sub))


@routes.patch("/subscriptions/{id}")
async def update_subscription(request: web.Request) -> web.Response:
    """Like create, a new URL must be one webhooks may reach; nothing given is a 400."""
    tenant, pool, subscription_id = tenant_of(request), request.app[PoolKey], _sub_id(request)
    body = await read_model(request, SubscriptionPatch)
    given = body.model_fields_set
    if not given:
        raise InvalidInput.naming([{"field": "body", "message": "give at least one of url,"
                                    " events, description, enabled"}])
    for name in ("url", "events", "enabled"):
        if name in given and getattr(body, name) is None:
            raise InvalidInput.naming([{"field": name, "message": "must not be null"}])
    await views.get_subscription(pool, tenant, subscription_id)
    if body.url is not None:
        problem = await destination_problem(body.url, request.app[PolicyKey])
        if problem is not None:
            raise _url_refused(problem)
    sub = await commands.change_subscription(
        pool, tenant, subscription_id,
        body.model_dump(include=given & {"url", "events", "description"}),
        body.enabled, _now(request))
    return json_response(subscription_json(sub))


@routes.post("/subscriptions/{id}/test")
async def send_test_event(request: web.Request) -> web.Response:
    """A sample payload of the chosen type, with `"test": true` in its data, queued for this
    endpoint only and logged under `webhook.test`: signed, attempted and retried like any
    delivery, so the log shows exactly what the receiver did with it."""
    tenant, pool, subscription_id = tenant_of(request), request.app[PoolKey], _sub_id(request)
    body = await read_model(request, TestEventIn)
    sub = await views.get_subscription(pool, tenant, subscription_id)
    name = body.event_type or sub.events[0]  # a disabled endpoint is refused by the command
    event_id, now = uuid.uuid4(), _now(request)
    delivery = await commands.send_test_event(
        pool, tenant, subscription_id, TEST_EVENT_TYPE, primary(name).route.name,
        sample_body(name, str(event_id), now, test=True), event_id, now)
    return json_response({**delivery, "test": True, "event_type_chosen": name}, status=202)


@routes.get("/event-types")
async def event_types(request: web.Request) -> web.Response:
    """The event catalog: the same for every tenant, generated from the code."""
    return json_response({"items": CATALOG})


@routes.delete("/subscriptions/{id}")
async def delete_subscription(request: web.Request) -> web.Response:
    subscription_id = _sub_id(request)
    await commands.delete_subscription(request.app[PoolKey], tenant_of(request),
                                       subscription_id, _now(request))
    return json_response({"id": str(subscription_id), "deleted": True})


@routes.post("/subscriptions/{id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret, shown once; the old one keeps signing beside it for 24 hours."""
    secret = generate_secret()
    sub = await commands.rotate_secret(request.app[PoolKey], _box(request),
                                       tenant_of(request), _sub_id(request), secret,
                                       _now(request))
    return json_response({**subscription_json(sub), **_shown_once(secret)})


def _shown_once(secret: str) -> dict[str, str]:
    """The secret as the client gave it (or as we generated it), and the same key in the
    form Standard Webhooks libraries load."""
    return {"secret": secret, "standard_webhooks_secret": standard_secret(secret)}


@routes.post("/subscriptions/{id}/enable")
async def enable_subscription(request: web.Request) -> web.Response:
    sub = await commands.enable_subscription(request.app[PoolKey], tenant_of(request),
                                             _sub_id(request))
    return json_response(subscription_json(sub))


def _limit(request: web.Request) -> int:
    return query_limit(request.query, 100, 500)  # more is clamped, as on every list


def _status_filter(request: web.Request) -> str | None:
    status = request.query.get("status") or None
    if status is not None and status not in contracts.DELIVERY_STATUSES:
        raise InvalidInput.naming([
            {"field": "status", "message": f"must be one of {list(contracts.DELIVERY_STATUSES)}"}])
    return status


def _event_filter(request: web.Request) -> uuid.UUID | None:
    event_id = query_uuid(request.query, "event_id")
    return uuid.UUID(event_id) if event_id is not None else None


@routes.get("/subscriptions/{id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    tenant, pool, subscription_id = tenant_of(request), request.app[PoolKey], _sub_id(request)
    status, event_id, limit = _status_filter(request), _event_filter(request), _limit(request)
    await views.get_subscription(pool, tenant, subscription_id)
    items = await views.list_deliveries(pool, tenant, subscription_id, status=status,
                                        event_id=event_id, limit=limit)
    return json_response({"items": items})


@routes.get("/subscriptions/{id}/deliveries/{delivery_id}/attempts")
async def list_attempts(request: web.Request) -> web.Response:
    items = await views.attempts_of(request.app[PoolKey], tenant_of(request), _sub_id(request),
                                    _delivery_id(request))
    return json_response({"items": items})


@routes.post("/subscriptions/{id}/deliveries/{delivery_id}/resend")
async def resend_delivery(request: web.Request) -> web.Response:
    tenant, pool = tenant_of(request), request.app[PoolKey]
    subscription_id, delivery_id = _sub_id(request), _delivery_id(request)
    delivery = await commands.resend(pool, tenant, subscription_id, delivery_id, _now(request))
    return json_response(delivery, status=202)


@routes.post("/subscriptions/{id}/recover")
async def recover_failed(request: web.Request) -> web.Response:
    tenant, pool, subscription_id = tenant_of(request), request.app[PoolKey], _sub_id(request)
    body = await read_model(request, RecoverIn)
    count = await commands.recover(pool, tenant, subscription_id, body.since, _now(request))
    return json_response({"recovered": count, "since": body.since}, status=202)


@routes.get("/events/{event_id}/deliveries")
async def event_deliveries(request: web.Request) -> web.Response:
    items = await views.attempts_for_event(request.app[PoolKey], tenant_of(request),
                                           _event_id(request))
    return json_response({"items": items})
