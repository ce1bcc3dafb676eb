"""`/app` and `/app/*`: the team dashboard, served by the dashboard service and forwarded
untouched, outside the API's authentication (the dashboard's pages are static; what they
show comes from the public API, with the session cookie).

Neither the cookie nor any credential is passed on, the internal token included (the
dashboard has its own client, without it). A path with a dot segment, in any spelling
(`/app/../metrics`, `/app/%2e%2e/metrics`, `/app/..%2Fmetrics`), is a 404: forwarded, the
HTTP client would resolve it to a path outside `/app` on the dashboard service. While the
dashboard service is away the answer is a plain 503 with Retry-After."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from resonanz.shared.logs import request_id_var

from .upstream import UpstreamsKey

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

FORWARDED_REQUEST_HEADERS = ("Accept", "Accept-Language", "If-None-Match",
                             "If-Modified-Since", "User-Agent", "Content-Type")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authenticate", "proxy-authorization",
                        "content-length", "content-encoding", "set-cookie"})
RETRY_AFTER = "5"
DashboardClientKey = web.AppKey("dashboard_client", aiohttp.ClientSession)


def dashboard_client_ctx(timeout: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """The client of the dashboard service: no internal token, no cookies kept."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout, connect=2.0),
                cookie_jar=aiohttp.DummyCookieJar()) as session:
            app[DashboardClientKey] = session
            yield

    return ctx


def stays_in_app(raw_path: str) -> bool:
    """No segment of the path is `.` or `..` once percent-decoded (twice, for clients that
    encode the percent sign too), and no backslash or NUL hides one."""
    decoded = unquote(unquote(raw_path))
    return ("\\" not in decoded and "\x00" not in decoded
            and not any(part in (".", "..") for part in decoded.split("/")))


@routes.route("*", "/app")
@routes.route("*", "/app/{tail:.*}")
async def forward_to_dashboard(request: web.Request) -> web.Response:
    if not stays_in_app(request.rel_url.raw_path):
        return web.Response(status=404, text="Not found.\n", content_type="text/plain")
    url = request.app[UpstreamsKey]["dashboard"] + request.rel_url.raw_path_qs
    headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS
               if name in request.headers}
    headers.update({"Accept-Encoding": "identity", "X-Request-Id": request_id_var.get() or ""})
    try:
        async with request.app[DashboardClientKey].request(
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
