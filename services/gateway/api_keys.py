"""API keys managed through the public API: created, rotated and revoked by the tenant's
admins. Each change that can make a cached key wrong is reported done only once no gateway
acts on the old state (`key_changes.settle`), as the operator CLI does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from resonanz.shared.contracts import ApiKeyIn
from resonanz.shared.errors import Conflict, Forbidden

from . import key_changes, store
from .auth import Principal

ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}


def status_of(key: dict[str, Any], now: datetime | None = None) -> str:
    if key["revoked_at"] is not None:
        return "revoked"
    if key["expires_at"] is not None and key["expires_at"] <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


def view(key: dict[str, Any]) -> dict[str, Any]:
    return {**key, "status": status_of(key)}


async def list_keys(pool: asyncpg.Pool, principal: Principal) -> list[dict[str, Any]]:
    return [view(k) for k in await store.key_views(pool, principal.tenant_id)]


async def get_key(pool: asyncpg.Pool, principal: Principal, key_id: str) -> dict[str, Any]:
    return view(await store.key_view(pool, principal.tenant_id, key_id))


async def create_key(pool: asyncpg.Pool, pepper: bytes, principal: Principal, body: ApiKeyIn
                     ) -> dict[str, Any]:
    """A new key; its plaintext is in this answer only. Nobody makes a key that may do
    more than they may (an admin may make any)."""
    if ROLE_RANK[body.role] > ROLE_RANK[principal.role]:
        raise Forbidden("a key cannot be given a higher role than your own",
                        details=[{"field": "role", "message": f"at most {principal.role}"}])
    async with pool.acquire() as conn, conn.transaction():
        created, plaintext = await store.insert_key(
            conn, pepper, principal.tenant_id, body.role, body.name,
            expires_at=body.expires_at, created_by=principal.user_id)
        key = await store.key_view(conn, principal.tenant_id, created["id"])
    return {**view(key), "key": plaintext}


async def rotate_key(pool: asyncpg.Pool, pepper: bytes, principal: Principal, key_id: str
                     ) -> dict[str, Any]:
    """A successor with the same name and role; the old key keeps working for 24 hours,
    on every gateway once this returns. An expired key is not brought back."""
    async with pool.acquire() as conn, conn.transaction():
        old = await store.key_view(conn, principal.tenant_id, key_id)
        if status_of(old) != "active":
            raise Conflict(f"the key is {status_of(old)}: create a new one instead",
                           details=[{"field": "id", "message": status_of(old)}])
        created, plaintext = await store.rotate_key(conn, pepper, old["id"],
                                                    principal.tenant_id, principal.user_id)
        key = await store.key_view(conn, principal.tenant_id, created["id"])
    await key_changes.settle(pool)
    return {**view(key), "key": plaintext}


async def revoke_key(pool: asyncpg.Pool, principal: Principal, key_id: str) -> dict[str, Any]:
    """Revoked at once: when this returns, no gateway accepts the key any more."""
    revoked = await store.revoke_key(pool, key_id, principal.tenant_id)
    await key_changes.settle(pool)
    return view(await store.key_view(pool, principal.tenant_id, revoked["id"]))
