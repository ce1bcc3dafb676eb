"""Data-subject requests (docs/privacy.md): the feedback service keeps them; filing an
erasure also deletes the gateway's own copies of the shopper's data, the replayable
answers of idempotent requests (kept sealed for 24 hours) that name the address."""

from __future__ import annotations

import base64
import re

import asyncpg
import orjson
from aiohttp import web

from resonanz.shared.caller import GATEWAY_REPLAYS_ERASED
from resonanz.shared.contracts import PrivacyRequestIn
from resonanz.shared.crypto import KeyRing, UndecryptableSecret
from resonanz.shared.db import PoolKey
from resonanz.shared.web import HttpClientKey, read_model

from ..auth import PrincipalKey
from ..dialects import FEEDBACKPRO, dialect_of
from ..idempotency import KeyRingKey, _context
from ..upstream import UpstreamsKey, as_domain_error, call, caller_headers, reaching, segment

# The export's files, one per kind (the feedback service's privacy.CSV_KINDS).
CSV_KINDS = ("entries", "answers", "notes", "payouts")


def mentions(text: str, email: str) -> bool:
    """`email` in `text` as a whole address, ignoring case as the feedback service matches
    it (PostgreSQL's lower()): `anna@x.de` is not found in `joanna@x.de` or
    `anna@x.de.example`."""
    pattern = rf"(?<![\w.+%-]){re.escape(_lowered(email.strip()))}(?![\w.-])"
    return re.search(pattern, _lowered(text)) is not None


def _lowered(text: str) -> str:
    # The one letter Python lower-cases unlike PostgreSQL: the dotted capital I is "i" and a
    # combining dot to str.lower(), "i" to the database.
    return text.replace("\u0130", "I").lower()


async def forget_replays(pool: asyncpg.Pool, ring: KeyRing, tenant_id: str, email: str
                         ) -> int:
    """Delete the tenant's stored idempotent answers that name `email`."""
    rows = await pool.fetch(
        "SELECT key, body, body_sealed FROM idempotency_keys"
        " WHERE tenant_id = $1 AND state = 'done'", tenant_id)
    doomed = []
    for row in rows:
        if row["body_sealed"] is not None:
            try:
                body = base64.b64decode(ring.decrypt(row["body_sealed"],
                                                     _context(tenant_id, row["key"])))
            except UndecryptableSecret:
                continue
        else:
            body = bytes(row["body"] or b"")
        if mentions(body.decode("utf-8", "replace"), email):
            doomed.append(row["key"])
    if not doomed:
        return 0
    await pool.execute("DELETE FROM idempotency_keys WHERE tenant_id = $1"
                       " AND key = ANY($2::text[])", tenant_id, doomed)
    return len(doomed)


async def file_request(request: web.Request) -> web.Response:
    """Forwarded to the feedback service, which keeps the request. An erasure first clears
    this service's replays of the shopper's data; the feedback service records that part
    as done with the count it is told (GATEWAY_REPLAYS_ERASED)."""
    principal = request[PrincipalKey]
    raw = await request.read()
    asked = await read_model(request, PrivacyRequestIn)
    headers = {}
    if asked.type == "erasure":
        count = await forget_replays(request.app[PoolKey], request.app[KeyRingKey],
                                     principal.tenant_id, asked.customer_email)
        headers[GATEWAY_REPLAYS_ERASED] = str(count)
    status, payload = await call(request, "feedback", "POST", "/privacy/requests", principal,
                                 body=raw, headers=headers)
    location = f"{request.path}/{payload['id']}"
    links: dict[str, str | None] | None = (
        {"self": location} if dialect_of(request.path) is FEEDBACKPRO else None)
    return dialect_of(request.path).ok(request, payload, status=status,
                                       headers={"Location": location}, links=links)


async def export_csv(request: web.Request) -> web.Response:
    """One kind of an export's document as CSV, passed on as the feedback service wrote it
    (one shopper's data: small enough to be read whole)."""
    principal = request[PrincipalKey]
    path = (f"/privacy/requests/{segment(request, 'id')}/export/"
            f"{segment(request, 'kind')}")
    url = request.app[UpstreamsKey]["feedback"] + path
    with reaching("feedback"):
        async with request.app[HttpClientKey].get(
                url, headers=caller_headers(request, principal)) as upstream:
            raw = await upstream.read()
            if upstream.status >= 400:
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    payload = None
                raise as_domain_error(upstream.status, payload)
            return web.Response(body=raw, headers={
                "Content-Type": upstream.headers["Content-Type"],
                "Content-Disposition": upstream.headers["Content-Disposition"],
                "Cache-Control": "no-store"})
