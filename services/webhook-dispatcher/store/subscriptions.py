"""Subscriptions: the endpoints, their signing secrets (sealed at rest) and their health."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.errors import NotFound

from ..sealing import SealedSecrets

SUBSCRIPTION_COLUMNS = (
    "id, tenant_id, url, events, description, enabled, disabled_reason, disabled_at,"
    " failing_since, created_at, previous_until"
)
SECRET_COLUMNS = ("id, secret, secret_sealed, previous_secret, previous_secret_sealed,"
                  " previous_secrets_sealed")


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant_id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    previous_until: datetime | None


def subscription_of(row: asyncpg.Record) -> Subscription:
    values = dict(row)
    values["id"], values["tenant_id"] = str(row["id"]), str(row["tenant_id"])
    values["events"] = list(row["events"])
    return Subscription(**values)


def _found(row: asyncpg.Record | None) -> Subscription:
    if row is None:
        raise NotFound("webhook subscription not found")
    return subscription_of(row)


async def insert(conn: asyncpg.Connection, subscription_id: uuid.UUID, tenant_id: uuid.UUID,
                 url: str, events: list[str], description: str | None, secret_sealed: str
                 ) -> Subscription:
    return subscription_of(await conn.fetchrow(
        "INSERT INTO subscriptions (id, tenant_id, url, events, description, secret_sealed)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SUBSCRIPTION_COLUMNS}",
        subscription_id, tenant_id, url, events, description, secret_sealed,
    ))


async def tenants_subscribed(conn: asyncpg.Connection, tenant_ids: list[str],
                             names: tuple[str, ...]) -> set[str]:
    """Which of these tenants have an endpoint (enabled or not) that asked for any of `names`:
    fan-out's own condition, for work worth doing only when a delivery will be made."""
    rows = await conn.fetch(
        "SELECT DISTINCT tenant_id FROM subscriptions WHERE tenant_id = ANY($1::uuid[])"
        " AND events && $2::text[] AND deleted_at IS NULL", tenant_ids, list(names))
    return {str(row["tenant_id"]) for row in rows}


async def get_for_update(conn: asyncpg.Connection, tenant_id: uuid.UUID,
                         subscription_id: uuid.UUID) -> Subscription:
    """The tenant's subscription, locked until the command's transaction ends."""
    return _found(await conn.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2"
        " AND deleted_at IS NULL FOR NO KEY UPDATE",
        tenant_id, subscription_id,
    ))


async def update(conn: asyncpg.Connection, tenant_id: uuid.UUID, subscription_id: uuid.UUID,
                 changes: dict[str, Any]) -> Subscription:
    """Change url, events and description (only the keys in `changes`). A new URL is a new
    receiver: its health starts afresh."""
    return _found(await conn.fetchrow(
        "UPDATE subscriptions SET"
        " url = CASE WHEN $3 THEN $4 ELSE url END,"
        " events = CASE WHEN $5 THEN $6::text[] ELSE events END,"
        " description = CASE WHEN $7 THEN $8 ELSE description END,"
        " failing_since = CASE WHEN $3 AND $4 <> url THEN NULL ELSE failing_since END,"
        " last_failed_at = CASE WHEN $3 AND $4 <> url THEN NULL ELSE last_failed_at END"
        " WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
        f" RETURNING {SUBSCRIPTION_COLUMNS}",
        tenant_id, subscription_id, "url" in changes, changes.get("url"),
        "events" in changes, changes.get("events"), "description" in changes,
        changes.get("description"),
    ))


async def enable(conn: asyncpg.Connection, tenant_id: uuid.UUID, subscription_id: uuid.UUID
                 ) -> Subscription:
    return _found(await conn.fetchrow(
        "UPDATE subscriptions SET enabled = true, disabled_reason = NULL, disabled_at = NULL,"
        " failing_since = NULL WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
        f" RETURNING {SUBSCRIPTION_COLUMNS}",
        tenant_id, subscription_id,
    ))


async def disable(conn: asyncpg.Connection, subscription_id: uuid.UUID, reason: str,
                  now: datetime) -> Subscription | None:
    """None if it was disabled already."""
    row = await conn.fetchrow(
        "UPDATE subscriptions SET enabled = false, disabled_reason = $2, disabled_at = $3"
        f" WHERE id = $1 AND enabled RETURNING {SUBSCRIPTION_COLUMNS}",
        subscription_id, reason, now,
    )
    return None if row is None else subscription_of(row)


async def mark_deleted(conn: asyncpg.Connection, tenant_id: uuid.UUID,
                       subscription_id: uuid.UUID, now: datetime) -> None:
    done = await conn.fetchval(
        "UPDATE subscriptions SET deleted_at = $3, enabled = false WHERE tenant_id = $1"
        " AND id = $2 AND deleted_at IS NULL RETURNING true",
        tenant_id, subscription_id, now,
    )
    if not done:
        raise NotFound("webhook subscription not found")


# --- signing secrets ---------------------------------------------------------------------


async def secrets_for_rotation(conn: asyncpg.Connection, tenant_id: uuid.UUID,
                               subscription_id: uuid.UUID) -> asyncpg.Record:
    """The sealed secrets of the tenant's subscription, locked."""
    row = await conn.fetchrow(
        f"SELECT {SECRET_COLUMNS}, previous_until FROM subscriptions WHERE tenant_id = $1"
        " AND id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE",
        tenant_id, subscription_id,
    )
    if row is None:
        raise NotFound("webhook subscription not found")
    return row


async def store_rotated(conn: asyncpg.Connection, subscription_id: uuid.UUID,
                        secret_sealed: str, retired_sealed: str | None,
                        previous_until: datetime | None) -> Subscription:
    """The new current secret, and the retired ones in place of every older column."""
    return subscription_of(await conn.fetchrow(
        "UPDATE subscriptions SET secret = NULL, secret_sealed = $2, previous_secret = NULL,"
        " previous_secret_sealed = NULL, previous_secrets_sealed = $3, previous_until = $4"
        f" WHERE id = $1 RETURNING {SUBSCRIPTION_COLUMNS}",
        subscription_id, secret_sealed, retired_sealed, previous_until,
    ))


async def plaintext_secrets(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Rows older releases left a plaintext secret in, locked; rows another replica is
    sealing are skipped, not waited for."""
    return await conn.fetch(
        f"SELECT {SECRET_COLUMNS} FROM subscriptions WHERE secret IS NOT NULL"
        " OR previous_secret IS NOT NULL ORDER BY id LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED",
        limit,
    )


async def secrets_after(conn: asyncpg.Connection, after: uuid.UUID, limit: int
                        ) -> list[asyncpg.Record]:
    """The next rows' secrets in id order, locked."""
    return await conn.fetch(
        f"SELECT {SECRET_COLUMNS} FROM subscriptions WHERE id > $1 ORDER BY id"
        " LIMIT $2 FOR NO KEY UPDATE",
        after, limit,
    )


async def store_sealed(conn: asyncpg.Connection, updates: list[SealedSecrets]) -> None:
    """Write new sealed values; a column sealed anew loses its plaintext."""
    await conn.executemany(
        "UPDATE subscriptions SET secret_sealed = coalesce($2, secret_sealed),"
        " secret = CASE WHEN $2::text IS NULL THEN secret END,"
        " previous_secret_sealed = coalesce($3, previous_secret_sealed),"
        " previous_secret = CASE WHEN $3::text IS NULL THEN previous_secret END,"
        " previous_secrets_sealed = coalesce($4, previous_secrets_sealed) WHERE id = $1",
        [(u.subscription_id, u.secret, u.previous_secret, u.previous_secrets)
         for u in updates],
    )


# --- endpoint health ---------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointHealth:
    active: bool
    failing_since: datetime | None
    last_failed_at: datetime | None
    answering: bool  # its last attempt got an HTTP answer (delivery.EndpointSlots)


async def lock_endpoints_health(conn: asyncpg.Connection, subscription_ids: Iterable[str]
                                ) -> dict[str, EndpointHealth]:
    """Locked, in id order (as the success path locks them): failures of one endpoint are
    judged one at a time, and two dispatchers never wait on each other.

    The consumer's fan-out reads subscriptions without a lock, and deliveries have no
    foreign key to them (whose check would wait for this lock), so recording a dead
    endpoint's failures never stalls the fan-out to it, nor the other tenants' events in
    the same batch with it. The lock is FOR NO KEY UPDATE all the same: no key changes."""
    rows = await conn.fetch(
        "SELECT id, enabled AND deleted_at IS NULL AS active, failing_since, last_failed_at,"
        " answering FROM subscriptions WHERE id = ANY($1::uuid[]) ORDER BY id"
        " FOR NO KEY UPDATE",
        sorted({uuid.UUID(s) for s in subscription_ids}),
    )
    return {str(row["id"]): EndpointHealth(bool(row["active"]), row["failing_since"],
                                           row["last_failed_at"], row["answering"])
            for row in rows}


async def mark_endpoints_failing(conn: asyncpg.Connection,
                                 health: Mapping[str, EndpointHealth]) -> None:
    """After their failures: when the run of each began, when it last failed, and whether
    that last failure was an answer (a status that is not 2xx) or none."""
    await conn.execute(
        "UPDATE subscriptions s SET failing_since = u.since, last_failed_at = u.at,"
        " answering = u.answering FROM unnest($1::uuid[], $2::timestamptz[],"
        " $3::timestamptz[], $4::bool[]) AS u(id, since, at, answering)"
        " WHERE s.id = ANY($1::uuid[]) AND s.id = u.id",
        [uuid.UUID(s) for s in health], [h.failing_since for h in health.values()],
        [h.last_failed_at for h in health.values()], [h.answering for h in health.values()],
    )
