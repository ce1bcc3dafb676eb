"""Team members' identity: sign-in, invitations accepted, passwords reset and set.

Each command owns its transaction. Messages never tell an unknown email from a wrong
password (or a pending or removed member): all are "email or password is incorrect",
checked against a password hash either way, so they also take as long.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from resonanz.shared.crypto import KeyRing
from resonanz.shared.errors import DomainError, InvalidInput, TooManyRequests, Unauthenticated
from resonanz.shared.events import PasswordResetRequested, new_event
from resonanz.shared.outbox import enqueue

from . import passwords, store
from .sessions import Timeouts, csrf_token, new_token, session_body, token_digest

SOURCE = "resonanz/gateway"
WRONG_CREDENTIALS = "email or password is incorrect"
# Failed sign-ins allowed per window: per account (the email as typed, known or not) and
# per client address.
SIGN_IN_WINDOW = 15 * 60.0
FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 20
RESET_TTL = timedelta(hours=1)
RESETS_PER_MEMBER_PER_HOUR = 3


@dataclass(frozen=True)
class Device:
    """Where a session is used from, as its owner sees it in the session list."""

    user_agent: str | None
    ip_address: str | None


@dataclass(frozen=True)
class Started:
    """A new session: its token for the cookie (given once) and the session body."""

    token: str
    body: dict[str, Any]


# --- sign-in -----------------------------------------------------------------------------


def _subject(pepper: bytes, kind: str, value: str) -> bytes:
    return hmac.new(pepper, f"sign-in:{kind}:{value}".encode(), hashlib.sha256).digest()


async def sign_in(pool: asyncpg.Pool, pepper: bytes, timeouts: Timeouts, email: str,
                  password: str, tenant_id: uuid.UUID | None, device: Device) -> Started:
    address = _subject(pepper, "address", device.ip_address or "")
    async with pool.acquire() as conn:
        # The account as the database finds the member (lower(), not Python's casefold(),
        # which tells `İ` from `i` where the database does not).
        account = _subject(pepper, "account", await store.lowered(conn, email.strip()))
        # Counted as failed before the password is checked, so that attempts made at once
        # see each other: no more than the limit of them get past the check.
        at = await store.record_attempt(conn, [account, address])
        try:
            await _refuse_when_throttled(conn, account, FAILURES_PER_ACCOUNT)
            await _refuse_when_throttled(conn, address, FAILURES_PER_ADDRESS)
        except TooManyRequests:
            await store.forget_attempt(conn, [account, address], at)
            raise
        found = await store.sign_in_candidate(conn, email.strip(), tenant_id)
    if not await passwords.verify(found["password_hash"] if found else None, password):
        async with pool.acquire() as conn:
            await store.prune_failures(conn, SIGN_IN_WINDOW)
        raise Unauthenticated(WRONG_CREDENTIALS)
    assert found is not None
    async with pool.acquire() as conn, conn.transaction():
        await store.clear_failures(conn, account)
        await store.forget_attempt(conn, [address], at)
        return await start_session(conn, pepper, timeouts, found["id"], found["tenant_id"],
                                   device)


async def _refuse_when_throttled(conn: asyncpg.Connection, subject: bytes, limit: int) -> None:
    failures, oldest = await store.recent_failures(conn, subject, SIGN_IN_WINDOW)
    # `failures` counts the attempt being made.
    if failures <= limit or oldest is None:
        return
    wait = (oldest + timedelta(seconds=SIGN_IN_WINDOW) - datetime.now(UTC)).total_seconds()
    retry = max(1, math.ceil(wait))
    raise TooManyRequests(f"too many failed sign-ins: retry in {retry} s",
                          headers={"Retry-After": str(retry)},
                          details=[{"field": None, "message": f"{limit} failed sign-ins per"
                                    f" {int(SIGN_IN_WINDOW // 60)} minutes"}])


async def start_session(conn: asyncpg.Connection, pepper: bytes, timeouts: Timeouts,
                        user_id: str, tenant_id: str, device: Device) -> Started:
    """A fresh token on every sign-in: a session id planted before cannot be taken over."""
    token = new_token()
    digest = token_digest(token)
    now = datetime.now(UTC)
    expires_at = now + timeouts.absolute
    await store.insert_session(conn, digest, user_id, tenant_id, expires_at,
                               device.user_agent, device.ip_address)
    member = await store.member(conn, user_id)
    body = session_body(member, csrf_token(pepper, digest), expires_at,
                        timeouts.idle_end(now, expires_at))
    return Started(token, body)


async def describe_session(pool: asyncpg.Pool, pepper: bytes, timeouts: Timeouts,
                           record: store.SessionRecord, digest: bytes) -> dict[str, Any]:
    member = await store.member(pool, record.user_id)
    return session_body(member, csrf_token(pepper, digest), record.expires_at,
                        timeouts.idle_end(record.last_seen_at, record.expires_at))


# --- invitations ---------------------------------------------------------------------------


def _bad_token(what: str) -> InvalidInput:
    return InvalidInput(f"{what} is invalid or has expired",
                        details=[{"field": "token", "message": "invalid, used or expired"}])


async def accept_invitation(pool: asyncpg.Pool, pepper: bytes, timeouts: Timeouts,
                            token: str, password: str, name: str | None, device: Device
                            ) -> Started:
    """The invitee sets a password: active, email verified (the link came by mail), and
    signed in. The token works once."""
    passwords.check_policy(password, None)
    digest = hashlib.sha256(token.encode()).digest()
    async with pool.acquire() as conn, conn.transaction():
        invitation = await store.pending_invitation(conn, digest)
        if invitation is None:
            raise _bad_token("invitation")
        passwords.check_policy(password, invitation["email"])
        hashed = await passwords.hash_password(password)
        await store.accept_invitation(conn, digest, invitation["user_id"], hashed, name)
        return await start_session(conn, pepper, timeouts, invitation["user_id"],
                                   invitation["tenant_id"], device)


# --- passwords -----------------------------------------------------------------------------


async def request_password_reset(pool: asyncpg.Pool, ring: KeyRing, topic: str, email: str,
                                 request_id: str | None) -> None:
    """A reset mail to every active membership of `email` (each has its own password),
    at most a few an hour each; nothing at all for an email that is no member's. The
    caller answers the same either way."""
    async with pool.acquire() as conn, conn.transaction():
        for member in await store.active_members_by_email(conn, email):
            if await store.resets_since(conn, member["id"], 3600) >= RESETS_PER_MEMBER_PER_HOUR:
                continue
            await _issue_reset(conn, ring, topic, member, request_id)


async def _issue_reset(conn: asyncpg.Connection, ring: KeyRing, topic: str,
                       member: dict[str, Any], request_id: str | None) -> None:
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + RESET_TTL
    await store.insert_password_reset(conn, hashlib.sha256(token.encode()).digest(),
                                      member["id"], member["tenant_id"], expires_at)
    data = PasswordResetRequested(
        user_id=member["id"], email=member["email"], organization=member["organization"],
        expires_at=expires_at,
        token_sealed=PasswordResetRequested.seal_token(ring, member["id"], token))
    await enqueue(conn, new_event(source=SOURCE,
                                  tenant_id=member["tenant_id"], subject=member["id"],
                                  data=data, request_id=request_id), topic)


async def complete_password_reset(pool: asyncpg.Pool, token: str, password: str) -> None:
    """The new password holds; the link and every other open one are spent, and every
    session of the member ends."""
    passwords.check_policy(password, None)
    digest = hashlib.sha256(token.encode()).digest()
    async with pool.acquire() as conn, conn.transaction():
        reset = await store.usable_password_reset(conn, digest)
        if reset is None:
            raise _bad_token("password reset link")
        passwords.check_policy(password, reset["email"])
        await store.set_password(conn, reset["user_id"],
                                 await passwords.hash_password(password), verified=True)


async def set_password_by_operator(pool: asyncpg.Pool, email: str, tenant_id: uuid.UUID | None,
                                   password: str) -> dict[str, Any]:
    """The operator CLI's `set-password`: for an active member; their sessions end."""
    async with pool.acquire() as conn, conn.transaction():
        found = await store.members_for_operator(conn, email, tenant_id)
        if len(found) != 1:
            raise DomainError("no such member" if not found else
                              "the email is a member of several tenants: give --tenant")
        target = found[0]
        if target["status"] != "active":
            raise DomainError("the member has not accepted the invitation yet")
        passwords.check_policy(password, target["email"])
        await store.set_password(conn, target["id"], await passwords.hash_password(password),
                                 verified=False)
    return {"id": target["id"], "tenant_id": target["tenant_id"], "email": target["email"]}


async def end_session(pool: asyncpg.Pool, user_id: str, session_id: uuid.UUID) -> bool:
    """Sign one of the member's own sessions out; False if it was not theirs or is over."""
    async with pool.acquire() as conn:
        return await store.end_session(conn, user_id, session_id)
