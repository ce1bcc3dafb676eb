"""The team dashboard: a single-page app in plain ES modules, served under `/app/`.

The service holds no data and no secret: it serves the app shell for every path under
`/app/` (the browser routes with the History API) and the static modules it loads. The
app itself is a pure client of the public API, which it reaches through the gateway on
the same origin with the session cookie (the gateway forwards `/app` here).

Assets are addressed by a build id, a hash of every asset: `/app/assets/<build>/<name>`.
Module imports are relative, so a change to any file gives every module a new URL and the
browser can keep each for a year (`immutable`); the shell itself is revalidated with its
ETag on each load. Every answer carries a strict Content-Security-Policy: no inline script
or style, nothing from another origin, no framing — but for `/app/preview`, the widget
editor's live preview, which only the app itself may frame.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from aiohttp import web

from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app, none_match

SERVICE = "dashboard"
BASE = "/app"
STATIC = Path(__file__).parent / "static"
SHELL = "index.html"
PREVIEW = "preview.html"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self';"
    " object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# The live preview runs the real widget.js (from the gateway, same origin) on the draft the
# editor posts to it: it fetches nothing, and only a page of this origin may frame it.
PREVIEW_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'").replace(
        "connect-src 'self'", "connect-src 'none'"),
    "X-Frame-Options": "SAMEORIGIN",
}
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css|svg)$")
# Third-party files keep their upstream names (uPlot.esm.js) in a folder of their own.
VENDOR = "vendor"
VENDOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*\.(js|css)$")
IMMUTABLE = "public, max-age=31536000, immutable"


class DashboardSettings(Settings):
    # Static files only: no database, no broker, no call to another service.
    required_secrets: ClassVar[tuple[str, ...]] = ()

    port: int = 8085


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Asset:
        return cls(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@dataclass(frozen=True)
class Bundle:
    """Every asset, the build id naming them all, and the shell that loads them."""

    build: str
    assets: dict[str, Asset]
    shell: Asset
    preview: Asset

    @classmethod
    def load(cls, folder: Path = STATIC) -> Bundle:
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
                 if p.is_file() and ASSET_NAME.match(p.name)}
        vendor = folder / VENDOR
        files |= {f"{VENDOR}/{p.name}": p.read_bytes()
                  for p in sorted(vendor.iterdir() if vendor.is_dir() else ())
                  if p.is_file() and VENDOR_NAME.match(p.name)}
        digest = hashlib.sha256()
        for name, body in files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
        build = digest.hexdigest()[:16]
        assets = {name: Asset.of(body, CONTENT_TYPES[Path(name).suffix])
                  for name, body in files.items()}
        preload = "\n".join(
            f'<link rel="modulepreload" href="{BASE}/assets/{build}/{name}">'
            for name in files if name.endswith(".js") and name != "app.js")
        # Vendored style sheets come before the app's own, which may override them.
        styles = "\n".join(f'<link rel="stylesheet" href="{BASE}/assets/{build}/{name}">'
                           for name in files if name.startswith(f"{VENDOR}/")
                           and name.endswith(".css"))
        html = ((folder / SHELL).read_text(encoding="utf-8")
                .replace("{{build}}", build).replace("{{preload}}", preload)
                .replace("{{styles}}", styles))
        preview = (folder / PREVIEW).read_bytes()
        return cls(build, assets, Asset.of(html.encode(), "text/html; charset=utf-8"),
                   Asset.of(preview, "text/html; charset=utf-8"))


BundleKey = web.AppKey("bundle", Bundle)
routes = web.RouteTableDef()


def _answer(request: web.Request, asset: Asset, cache: str) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache}
    if none_match(request, asset.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers,
                                                  "Content-Type": asset.content_type})


@routes.get(BASE + "/assets/{build}/{name:(?:vendor/)?[^/]+}")
async def asset(request: web.Request) -> web.Response:
    bundle = request.app[BundleKey]
    found = bundle.assets.get(request.match_info["name"])
    # An old shell asking for an old build gets a 404, never today's file under
    # yesterday's immutable URL.
    if found is None or request.match_info["build"] != bundle.build:
        raise web.HTTPNotFound()
    return _answer(request, found, IMMUTABLE)


@routes.get(BASE + "/preview", name="preview")
async def preview(request: web.Request) -> web.Response:
    """The document the widget editor frames: widget.js in preview mode, nothing else."""
    return _answer(request, request.app[BundleKey].preview, "no-cache")


@routes.get(BASE)
@routes.get(BASE + "/{route:.*}")
async def shell(request: web.Request) -> web.Response:
    """Every page of the app is the same shell; the browser routes from the path."""
    if request.match_info.get("route", "").startswith("assets/"):
        raise web.HTTPNotFound()
    return _answer(request, request.app[BundleKey].shell, "no-cache")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, errors included (on_response_prepare runs for all of them)."""
    response.headers.update(SECURITY_HEADERS)
    if request.match_info.route.name == "preview" and response.status < 400:
        response.headers.update(PREVIEW_HEADERS)


def create_app(settings: DashboardSettings) -> web.Application:
    app = create_service_app(SERVICE, settings, public=True, routes=routes)
    app.on_response_prepare.append(security_headers)
    app[BundleKey] = Bundle.load()
    return app
