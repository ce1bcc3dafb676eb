"""The shopper's claim page (issue 24): `/claim` and its two calls, without a key.

The claim email links to `/claim?lang=de#token=…`: a static page (German or English, the
dashboard's Content-Security-Policy: nothing inline, nothing from elsewhere) that reads the
token from the fragment (never sent, so in no server log) and posts it in a body to
`/public/claims/lookup` and `/public/claims/answer`, which the feedback service answers
(it keeps only the token's digest). The page's answers are plain JSON, errors
`{"error": {code, message, details}}` like the other shoppers' paths.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from resonanz.dashboard.app import SECURITY_HEADERS
from resonanz.shared.web import body_too_large, json_response

from .upstream import call

STATIC = Path(__file__).parent / "static"
ASSETS = {"claim.js": "text/javascript; charset=utf-8", "claim.css": "text/css; charset=utf-8"}
MAX_BODY = 4 * 1024
NO_STORE = {"Cache-Control": "no-store"}


def _file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


PAGE = _file("claim.html")
FILES = {name: _file(name) for name in ASSETS}


async def claim_page(request: web.Request) -> web.Response:
    return web.Response(body=PAGE, content_type="text/html", charset="utf-8",
                        headers={**SECURITY_HEADERS, **NO_STORE})


async def claim_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return web.Response(body=FILES[name], headers={
        **SECURITY_HEADERS, "Content-Type": ASSETS[name], "Cache-Control": "no-cache"})


async def _forward(request: web.Request, path: str) -> web.Response:
    if (request.content_length or 0) > MAX_BODY:
        raise body_too_large(MAX_BODY)
    status, payload = await call(request, "feedback", "POST", path, None,
                                 body=await request.read())
    return json_response(payload, status=status, headers=NO_STORE)


async def lookup(request: web.Request) -> web.Response:
    return await _forward(request, "/claims/lookup")


async def answer(request: web.Request) -> web.Response:
    return await _forward(request, "/claims/answer")
