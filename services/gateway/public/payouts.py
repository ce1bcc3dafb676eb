"""Paying cash rewards (issue 24), Pay4Feedback dialect: the shop's payout account, SEPA
credit-transfer batches and their pain.001 file. The feedback service owns them."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from resonanz.shared.params import path_uuid
from resonanz.shared.web import HttpClientKey

from ..auth import PrincipalKey
from ..upstream import UpstreamsKey, as_domain_error, caller_headers, reaching


async def batch_id(request: web.Request, raw: str) -> str:
    return str(path_uuid(raw, "batch"))


async def pain001(request: web.Request) -> web.Response:
    """The batch's pain.001.001.03 XML file, as the feedback service makes it."""
    raw_id = str(path_uuid(request.match_info["id"], "batch"))
    url = f"{request.app[UpstreamsKey]['feedback']}/payout-batches/{raw_id}/pain.001"
    headers = caller_headers(request, request[PrincipalKey])
    with reaching("feedback"):
        async with request.app[HttpClientKey].get(url, headers=headers) as upstream:
            body = await upstream.read()
            if upstream.status >= 400:
                raise as_domain_error(upstream.status, _json(body))
            return web.Response(body=body, headers={
                "Content-Type": upstream.headers["Content-Type"],
                "Content-Disposition": upstream.headers["Content-Disposition"],
                "Cache-Control": "no-store"})


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
