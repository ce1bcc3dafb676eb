"""Forwarding commands to the domain services over pooled internal HTTP."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web

from resonanz.shared.caller import Caller
from resonanz.shared.clientaddr import client_address, trusted_networks
from resonanz.shared.errors import DomainError
from resonanz.shared.logs import request_id_var
from resonanz.shared.web import HttpClientKey, SettingsKey

from .auth import Principal

log = logging.getLogger(__name__)

UpstreamsKey = web.AppKey("upstreams", dict)


class Unavailable(DomainError):
    status, code = 503, "service_unavailable"


class UpstreamTimeout(DomainError):
    status, code = 504, "upstream_timeout"


async def call(request: web.Request, service: str, method: str, path: str,
               principal: Principal | None, *, json: Any = None, body: bytes | None = None,
               params: Mapping[str, str] | None = None,
               headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """Send a command to `service`; its domain errors come back as DomainError.

    `body` forwards the caller's JSON bytes untouched: the service validates them.
    `headers` are the gateway's own, never a client's."""
    url = request.app[UpstreamsKey][service] + path
    sent = {**caller_headers(request, principal), **(headers or {})}
    if json is not None:
        body = orjson.dumps(json)
    if body is not None:
        sent["Content-Type"] = "application/json"
    with reaching(service):
        async with request.app[HttpClientKey].request(
            method, url, data=body, params=params, headers=sent
        ) as response:
            payload = orjson.loads(await response.read() or b"null")
            status = response.status
    if status >= 400:
        raise as_domain_error(status, payload)
    return status, payload


def caller_headers(request: web.Request, principal: Principal | None) -> dict[str, str]:
    """Who is asking, as every service reads it (`resonanz.shared.caller`)."""
    headers = {"X-Request-Id": request_id_var.get() or "", "X-Client-Ip": client_ip(request)}
    if principal is not None:
        headers.update(Caller(principal.tenant_id, principal.actor_id, principal.role,
                              request_id_var.get()).headers())
    return headers


@contextlib.contextmanager
def reaching(service: str) -> Iterator[None]:
    """A service that is down or slow becomes 503/504 in the caller's dialect."""
    try:
        yield
    except TimeoutError:
        raise UpstreamTimeout(f"{service} did not answer in time") from None
    except aiohttp.ClientError as exc:
        log.warning("%s unreachable: %r", service, exc)
        raise Unavailable(f"{service} is unavailable, retry shortly") from None


def segment(request: web.Request, name: str) -> str:
    """A path parameter, escaped for the upstream URL: a decoded `?` or `#` in an id must
    not turn into the upstream's query or fragment (it did: 405s from the wrong route)."""
    return quote(request.match_info[name], safe="")


def client_ip(request: web.Request) -> str:
    """The shopper's or caller's address, also behind the proxies we trust; the only one
    the widgets service sees (`X-Client-Ip` is never relayed from the caller)."""
    trusted = trusted_networks(request.app[SettingsKey].trusted_proxies)
    return client_address(request.remote, request.headers, trusted)


def as_domain_error(status: int, payload: Any) -> DomainError:
    """A service's refusal, to be rendered in the caller's dialect."""
    error = payload.get("error", {}) if isinstance(payload, dict) else {}
    return DomainError(error.get("message", "upstream error"), details=error.get("details", []),
                       code=error.get("code", "error"), status=status)
