"""The gateway schema's SQL: tenants, users, invitations, API keys."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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
                     name: str = "", user_id: str | None = None, *,
                     expires_at: datetime | None = None, created_by: str | None = None
                     ) -> tuple[dict[str, Any], str]:
    plaintext = keys.generate_key()
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, digest, role, user_id,"
        " expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " RETURNING id, tenant_id, name, prefix, role, created_at",
        uuid.uuid4(), tenant_id, name, keys.visible_prefix(plaintext),
        keys.digest(plaintext, pepper), role, user_id, expires_at, _maybe_uuid(created_by),
    )
    return plain(row), plaintext


async def record_key_use(pool: asyncpg.Pool, used: dict[str, datetime]) -> None:
    """Keys' last use, and the last activity of the members the keys belong to."""
    await pool.execute(
        "WITH k AS (UPDATE api_keys k SET last_used_at = u.at"
        " FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)"
        " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)"
        " RETURNING k.user_id, u.at)"
        " UPDATE users SET last_active_at = k.at FROM k WHERE users.id = k.user_id"
        " AND (users.last_active_at IS NULL OR users.last_active_at < k.at)",
        list(used), list(used.values()),
    )


async def list_keys(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, name, prefix, role, created_at, last_used_at, revoked_at, expires_at"
        " FROM api_keys WHERE tenant_id = $1 ORDER BY created_at",
        tenant_id,
    )
    return [plain(r) for r in rows]


KEY_VIEW_SQL = (
    "SELECT k.id, k.name, k.role, k.prefix, k.created_at, k.expires_at, k.last_used_at,"
    " k.revoked_at, k.replaced_by, CASE WHEN c.id IS NULL THEN NULL ELSE"
    " jsonb_build_object('id', c.id, 'email', c.email, 'name', c.name) END AS created_by"
    " FROM api_keys k LEFT JOIN users c ON c.id = k.created_by WHERE k.tenant_id = $1")


async def key_views(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's keys as the API lists them: prefixes only, with who created each."""
    rows = await pool.fetch(f"{KEY_VIEW_SQL} ORDER BY k.created_at, k.id",
                            path_uuid(tenant_id, "tenant"))
    return [plain(r) for r in rows]


async def key_view(db: asyncpg.Pool | asyncpg.Connection, tenant_id: str, key_id: str
                   ) -> dict[str, Any]:
    row = await db.fetchrow(f"{KEY_VIEW_SQL} AND k.id = $2", path_uuid(tenant_id, "tenant"),
                            _uuid(key_id))
    if row is None:
        raise NotFound("api key not found")
    return plain(row)


async def revoke_key(conn: asyncpg.Connection | asyncpg.Pool, key_id: str,
                     tenant_id: str | None = None) -> dict[str, Any]:
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
        " RETURNING id, tenant_id, prefix, role, revoked_at",
        _uuid(key_id), tenant_id,
    )
    if row is None:
        raise NotFound("api key not found")
    return plain(row)


async def set_key_role(conn: asyncpg.Connection, key_id: str, role: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "UPDATE api_keys SET role = $2 WHERE id = $1 AND revoked_at IS NULL"
        " RETURNING id, tenant_id, prefix, role",
        _uuid(key_id), role,
    )
    if row is None:
        raise NotFound("api key not found")
    return plain(row)


async def rotate_key(conn: asyncpg.Connection, pepper: bytes, key_id: str,
                     tenant_id: str | None = None, created_by: str | None = None
                     ) -> tuple[dict[str, Any], str]:
    """Issue a successor; the old key stays valid for 24 hours. The successor keeps the
    expiry the old key was created with (not the grace end of an earlier rotation)."""
    old = await conn.fetchrow(
        "SELECT id, tenant_id, name, role, user_id,"
        " CASE WHEN replaced_by IS NULL THEN expires_at END AS expires_at"
        " FROM api_keys WHERE id = $1"
        " AND ($2::uuid IS NULL OR tenant_id = $2) AND revoked_at IS NULL FOR UPDATE",
        _uuid(key_id), tenant_id,
    )
    if old is None:
        raise NotFound("api key not found")
    new, plaintext = await insert_key(conn, pepper, str(old["tenant_id"]), old["role"],
                                      old["name"], old["user_id"],
                                      expires_at=old["expires_at"], created_by=created_by)
    await conn.execute(
        "UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'),"
        " now() + interval '24 hours'), replaced_by = $2 WHERE id = $1",
        old["id"], uuid.UUID(new["id"]),
    )
    return new, plaintext


# --- tenants and users -------------------------------------------------------------------


async def create_tenant(conn: asyncpg.Connection, name: str, owner_email: str,
                        rate_limits: Mapping[str, int]) -> dict[str, Any]:
    tenant_id, owner_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO tenants (id, name, rate_limits) VALUES ($1, $2, $3)",
                       tenant_id, name, dict(rate_limits))
    await conn.execute(
        "INSERT INTO users (id, tenant_id, email, role, status, email_verified)"
        " VALUES ($1, $2, $3, 'admin', 'active', true)",
        owner_id, tenant_id, owner_email,
    )
    await conn.execute("UPDATE tenants SET owner_id = $2 WHERE id = $1", tenant_id, owner_id)
    return {"id": str(tenant_id), "name": name, "owner_id": str(owner_id),
            "rate_limits": dict(rate_limits)}


async def get_tenant(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT id, name, owner_id, rate_limits, created_at FROM tenants WHERE id = $1",
        path_uuid(tenant_id, "tenant"),
    )
    if row is None:
        raise NotFound("tenant not found")
    return plain(row)


async def set_rate_limit(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, name: str,
                         limit: int | None) -> dict[str, Any]:
    """Override one of the tenant's limits per minute; None restores the default."""
    row = await conn.fetchrow(
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
    # Their browser sessions end with them: the next request is refused.
    await end_sessions_of(conn, row["id"])
    return plain(row)


def _maybe_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- sign-in, sessions, password resets --------------------------------------------------

MEMBER_COLUMNS = ("u.id, u.email, u.name, u.role, u.tenant_id, u.status, u.email_verified,"
                  " u.last_active_at")


@dataclass(frozen=True)
class SessionRecord:
    id: str
    user_id: str
    tenant_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    role: str
    status: str
    rate_limits: dict[str, int]


async def sign_in_candidate(conn: asyncpg.Connection, email: str, tenant_id: uuid.UUID | None
                            ) -> dict[str, Any] | None:
    """The active membership an email signs in to: the given tenant's, else the most
    recently active one."""
    row = await conn.fetchrow(
        f"SELECT {MEMBER_COLUMNS}, u.password_hash FROM users u"
        " WHERE lower(u.email) = lower($1) AND u.status = 'active'"
        " AND ($2::uuid IS NULL OR u.tenant_id = $2)"
        " ORDER BY u.last_active_at DESC NULLS LAST, u.created_at DESC LIMIT 1",
        email, tenant_id,
    )
    return plain(row) if row is not None else None


async def lowered(conn: asyncpg.Connection, email: str) -> str:
    """The email lower-cased as `sign_in_candidate` compares it."""
    found: str = await conn.fetchval("SELECT lower($1)", email)
    return found


async def member(conn: asyncpg.Connection | asyncpg.Pool, user_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {MEMBER_COLUMNS} FROM users u WHERE u.id = $1",
                              uuid.UUID(user_id))
    if row is None:
        raise NotFound("team member not found")
    return plain(row)


async def recent_failures(conn: asyncpg.Connection, subject: bytes, window: float
                          ) -> tuple[int, datetime | None]:
    """Failed sign-ins of `subject` within the last `window` seconds, and the oldest."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(failed_at) AS oldest FROM sign_in_failures"
        " WHERE subject = $1 AND failed_at > now() - make_interval(secs => $2)",
        subject, window,
    )
    assert row is not None
    return int(row["n"]), row["oldest"]


async def record_attempt(conn: asyncpg.Connection, subjects: list[bytes]) -> datetime:
    """A sign-in attempt, counted as a failure of each subject until `forget_attempt`:
    when it was recorded."""
    at: datetime = await conn.fetchval(
        "INSERT INTO sign_in_failures (subject) SELECT unnest($1::bytea[])"
        " RETURNING failed_at", subjects)
    return at


async def forget_attempt(conn: asyncpg.Connection, subjects: list[bytes], at: datetime
                         ) -> None:
    """The attempt recorded `at` did not fail (it succeeded, or was refused unchecked):
    one row of each subject goes (rows alike are one as good as another)."""
    await conn.execute(
        "DELETE FROM sign_in_failures WHERE ctid IN (SELECT DISTINCT ON (subject) ctid"
        " FROM sign_in_failures WHERE subject = ANY($1::bytea[]) AND failed_at = $2)",
        subjects, at)


async def prune_failures(conn: asyncpg.Connection, window: float) -> None:
    await conn.execute("DELETE FROM sign_in_failures"
                       " WHERE failed_at < now() - make_interval(secs => $1)", window)


async def clear_failures(conn: asyncpg.Connection, subject: bytes) -> None:
    await conn.execute("DELETE FROM sign_in_failures WHERE subject = $1", subject)


async def insert_session(conn: asyncpg.Connection, token_digest: bytes, user_id: str,
                         tenant_id: str, expires_at: datetime, user_agent: str | None,
                         ip_address: str | None) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, token_digest, user_id, tenant_id, expires_at, user_agent,"
        " ip_address) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        uuid.uuid4(), token_digest, uuid.UUID(user_id), uuid.UUID(tenant_id), expires_at,
        user_agent, ip_address,
    )
    await conn.execute("UPDATE users SET last_active_at = now() WHERE id = $1",
                       uuid.UUID(user_id))


async def find_session(pool: asyncpg.Pool, token_digest: bytes) -> SessionRecord | None:
    row = await pool.fetchrow(
        "SELECT s.id, s.user_id, s.tenant_id, s.created_at, s.last_seen_at, s.expires_at,"
        " u.role, u.status, t.rate_limits"
        " FROM sessions s JOIN users u ON u.id = s.user_id JOIN tenants t ON t.id = s.tenant_id"
        " WHERE s.token_digest = $1",
        token_digest,
    )
    return SessionRecord(**plain(row)) if row is not None else None


async def touch_session(pool: asyncpg.Pool, session_id: str, user_id: str) -> datetime:
    """The session was used: its idle clock restarts, and its member was active."""
    at: datetime = await pool.fetchval(
        "WITH s AS (UPDATE sessions SET last_seen_at = now() WHERE id = $1"
        " RETURNING last_seen_at)"
        " UPDATE users SET last_active_at = s.last_seen_at FROM s WHERE users.id = $2"
        " RETURNING s.last_seen_at",
        uuid.UUID(session_id), uuid.UUID(user_id),
    )
    return at


async def end_session(pool: asyncpg.Pool | asyncpg.Connection, user_id: str,
                      session_id: uuid.UUID) -> bool:
    done = await pool.fetchval(
        "DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING true",
        session_id, uuid.UUID(user_id))
    return bool(done)


async def end_sessions_of(conn: asyncpg.Connection, user_id: uuid.UUID | str) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", _as_uuid(user_id))


async def list_sessions(pool: asyncpg.Pool, user_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, created_at, last_seen_at, expires_at, user_agent, ip_address"
        " FROM sessions WHERE user_id = $1 ORDER BY last_seen_at DESC",
        uuid.UUID(user_id))
    return [plain(r) for r in rows]


async def prune_sessions(pool: asyncpg.Pool, idle_seconds: float) -> int:
    """Sessions past their absolute or idle end, which nobody can use any more."""
    done: str = await pool.execute(
        "DELETE FROM sessions WHERE expires_at < now()"
        " OR last_seen_at < now() - make_interval(secs => $1)", idle_seconds)
    return int(done.split()[-1])


async def pending_invitation(conn: asyncpg.Connection, token_digest: bytes
                             ) -> dict[str, Any] | None:
    """An invitation that can still be accepted, locked, with its member."""
    row = await conn.fetchrow(
        "SELECT i.user_id, i.tenant_id, u.email FROM invitations i"
        " JOIN users u ON u.id = i.user_id"
        " WHERE i.token_digest = $1 AND i.accepted_at IS NULL AND i.expires_at > now()"
        " AND u.status = 'pending' FOR UPDATE OF i, u",
        token_digest)
    return plain(row) if row is not None else None


async def accept_invitation(conn: asyncpg.Connection, token_digest: bytes, user_id: str,
                            password_hash: str, name: str | None) -> None:
    await conn.execute("UPDATE invitations SET accepted_at = now() WHERE token_digest = $1",
                       token_digest)
    await conn.execute(
        "UPDATE users SET status = 'active', email_verified = true, password_hash = $2,"
        " password_changed_at = now(), name = coalesce($3, name) WHERE id = $1",
        uuid.UUID(user_id), password_hash, name)


async def active_members_by_email(conn: asyncpg.Connection, email: str
                                  ) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT u.id, u.tenant_id, u.email, t.name AS organization FROM users u"
        " JOIN tenants t ON t.id = u.tenant_id"
        " WHERE lower(u.email) = lower($1) AND u.status = 'active'", email)
    return [plain(r) for r in rows]


async def resets_since(conn: asyncpg.Connection, user_id: str, seconds: float) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM password_resets WHERE user_id = $1"
        " AND created_at > now() - make_interval(secs => $2)", uuid.UUID(user_id), seconds)
    return count


async def insert_password_reset(conn: asyncpg.Connection, token_digest: bytes, user_id: str,
                                tenant_id: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO password_resets (token_digest, user_id, tenant_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        token_digest, uuid.UUID(user_id), uuid.UUID(tenant_id), expires_at)


async def usable_password_reset(conn: asyncpg.Connection, token_digest: bytes
                                ) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT r.user_id, u.email FROM password_resets r JOIN users u ON u.id = r.user_id"
        " WHERE r.token_digest = $1 AND r.used_at IS NULL AND r.expires_at > now()"
        " AND u.status = 'active' FOR UPDATE OF r, u", token_digest)
    return plain(row) if row is not None else None


async def set_password(conn: asyncpg.Connection, user_id: str, password_hash: str, *,
                       verified: bool) -> None:
    """A new password: every reset link still open is spent, every session ends.
    `verified`: it came through a link mailed to the member, so the address is theirs."""
    await conn.execute(
        "UPDATE users SET password_hash = $2, password_changed_at = now(),"
        " email_verified = email_verified OR $3 WHERE id = $1",
        uuid.UUID(user_id), password_hash, verified)
    await conn.execute("UPDATE password_resets SET used_at = now()"
                       " WHERE user_id = $1 AND used_at IS NULL", uuid.UUID(user_id))
    await end_sessions_of(conn, user_id)


async def members_for_operator(conn: asyncpg.Connection, email: str,
                               tenant_id: uuid.UUID | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, tenant_id, email, status FROM users WHERE lower(email) = lower($1)"
        " AND status <> 'removed' AND ($2::uuid IS NULL OR tenant_id = $2)",
        email, tenant_id)
    return [plain(r) for r in rows]


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


# --- organization settings -----------------------------------------------------------------

ORGANIZATION_COLUMNS = "id, name, timezone, retention_months, owner_id, created_at, version"


def _organization(row: asyncpg.Record) -> dict[str, Any]:
    return {**dict(row), "id": str(row["id"]),
            "owner_id": str(row["owner_id"]) if row["owner_id"] else None}


async def organization_of(pool: asyncpg.Pool, tenant_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(f"SELECT {ORGANIZATION_COLUMNS} FROM tenants WHERE id = $1",
                              uuid.UUID(tenant_id))
    if row is None:
        raise NotFound("organization not found")
    return _organization(row)


async def update_organization(conn: asyncpg.Connection, tenant_id: str, name: str | None,
                              timezone: str | None, retention_months: int | None = None
                              ) -> dict[str, Any]:
    """Change what was given (None keeps a value) and count the change in `version`."""
    row = await conn.fetchrow(
        "UPDATE tenants SET name = coalesce($2, name), timezone = coalesce($3, timezone),"
        " retention_months = coalesce($4, retention_months),"
        f" version = version + 1 WHERE id = $1 RETURNING {ORGANIZATION_COLUMNS}",
        uuid.UUID(tenant_id), name, timezone, retention_months)
    if row is None:
        raise NotFound("organization not found")
    return _organization(row)


# --- team roles and invitations resent -----------------------------------------------------


async def team_member_for_update(conn: asyncpg.Connection, tenant_id: str, user_id: uuid.UUID
                                 ) -> dict[str, Any]:
    """A member of the tenant (invited or active), locked for a change."""
    row = await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
        " AND status <> 'removed' FOR UPDATE",
        path_uuid(tenant_id, "tenant"), user_id)
    if row is None:
        raise NotFound("team member not found")
    return plain(row)


async def set_user_role(conn: asyncpg.Connection, user_id: uuid.UUID, role: str
                        ) -> dict[str, Any]:
    row = await conn.fetchrow(f"UPDATE users SET role = $2 WHERE id = $1 RETURNING {USER_COLUMNS}",
                              user_id, role)
    if row is None:
        raise NotFound("team member not found")
    return plain(row)


async def replace_invitation(conn: asyncpg.Connection, user_id: uuid.UUID, tenant_id: str,
                             token_digest: bytes, expires_at: datetime) -> None:
    """Every open invitation of the member ends now; the new one takes their place."""
    await conn.execute(
        "UPDATE invitations SET expires_at = least(expires_at, now())"
        " WHERE user_id = $1 AND accepted_at IS NULL", user_id)
    await conn.execute(
        "INSERT INTO invitations (token_digest, user_id, tenant_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        token_digest, user_id, path_uuid(tenant_id, "tenant"), expires_at)
