"""The widgets domain's hooks for the operations table, and the shoppers' relay.

Keyed: `/v1/widgets` (FeedBackPro) and `/api/v1/campaigns` (Pay4Feedback), two views
of one record. Without a key: `/widget.js`, `/public/widgets/{public_id}` (config and
submissions) and `/demo/{public_id}`, relayed to the widgets service as they are,
headers included (ETag, Cache-Control, CORS, rate limits).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from aiohttp import web

from resonanz.shared.errors import NotFound
from resonanz.shared.logs import request_id_var
from resonanz.shared.params import query_limit
from resonanz.shared.web import HttpClientKey

from ..references import widget_in_path
from ..upstream import UpstreamsKey, client_ip, reaching, segment

log = logging.getLogger(__name__)

FBP_MAX_PAGE = 200
P4F_LIST_LIMIT = 500
# Creating a campaign always starts a draft (Pay4Feedback); activating is a PATCH.
P4F_CREATE_IGNORES = ("status", "is_active")


# --- views ------------------------------------------------------------------------------


def embed_code(request: web.Request, widget: dict[str, Any]) -> str:
    script = f"{request.url.origin()}/widget.js"
    return f'<script src="{script}" data-widget="{widget["public_id"]}" async></script>'


def fbp_widget(request: web.Request, w: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": w["id"], "name": w["name"], "placement": w["placement"], "trigger": w["trigger"],
        "theme": w["theme"], "languages": w["languages"], "is_active": w["status"] == "ACTIVE",
        "status": w["status"].lower(), "public_id": w["public_id"], "questions": w["questions"],
        "allowed_origins": w["allowed_origins"], "pause_reason": w["pause_reason"],
        "paused_at": w["paused_at"], "scheduled_resume": w["resume_at"],
        "embed_code": embed_code(request, w), "created_at": w["created_at"],
        "updated_at": w["updated_at"],
    }


def fbp_pause(w: dict[str, Any], named: str) -> dict[str, Any]:
    """The reference's example answer to `POST /widgets/:id/pause`: `id` is the widget as
    the caller named it (the example pauses `wdg_4nR7xQ` and reads that back)."""
    by_public_id = named == w["public_id"]
    return {"id": w["public_id"] if by_public_id else w["id"], "status": w["status"].lower(),
            "paused_at": w["paused_at"], "scheduled_resume": w["resume_at"]}


def p4f_campaign(request: web.Request, w: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": w["id"], "name": w["name"], "status": w["status"], "public_id": w["public_id"],
        "questions": w["questions"], "reward": w["reward"],
        "auto_approve_above": w["auto_approve_above"],
        "auto_reject_below": w["auto_reject_below"], "placement": w["placement"],
        "trigger": w["trigger"], "theme": w["theme"], "languages": w["languages"],
        "allowed_origins": w["allowed_origins"], "pause_reason": w["pause_reason"],
        "paused_at": w["paused_at"], "scheduled_resume": w["resume_at"],
        "ended_at": w["ended_at"], "embed_code": embed_code(request, w),
        "created_at": w["created_at"], "updated_at": w["updated_at"],
    }


# --- hooks -------------------------------------------------------------------------------


async def widget_id(request: web.Request, raw: str) -> str:
    """The widget (campaign) a management path names, by id or public id."""
    return str(await widget_in_path(request))


async def draft_body(request: web.Request) -> bytes:
    """A new campaign always starts as a draft: status fields are dropped. Anything but
    a JSON object goes on as sent, for the widgets service to explain what is wrong."""
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(body, dict):
        return raw
    return orjson.dumps({k: v for k, v in body.items() if k not in P4F_CREATE_IGNORES})


async def every_campaign(request: web.Request) -> dict[str, str]:
    """Pay4Feedback lists newest first, up to its 500 rows (fewer when `limit` asks; more
    is clamped), by keyset: `next` in the envelope is the `cursor` of the next page, and
    null only on the last one."""
    limit = query_limit(request.query, P4F_LIST_LIMIT, P4F_LIST_LIMIT)
    return {"limit": str(limit), "cursor": request.query.get("cursor", "")}


def fbp_paused(request: web.Request, w: dict[str, Any]) -> dict[str, Any]:
    return fbp_pause(w, request.match_info["id"])


# --- shoppers' path, no key ---------------------------------------------------------------------

RELAYED_REQUEST_HEADERS = (
    "Origin", "If-None-Match", "Content-Type", "User-Agent", "Accept-Language",
    "Access-Control-Request-Method", "Access-Control-Request-Headers",
)
RELAYED_RESPONSE_HEADERS = (
    "Content-Type", "ETag", "Cache-Control", "Vary", "Retry-After", "RateLimit",
    "RateLimit-Policy", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers", "Access-Control-Max-Age",
)
# The widgets service caps submissions far lower; this only keeps floods off the wire.
RELAY_MAX_BYTES = 64 * 1024
COMPRESSIBLE = ("text/javascript", "text/html")


async def _relayed_body(request: web.Request) -> bytes | None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if (request.content_length or 0) > RELAY_MAX_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=RELAY_MAX_BYTES,
                                            actual_size=request.content_length or 0)
    return await request.read()


async def relay(request: web.Request, path: str) -> web.Response:
    """Pass a shopper's request to the widgets service and its answer back, headers intact."""
    headers = {h: request.headers[h] for h in RELAYED_REQUEST_HEADERS if h in request.headers}
    headers.update({"X-Client-Ip": client_ip(request), "X-Request-Id": request_id_var.get() or ""})
    body = await _relayed_body(request)
    url = request.app[UpstreamsKey]["widgets"] + path
    with reaching("widgets"):
        async with request.app[HttpClientKey].request(
            request.method, url, data=body, headers=headers, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            kept = {h: upstream.headers[h] for h in RELAYED_RESPONSE_HEADERS
                    if h in upstream.headers}
            status = upstream.status
    response = web.Response(body=payload or None, status=status, headers=kept)
    if payload and kept.get("Content-Type", "").startswith(COMPRESSIBLE):
        response.enable_compression()
        if response.headers.get("ETag", "").startswith('"'):
            # Another encoding of the same bytes: only weakly the same representation.
            response.headers["ETag"] = "W/" + response.headers["ETag"]
    return response


# A public id is `wdg_` and letters and digits; anything else names no widget (a NUL
# in one reached the widgets service's query and failed there with a 500).
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _public_id(request: web.Request) -> str:
    if not PUBLIC_ID.fullmatch(request.match_info["public_id"]):
        raise NotFound("widget not found")
    return segment(request, "public_id")


async def widget_script(request: web.Request) -> web.Response:
    return await relay(request, "/public/widget.js")


async def public_config(request: web.Request) -> web.Response:
    return await relay(request, f"/public/widgets/{_public_id(request)}")


async def public_submission(request: web.Request) -> web.Response:
    return await relay(request, f"/public/widgets/{_public_id(request)}/submissions")


async def demo_page(request: web.Request) -> web.Response:
    query = f"?{request.query_string}" if request.query_string else ""
    return await relay(request, f"/public/demo/{_public_id(request)}{query}")

