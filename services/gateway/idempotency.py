"""`Idempotency-Key` on POST (Stripe's semantics, the IETF draft's headers).

Same key and body within 24 h: the first response is replayed and the work done
once. Same key, different body: 422. The first request still running: 409. A request
refused as invalid (NOT_KEPT: 400, 413, 415) did nothing and is not kept, so the corrected
request may be sent with the same key; nor is a failure the client may retry (5xx).
Keys are scoped by tenant, and a response is replayed only to the API key that made the
request (another key of the tenant sending the same request gets 422): a response may
carry a one-time secret, which is why it is also kept sealed under the key ring.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from resonanz.shared.crypto import KeyRing
from resonanz.shared.errors import Conflict, InvalidInput, Unprocessable

HEADER = "Idempotency-Key"
TTL = "24 hours"
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "Content-Type")
# Answers that say the request was not acted on because it is malformed: not replayed.
NOT_KEPT = frozenset({400, 413, 415})
KeyRingKey = web.AppKey("key_ring", KeyRing)


@dataclass(frozen=True)
class Stored:
    status: int
    headers: dict[str, str]
    body: bytes


def request_hash(caller: str, method: str, path: str, body: bytes) -> bytes:
    """What makes two requests the same one: who sends it (the API key), and what."""
    parts = [caller.encode(), method.encode(), path.encode(), body]
    return hashlib.sha256(b"\n".join(parts)).digest()


def _context(tenant_id: str, key: str) -> str:
    return f"gateway.idempotency_keys.body:{tenant_id}:{key}"


def validate_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput("Idempotency-Key must be 1-255 characters",
                           details=[{"field": HEADER, "message": "1-255 characters"}])


async def begin(pool: asyncpg.Pool, ring: KeyRing, tenant_id: str, key: str,
                fingerprint: bytes) -> Stored | None:
    """Claim the key, or return the stored response to replay."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2"
            f" AND created_at < now() - interval '{TTL}'", tenant_id, key)
        claimed = await conn.fetchval(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true", tenant_id, key, fingerprint)
        if claimed:
            return None
        row = await conn.fetchrow(
            "SELECT request_hash, state, status, headers, body, body_sealed"
            " FROM idempotency_keys"
            " WHERE tenant_id = $1 AND key = $2", tenant_id, key)
    assert row is not None
    if bytes(row["request_hash"]) != fingerprint:
        raise Unprocessable("Idempotency-Key was already used with a different request",
                            code="idempotency_key_reused",
                            details=[{"field": HEADER, "message": "different request body"}])
    if row["state"] != "done":
        raise Conflict("a request with this Idempotency-Key is still in progress",
                       code="idempotency_in_flight",
                       details=[{"field": HEADER, "message": "retry later"}])
    if row["body_sealed"] is None:  # written before bodies were sealed
        return Stored(row["status"], row["headers"], bytes(row["body"] or b""))
    body = ring.decrypt(row["body_sealed"], _context(tenant_id, key))
    return Stored(row["status"], row["headers"], base64.b64decode(body))


async def finish(pool: asyncpg.Pool, ring: KeyRing, tenant_id: str, key: str,
                 response: web.Response) -> None:
    headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
    body = response.body if isinstance(response.body, bytes) else b""
    sealed = ring.encrypt(base64.b64encode(body).decode(), _context(tenant_id, key))
    await pool.execute(
        "UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4,"
        " body_sealed = $5 WHERE tenant_id = $1 AND key = $2",
        tenant_id, key, response.status, headers, sealed,
    )


async def abandon(pool: asyncpg.Pool, tenant_id: str, key: str) -> None:
    """A failure the client may retry (5xx, crash) or a request it must correct (NOT_KEPT):
    free the key."""
    await pool.execute("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
                       tenant_id, key)


def replay(stored: Stored) -> web.Response:
    response = web.Response(body=stored.body, status=stored.status, headers=stored.headers)
    response.headers["Idempotent-Replayed"] = "true"
    return response
