"""Team members: invite and remove, each with its event in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from resonanz.shared.crypto import KeyRing
from resonanz.shared.errors import Conflict, Forbidden
from resonanz.shared.events import UserInvited, UserRemoved, new_event
from resonanz.shared.outbox import enqueue

from . import store
from .auth import Principal

SOURCE = "resonanz/gateway"
INVITATION_TTL = timedelta(days=7)


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
    """Remove a member; the feedback service reassigns their open entries to the owner.

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
