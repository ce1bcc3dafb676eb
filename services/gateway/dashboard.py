"""`/app` and `/app/*`: the team dashboard, served by the dashboard service and forwarded
untouched, outside the API's authentication (the dashboard's pages are static; what they
show comes from the public API, with the session cookie).

Neither the cookie nor any credential is passed on: the dashboard does not need them.
While the dashboard service is away the answer is a plain 503 with Retry-After."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from resonanz.shared.logs import request_id_var
from resonanz.shared.web import HttpClientKey

from .upstream import UpstreamsKey

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

FORWARDED_REQUEST_HEADERS = ("Accept", "Accept-Language", "If-None-Match",
                             "If-Modified-Since", "User-Agent", "Content-Type")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authenticate", "proxy-authorization",
                        "content-length", "content-encoding", "set-cookie"})
RETRY_AFTER = "5"


@routes.route("*", "/app")
@routes.route("*", "/app/{tail:.*}")
async def forward_to_dashboard(request: web.Request) -> web.Response:
    url = request.app[UpstreamsKey]["dashboard"] + request.rel_url.raw_path_qs
    headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS
               if name in request.headers}
    headers.update({"Accept-Encoding": "identity", "X-Request-Id": request_id_var.get() or ""})
    try:
        async with request.app[HttpClientKey].request(
            request.method, url, headers=headers, allow_redirects=False,
            data=await request.read() if request.body_exists else None,
        ) as upstream:
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=kept)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("dashboard unreachable: %r", exc)
        return web.Response(status=503, text="The dashboard is not available right now;"
                            " retry in a few seconds.\n", content_type="text/plain",
                            headers={"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"})
