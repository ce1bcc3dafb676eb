"""Use cases that change the gateway's schema: each owns its transaction, hands its
connection to the store (which holds the SQL) and writes its event to the outbox in the
same transaction. The public API's handlers (public/*.py) and the operator CLI (admin.py)
call these for every write; sign-in, sessions and password resets are commands of the
same shape in identity.py. Reads go from the handlers to the store's queries on the pool.

A change that can make a cached key wrong (revoked, rotated, its role changed, its
member removed) is reported done only once no gateway acts on the old state
(`key_changes.settle`)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from resonanz.shared.contracts import ApiKeyIn, OrganizationIn
from resonanz.shared.crypto import KeyRing
from resonanz.shared.errors import Conflict, Forbidden
from resonanz.shared.events import (
    ApiKeyChanged,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyRotated,
    TenantUpdated,
    UserInvited,
    UserRemoved,
    new_event,
)
from resonanz.shared.outbox import enqueue

from . import key_changes, store
from .api_keys import ROLE_RANK, status_of, view
from .auth import Principal

SOURCE = "resonanz/gateway"
INVITATION_TTL = timedelta(days=7)


# --- team members ------------------------------------------------------------------------


async def invite_member(pool: asyncpg.Pool, ring: KeyRing, topic: str, principal: Principal,
                        email: str, name: str | None, role: str, request_id: str | None
                        ) -> dict[str, Any]:
    """A pending member and a one-time invitation token: returned once, stored as a digest,
    and sealed in the event that has it mailed."""
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + INVITATION_TTL
    async with pool.acquire() as conn, conn.transaction():
        user = await store.invite_user(conn, principal.tenant_id, email, name, role,
                                       principal.user_id, _digest(token), expires_at)
        data = UserInvited(user_id=user["id"], email=email, role=role, expires_at=expires_at,
                           token_sealed=UserInvited.seal_token(ring, user["id"], token))
        await enqueue(conn, new_event(source=SOURCE,
                                      tenant_id=principal.tenant_id, subject=user["id"],
                                      data=data, request_id=request_id), topic)
    return {**user, "invitation_token": token, "invitation_expires_at": expires_at}


async def remove_member(pool: asyncpg.Pool, topic: str, principal: Principal,
                        user_id: uuid.UUID, request_id: str | None) -> dict[str, Any]:
    """Remove a member (their keys are revoked with them); the feedback service reassigns
    their open entries to the owner. Returns once no gateway accepts those keys.

    Ids are compared parsed: as strings, `ABC…` once passed for someone other than the
    owner `abc…` and removed them."""
    async with pool.acquire() as conn, conn.transaction():
        owner = await store.owner_of(conn, principal.tenant_id)
        if owner == user_id:
            raise Conflict("the organization owner cannot be removed",
                           details=[{"field": "id", "message": "owner"}])
        user = await store.remove_user(conn, principal.tenant_id, user_id)
        data = UserRemoved(user_id=user["id"], owner_id=str(owner) if owner else None)
        await enqueue(conn, new_event(source=SOURCE,
                                      tenant_id=principal.tenant_id, subject=user["id"],
                                      data=data, request_id=request_id), topic)
    await key_changes.settle(pool)
    return user


async def change_role(pool: asyncpg.Pool, principal: Principal, user_id: uuid.UUID, role: str
                      ) -> dict[str, Any]:
    """A member's new role, from their next request on (sessions are looked up on every
    request). Nobody changes their own role, and the owner stays an admin."""
    if principal.user_id is not None and uuid.UUID(principal.user_id) == user_id:
        raise Forbidden("you cannot change your own role: ask another admin",
                        details=[{"field": "id", "message": "your own"}])
    async with pool.acquire() as conn, conn.transaction():
        member = await store.team_member_for_update(conn, principal.tenant_id, user_id)
        if role != "admin" and await store.owner_of(conn, principal.tenant_id) == user_id:
            raise Conflict("the organization owner stays an admin",
                           details=[{"field": "role", "message": "owner"}])
        if member["role"] == role:
            return member
        return await store.set_user_role(conn, user_id, role)


async def resend_invitation(pool: asyncpg.Pool, ring: KeyRing, topic: str,
                            principal: Principal, user_id: uuid.UUID, request_id: str | None
                            ) -> dict[str, Any]:
    """A new invitation mailed to a member who has not accepted yet; the earlier links
    stop working."""
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + INVITATION_TTL
    async with pool.acquire() as conn, conn.transaction():
        user = await store.team_member_for_update(conn, principal.tenant_id, user_id)
        if user["status"] != "pending":
            raise Conflict("the member has accepted the invitation already",
                           details=[{"field": "id", "message": user["status"]}])
        await store.replace_invitation(conn, user_id, principal.tenant_id, _digest(token),
                                       expires_at)
        data = UserInvited(user_id=user["id"], email=user["email"], role=user["role"],
                           expires_at=expires_at,
                           token_sealed=UserInvited.seal_token(ring, user["id"], token))
        await enqueue(conn, new_event(source=SOURCE,
                                      tenant_id=principal.tenant_id, subject=user["id"],
                                      data=data, request_id=request_id), topic)
    return {**user, "invitation_token": token, "invitation_expires_at": expires_at}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# --- the organization ----------------------------------------------------------------------


async def change_organization(pool: asyncpg.Pool, topic: str, tenant_id: str,
                              change: OrganizationIn, request_id: str | None
                              ) -> dict[str, Any]:
    """The change and its event (`tenant.updated`: analytics counts days in the zone, the
    feedback service anonymises entries past the retention)."""
    async with pool.acquire() as conn, conn.transaction():
        organization = await store.update_organization(conn, tenant_id, change.name,
                                                       change.timezone, change.retention_months)
        data = TenantUpdated(name=organization["name"], timezone=organization["timezone"],
                             retention_months=organization["retention_months"],
                             version=organization["version"])
        await enqueue(conn, new_event(source=SOURCE, tenant_id=tenant_id,
                                      subject=tenant_id, data=data, request_id=request_id),
                      topic)
    return organization


# --- tenants and API keys --------------------------------------------------------------------


# Every key created, rotated or revoked is also an `api_key.*` event on the identity topic
# (prefix and role, never the key), written with the change: a security team's trail.


async def _key_event(conn: asyncpg.Connection, topic: str, data: ApiKeyChanged,
                     tenant_id: str, request_id: str | None) -> None:
    await enqueue(conn, new_event(source=SOURCE, tenant_id=tenant_id, subject=data.key_id,
                                  data=data, request_id=request_id), topic)


def _changed(kind: type[ApiKeyChanged], key: dict[str, Any], **more: Any) -> ApiKeyChanged:
    return kind(key_id=str(key["id"]), prefix=key["prefix"], role=key["role"], **more)


async def create_tenant(pool: asyncpg.Pool, pepper: bytes, topic: str, name: str,
                        owner_email: str, rate_limits: Mapping[str, int] | None = None
                        ) -> dict[str, Any]:
    """A tenant, its owner and the owner's admin key (the plaintext in this answer only),
    with its limits per minute where they differ from the defaults."""
    async with pool.acquire() as conn, conn.transaction():
        tenant = await store.create_tenant(conn, name, owner_email, rate_limits or {})
        key, plaintext = await store.insert_key(conn, pepper, tenant["id"], "admin", "owner",
                                                tenant["owner_id"])
        await _key_event(conn, topic, _changed(ApiKeyCreated, key), tenant["id"], None)
    return {"tenant": tenant, "api_key": plaintext, "key": key}


async def issue_key(pool: asyncpg.Pool, pepper: bytes, topic: str, tenant_id: str, role: str,
                    name: str) -> dict[str, Any]:
    """An operator's key for a tenant, of any role."""
    async with pool.acquire() as conn, conn.transaction():
        key, plaintext = await store.insert_key(conn, pepper, tenant_id, role, name)
        await _key_event(conn, topic, _changed(ApiKeyCreated, key), tenant_id, None)
    return {"api_key": plaintext, "key": key}


async def create_key(pool: asyncpg.Pool, pepper: bytes, topic: str, principal: Principal,
                     body: ApiKeyIn, request_id: str | None) -> dict[str, Any]:
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
        await _key_event(conn, topic, _changed(ApiKeyCreated, created), principal.tenant_id,
                         request_id)
    return {**view(key), "key": plaintext}


async def rotate_key(pool: asyncpg.Pool, pepper: bytes, topic: str, principal: Principal,
                     key_id: str, request_id: str | None) -> dict[str, Any]:
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
        await _key_event(conn, topic, _changed(ApiKeyRotated, created, replaces=str(old["id"])),
                         principal.tenant_id, request_id)
    await key_changes.settle(pool)
    return {**view(key), "key": plaintext}


async def rotate_key_by_operator(pool: asyncpg.Pool, pepper: bytes, topic: str, key_id: str
                                 ) -> dict[str, Any]:
    """As above, for any tenant's key; the successor's plaintext in this answer only."""
    async with pool.acquire() as conn, conn.transaction():
        key, plaintext = await store.rotate_key(conn, pepper, key_id)
        await _key_event(conn, topic, _changed(ApiKeyRotated, key, replaces=key_id),
                         str(key["tenant_id"]), None)
    await key_changes.settle(pool)
    return {"api_key": plaintext, "key": key}


async def revoke_key(pool: asyncpg.Pool, topic: str, key_id: str, tenant_id: str | None = None,
                     request_id: str | None = None) -> dict[str, Any]:
    """Revoked at once: when this returns, no gateway accepts the key any more. Only the
    tenant's own key when `tenant_id` is given (the operator's CLI gives none)."""
    async with pool.acquire() as conn, conn.transaction():
        revoked = await store.revoke_key(conn, key_id, tenant_id)
        await _key_event(conn, topic, _changed(ApiKeyRevoked, revoked),
                         str(revoked["tenant_id"]), request_id)
    await key_changes.settle(pool)
    return revoked


async def set_key_role(pool: asyncpg.Pool, key_id: str, role: str) -> dict[str, Any]:
    """What the key may do, on every gateway once this returns."""
    async with pool.acquire() as conn:
        changed = await store.set_key_role(conn, key_id, role)
    await key_changes.settle(pool)
    return changed


async def set_rate_limit(pool: asyncpg.Pool, tenant_id: str, name: str, limit: int | None
                         ) -> dict[str, Any]:
    """Override one of the tenant's limits per minute (None: the default again), on every
    gateway once this returns."""
    async with pool.acquire() as conn:
        changed = await store.set_rate_limit(conn, tenant_id, name, limit)
    await key_changes.settle(pool)
    return changed
