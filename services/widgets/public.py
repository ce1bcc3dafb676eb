"""What shoppers' browsers reach (through the gateway, without a key): the embed script,
a widget's public config, submissions, and a demo shop page.

Shop pages live on other origins, so every answer here carries CORS headers for
the origins the widget allows, errors included. Traffic is limited per widget and per
client address; the gateway forwards the address in `X-Client-Ip` (behind the proxies
it trusts, the address they name: see shared.clientaddr).
"""

from __future__ import annotations

import hashlib
import html
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from resonanz.shared.caller import Caller
from resonanz.shared.clientaddr import client_address, trusted_networks
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import DomainError, Forbidden, InvalidInput, validation_details
from resonanz.shared.logs import request_id_var
from resonanz.shared.ratelimit import LimiterKey, Quota, limit_headers
from resonanz.shared.web import HttpClientKey, SettingsKey, json_response, none_match
from resonanz.shared.widget_contracts import SubmissionIn

from . import store
from .domain import MAX_TEXT_ANSWER, Widget, check_answers, first_answer

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

STATIC = Path(__file__).parent / "static"
HONEYPOT_FIELD = "website"
INLINE_MIN_HEIGHT = 440  # px the demo page keeps for its inline widget (see docs/widget.md)
CorsOriginKey = web.RequestKey("cors_origin", str)
# The answer depends on the request's Origin (the widget restricts origins): say so to caches.
CorsVariesKey = web.RequestKey("cors_varies", bool)


@dataclass(frozen=True)
class PublicPolicy:
    """Limits and caching of the public path (from the service's settings)."""

    config_max_age: int
    submission_max_bytes: int
    feedback_url: str
    submissions_per_address: Quota
    submissions_per_widget: Quota
    configs_per_address: Quota
    configs_per_widget: Quota


PolicyKey = web.AppKey("public_policy", PublicPolicy)


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str
    content_type: str


def asset(body: bytes, content_type: str) -> Asset:
    return Asset(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', content_type)


WidgetScriptKey = web.AppKey("widget_script", Asset)


def load_widget_script() -> Asset:
    return asset((STATIC / "widget.js").read_bytes(), "text/javascript; charset=utf-8")


class RateLimited(DomainError):
    status, code = 429, "rate_limited"

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("too many requests, slow down", details=[
            {"field": None, "message": f"retry in {headers.get('Retry-After', '1')}s"}])
        self.headers = headers


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class FeedbackUnavailable(DomainError):
    status, code = 503, "service_unavailable"


# --- CORS and errors -----------------------------------------------------------------------


@web.middleware
async def public_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors on public paths keep their CORS headers, so the embed can read them; so do
    aiohttp's own (a body over the service's cap, a wrong method)."""
    if not request.path.startswith("/public/"):
        return await handler(request)
    try:
        response = await handler(request)
    except DomainError as exc:
        response = json_response(exc.to_body(), status=exc.status,
                                 headers=getattr(exc, "headers", None))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_response(http_error_body(exc), status=exc.status)
    cors(request, response)
    return response


def http_error_body(exc: web.HTTPException) -> dict[str, Any]:
    """aiohttp's refusals in the widget API's error shape."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("the submission is too large").to_body()
    code = exc.reason.lower().replace(" ", "_")
    return {"error": {"code": code, "message": exc.reason, "details": []}}


def cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.get(CorsOriginKey, "*")
    response.headers["Access-Control-Allow-Origin"] = origin
    if origin != "*" or request.get(CorsVariesKey, False):
        response.headers["Vary"] = "Origin"


def admit_origin(request: web.Request, widget: Widget) -> None:
    """Serve the page's origin if the widget lets that shop embed it, else refuse.

    The refusal itself stays readable (the embed then renders nothing instead of
    failing); a refused preflight is not 2xx, so the browser still sends no POST.
    """
    origin = request.headers.get("Origin")
    request[CorsOriginKey] = origin if widget.allowed_origins and origin else "*"
    # Also when this request sent no Origin and is answered `*`: a shared cache must not
    # hand that answer (the config is `public, max-age`) to a page on another origin.
    request[CorsVariesKey] = bool(widget.allowed_origins)
    if not widget.allows_origin(origin):
        raise Forbidden("this widget may not be embedded on this site", code="origin_not_allowed",
                        details=[{"field": "Origin", "message": str(origin)}])


async def spend(request: web.Request, widget: Widget, per_address: Quota,
                per_widget: Quota) -> None:
    limiter = request.app[LimiterKey]
    address = client_of(request)
    for key, quota in ((f"addr:{address}", per_address), (f"widget:{widget.id}", per_widget)):
        decision = await limiter.hit(f"widgets:{quota.name}:{key}", quota)
        if not decision.allowed:
            raise RateLimited(limit_headers(quota, decision))


def client_of(request: web.Request) -> str:
    """Only the gateway reaches this service (internal token): its X-Client-Ip is the
    shopper's address, behind trusted proxies too, and a shopper cannot set it. Without
    it (an internal caller) the same rule applies to our own peer."""
    trusted = trusted_networks(request.app[SettingsKey].trusted_proxies)
    return (request.headers.get("X-Client-Ip")
            or client_address(request.remote, request.headers, trusted) or "unknown")


# --- widget.js and the public config -------------------------------------------------------


def cached(request: web.Request, item: Asset, max_age: int) -> web.Response:
    headers = {"ETag": item.etag, "Cache-Control": f"public, max-age={max_age}"}
    if none_match(request, item.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=item.body, headers={**headers, "Content-Type": item.content_type})


@routes.get("/public/widget.js")
async def widget_script(request: web.Request) -> web.Response:
    return cached(request, request.app[WidgetScriptKey], 300)


@routes.get("/public/widgets/{public_id}")
async def public_config(request: web.Request) -> web.Response:
    widget = await store.find_public(request.app[PoolKey], request.match_info["public_id"])
    admit_origin(request, widget)
    policy = request.app[PolicyKey]
    await spend(request, widget, policy.configs_per_address, policy.configs_per_widget)
    body = orjson.dumps(config_for(widget, policy), option=orjson.OPT_SORT_KEYS)
    return cached(request, asset(body, "application/json"), policy.config_max_age)


def config_for(widget: Widget, policy: PublicPolicy) -> dict[str, Any]:
    """The public config, with the limits a live widget's form must keep: a form the
    widget lets a shopper fill must be one the server accepts."""
    config = widget.public_config()
    if config["active"]:
        config["limits"] = {"submission_bytes": policy.submission_max_bytes,
                            "text_chars": MAX_TEXT_ANSWER}
    return config


@routes.options("/public/widgets/{public_id}")
@routes.options("/public/widgets/{public_id}/submissions")
async def preflight(request: web.Request) -> web.Response:
    widget = await store.find_public(request.app[PoolKey], request.match_info["public_id"])
    admit_origin(request, widget)
    return web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
    })


# --- submissions ---------------------------------------------------------------------------


async def _submission_json(request: web.Request) -> dict[str, Any]:
    limit = request.app[PolicyKey].submission_max_bytes
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"a submission may be at most {limit} bytes")
    raw = await request.read()
    if len(raw) > limit:
        raise PayloadTooLarge(f"a submission may be at most {limit} bytes")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def _parse(body: dict[str, Any]) -> SubmissionIn:
    try:
        return SubmissionIn.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput.naming(validation_details(exc.errors(), SubmissionIn)) from None


def entry_for(widget: Widget, submission: SubmissionIn, answers: dict[str, Any],
              user_agent: str | None) -> dict[str, Any]:
    """The feedback entry a submission becomes."""
    return {
        "widget_id": widget.id, "answers": answers,
        "rating": first_answer(widget.questions, answers, "rating"),
        "body": first_answer(widget.questions, answers, "text"),
        "category": submission.category, "customer_email": submission.customer_email,
        "metadata": {"source": "widget", "public_id": widget.public_id,
                     "page_url": submission.page_url, "language": submission.language,
                     "user_agent": (user_agent or "")[:300] or None},
    }


async def create_entry(request: web.Request, widget: Widget, entry: dict[str, Any]
                       ) -> dict[str, Any]:
    """Forward the entry to the feedback service, which owns it."""
    headers = Caller(widget.tenant_id, f"widget:{widget.public_id}",
                     request_id=request_id_var.get()).headers()
    url = request.app[PolicyKey].feedback_url + "/entries"
    try:
        async with request.app[HttpClientKey].post(url, json=entry, headers=headers) as resp:
            payload = await resp.json(content_type=None)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("feedback service unreachable: %r", exc)
        raise FeedbackUnavailable("feedback cannot be stored right now, retry shortly") from None
    if status >= 500 or not isinstance(payload, dict):
        raise FeedbackUnavailable("feedback cannot be stored right now, retry shortly")
    if status >= 400:
        error = payload.get("error", {})
        raise DomainError(error.get("message", "rejected"), details=error.get("details", []),
                          code=error.get("code", "rejected"), status=status)
    return payload


@routes.post("/public/widgets/{public_id}/submissions")
async def submit(request: web.Request) -> web.Response:
    widget = await store.find_public(request.app[PoolKey], request.match_info["public_id"])
    admit_origin(request, widget)
    policy = request.app[PolicyKey]
    await spend(request, widget, policy.submissions_per_address, policy.submissions_per_widget)
    body = await _submission_json(request)
    if body.get(HONEYPOT_FIELD):
        # A bot filled the field people never see: it is told "thanks" and nothing is kept.
        log.info("honeypot caught a submission to %s", widget.public_id)
        return json_response({"id": str(uuid.uuid4()), "status": "received"}, status=201)
    widget.ensure_collecting()
    submission = _parse(body)
    answers = check_answers(widget.questions, submission.answers)
    entry = await create_entry(request, widget, entry_for(
        widget, submission, answers, request.headers.get("User-Agent")))
    return json_response({"id": entry["id"], "status": "received"}, status=201)


# --- the demo shop -------------------------------------------------------------------------


@routes.get("/public/demo/{public_id}")
async def demo_page(request: web.Request) -> web.Response:
    """A small shop page embedding the widget, for `make run` and the browser test."""
    widget = await store.find_public(request.app[PoolKey], request.match_info["public_id"])
    lang = "en" if request.query.get("lang") == "en" else "de"
    # An inline widget's place is kept from the first paint: no layout shift when it comes.
    slot = f"min-height:{INLINE_MIN_HEIGHT}px" if widget.placement == "inline" else ""
    page = Template((STATIC / "demo.html").read_text()).substitute(
        public_id=html.escape(widget.public_id), lang=lang, slot_style=slot)
    return web.Response(text=page, content_type="text/html",
                        headers={"Cache-Control": "no-store"})
