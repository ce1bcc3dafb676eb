"""The gateway schema's SQL: tenants, users, invitations, API keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.db import plain, uuid_or_404
from resonanz.shared.errors import Conflict, NotFound
from resonanz.shared.params import path_uuid

from . import keys


@dataclass(frozen=True)
class KeyRecord:
    id: str
    tenant_id: str
    role: str
    user_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    rate_limits: dict[str, int]


async def find_key(pool: asyncpg.Pool, digest: bytes) -> KeyRecord | None:
    row = await pool.fetchrow(
        "SELECT k.id, k.tenant_id, k.role, k.user_id, k.created_at, k.last_used_at,"
        " k.revoked_at, k.expires_at, t.rate_limits"
        " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.digest = $1",
        digest,
    )
    if row is None:
        return None
    values: dict[str, Any] = plain(row)
    return KeyRecord(**values)


async def insert_key(conn: asyncpg.Connection, pepper: bytes, tenant_id: str, role: str,
                     name: str = "", user_id: str | None = None) -> tuple[dict[str, Any], str]:
    plaintext = keys.generate_key()
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, digest, role, user_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " RETURNING id, tenant_id, name, prefix, role, created_at",
        uuid.uuid4(), tenant_id, name, keys.visible_prefix(plaintext),
        keys.digest(plaintext, pepper), role, user_id,
    )
    return plain(row), plaintext


async def record_key_use(pool: asyncpg.Pool, used: dict[str, datetime]) -> None:
    await pool.execute(
        "UPDATE api_keys k SET last_used_at = u.at FROM unnest($1::uuid[], $2::timestamptz[])"
        " AS u(id, at) WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        list(used), list(used.values()),
    )


async def list_keys(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, name, prefix, role, created_at, last_used_at, revoked_at, expires_at"
        " FROM api_keys WHERE tenant_id = $1 ORDER BY created_at",
        tenant_id,
    )
    return [plain(r) for r in rows]


async def revoke_key(pool: asyncpg.Pool, key_id: str, tenant_id: str | None = None
                     ) -> dict[str, Any]:
    row = await pool.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
        " RETURNING id, tenant_id, prefix, role, revoked_at",
        _uuid(key_id), tenant_id,
    )
    if row is None:
        raise NotFound("api key not found")
    return plain(row)


async def set_key_role(pool: asyncpg.Pool, key_id: str, role: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "UPDATE api_keys SET role = $2 WHERE id = $1 AND revoked_at IS NULL"
        " RETURNING id, tenant_id, prefix, role",
        _uuid(key_id), role,
    )
    if row is None:
        raise NotFound("api key not found")
    return plain(row)


async def rotate_key(conn: asyncpg.Connection, pepper: bytes, key_id: str,
                     tenant_id: str | None = None) -> tuple[dict[str, Any], str]:
    """Issue a successor; the old key stays valid for 24 hours."""
    old = await conn.fetchrow(
        "SELECT id, tenant_id, name, role, user_id FROM api_keys WHERE id = $1"
        " AND ($2::uuid IS NULL OR tenant_id = $2) AND revoked_at IS NULL FOR UPDATE",
        _uuid(key_id), tenant_id,
    )
    if old is None:
        raise NotFound("api key not found")
    new, plaintext = await insert_key(conn, pepper, str(old["tenant_id"]), old["role"],
                                      old["name"], old["user_id"])
    await conn.execute(
        "UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'),"
        " now() + interval '24 hours'), replaced_by = $2 WHERE id = $1",
        old["id"], uuid.UUID(new["id"]),
    )
    return new, plaintext


# --- tenants and users -------------------------------------------------------------------


async def create_tenant(conn: asyncpg.Connection, name: str, owner_email: str
                        ) -> dict[str, Any]:
    tenant_id, owner_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, name)
    await conn.execute(
        "INSERT INTO users (id, tenant_id, email, role, status, email_verified)"
        " VALUES ($1, $2, $3, 'admin', 'active', true)",
        owner_id, tenant_id, owner_email,
    )
    await conn.execute("UPDATE tenants SET owner_id = $2 WHERE id = $1", tenant_id, owner_id)
    return {"id": str(tenant_id), "name": name, "owner_id": str(owner_id)}


async def get_tenant(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT id, name, owner_id, rate_limits, created_at FROM tenants WHERE id = $1",
        path_uuid(tenant_id, "tenant"),
    )
    if row is None:
        raise NotFound("tenant not found")
    return plain(row)


async def set_rate_limit(pool: asyncpg.Pool, tenant_id: str, name: str, limit: int | None
                         ) -> dict[str, Any]:
    """Override one of the tenant's limits per minute; None restores the default."""
    row = await pool.fetchrow(
        "UPDATE tenants SET rate_limits = CASE WHEN $3::int IS NULL THEN rate_limits - $2"
        " ELSE rate_limits || jsonb_build_object($2::text, $3::int) END"
        " WHERE id = $1 RETURNING id, rate_limits",
        _uuid(tenant_id), name, limit,
    )
    if row is None:
        raise NotFound("tenant not found")
    return plain(row)


async def list_tenants(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, name, owner_id, created_at FROM tenants ORDER BY created_at"
    )
    return [plain(r) for r in rows]


def _uuid(value: str) -> uuid.UUID:
    return uuid_or_404(value, "resource")


async def admins_of(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, email, name FROM users WHERE tenant_id = $1 AND role = 'admin'"
        " AND status = 'active' ORDER BY created_at",
        _uuid(tenant_id),
    )
    return [plain(r) for r in rows]


# --- team members ----------------------------------------------------------------------

USER_COLUMNS = ("id, email, name, role, status, email_verified, last_active_at, created_at")


async def list_users(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND status <> 'removed'"
        " ORDER BY created_at, id",
        tenant_id,
    )
    return [plain(r) for r in rows]


async def invite_user(conn: asyncpg.Connection, tenant_id: str, email: str, name: str | None,
                      role: str, invited_by: str | None, token_digest: bytes,
                      expires_at: datetime) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            "INSERT INTO users (id, tenant_id, email, name, role, status, invited_by)"
            " VALUES ($1, $2, $3, $4, $5, 'pending', $6)"
            f" RETURNING {USER_COLUMNS}",
            uuid.uuid4(), tenant_id, email, name, role, _maybe_uuid(invited_by),
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("a team member with this email already exists", details=[
            {"field": "email", "message": "already a member or invited"}]) from None
    assert row is not None
    await conn.execute(
        "INSERT INTO invitations (token_digest, user_id, tenant_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        token_digest, row["id"], tenant_id, expires_at,
    )
    return plain(row)


async def owner_of(conn: asyncpg.Connection, tenant_id: str) -> uuid.UUID | None:
    owner: uuid.UUID | None = await conn.fetchval(
        "SELECT owner_id FROM tenants WHERE id = $1", path_uuid(tenant_id, "tenant"))
    return owner


async def is_member(pool: asyncpg.Pool, tenant_id: str, user_id: uuid.UUID) -> bool:
    """Whether the user is on the tenant's team, invited or active (not removed)."""
    found = await pool.fetchval(
        "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 AND status <> 'removed'",
        path_uuid(tenant_id, "tenant"), user_id,
    )
    return found is not None


async def remove_user(conn: asyncpg.Connection, tenant_id: str, user_id: uuid.UUID
                      ) -> dict[str, Any]:
    row = await conn.fetchrow(
        "UPDATE users SET status = 'removed', removed_at = now()"
        " WHERE tenant_id = $1 AND id = $2 AND status <> 'removed'"
        f" RETURNING {USER_COLUMNS}",
        tenant_id, user_id,
    )
    if row is None:
        raise NotFound("team member not found")
    await conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                       " WHERE user_id = $1", row["id"])
    return plain(row)


def _maybe_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
