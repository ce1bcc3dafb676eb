"""`Idempotency-Key` on POST (Stripe's semantics, the IETF draft's headers).

Same key and body within 24 h: the first response is replayed and the work done
once. Same key, different body: 422. The first request still running: 409.
Keys are scoped by tenant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from resonanz.shared.errors import Conflict, InvalidInput, Unprocessable

HEADER = "Idempotency-Key"
TTL = "24 hours"
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "Content-Type")


@dataclass(frozen=True)
class Stored:
    status: int
    headers: dict[str, str]
    body: bytes


def request_hash(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).digest()


def validate_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput("Idempotency-Key must be 1-255 characters",
                           details=[{"field": HEADER, "message": "1-255 characters"}])


async def begin(pool: asyncpg.Pool, tenant_id: str, key: str, fingerprint: bytes
                ) -> Stored | None:
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
            "SELECT request_hash, state, status, headers, body FROM idempotency_keys"
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
    return Stored(row["status"], row["headers"], bytes(row["body"]))


async def finish(pool: asyncpg.Pool, tenant_id: str, key: str,
                 response: web.Response) -> None:
    headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
    await pool.execute(
        "UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4, body = $5"
        " WHERE tenant_id = $1 AND key = $2",
        tenant_id, key, response.status, headers, response.body or b"",
    )


async def abandon(pool: asyncpg.Pool, tenant_id: str, key: str) -> None:
    """A failure the client may retry (5xx, crash): free the key."""
    await pool.execute("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
                       tenant_id, key)


def replay(stored: Stored) -> web.Response:
    response = web.Response(body=stored.body, status=stored.status, headers=stored.headers)
    response.headers["Idempotent-Replayed"] = "true"
    return response
