"""Use cases that change the webhooks schema: each owns its transaction and hands its
connection to the store, which holds the SQL. The API calls these for every write; so do
the background workers (sealing, purging, expanding mail) and `reencrypt`. Reads go
through views.py. (The delivery worker records its attempts in transactions of its own,
see delivery.py, and the consumer's handlers run in the consumer's.)"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.crypto import UndecryptableSecret
from resonanz.shared.errors import Conflict

from .domain import MAX_RETIRED_SECRETS, SECRET_OVERLAP
from .sealing import CURRENT, Retired, SealedSecrets, SecretBox
from .store import deliveries, outgoing_mail, subscriptions, wake_dispatchers
from .store.outgoing_mail import Mail
from .store.subscriptions import Subscription

log = logging.getLogger(__name__)

DISABLED_BY_ADMIN = "disabled by an admin"


# --- subscriptions ------------------------------------------------------------------------


async def create_subscription(pool: asyncpg.Pool, box: SecretBox, tenant_id: uuid.UUID,
                              url: str, events: list[str], description: str | None,
                              secret: str) -> Subscription:
    subscription_id = uuid.uuid4()
    async with pool.acquire() as conn:
        return await subscriptions.insert(conn, subscription_id, tenant_id, url, events,
                                          description, box.seal(CURRENT, subscription_id, secret))


async def change_subscription(pool: asyncpg.Pool, tenant_id: uuid.UUID,
                              subscription_id: uuid.UUID, changes: dict[str, Any],
                              enabled: bool | None, now: datetime) -> Subscription:
    """Change url, events and description (the keys in `changes`), then enable or disable
    the endpoint when `enabled` says so: one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        sub = await subscriptions.get_for_update(conn, tenant_id, subscription_id)
        if changes:
            sub = await subscriptions.update(conn, tenant_id, subscription_id, changes)
        if enabled is True and not sub.enabled:
            sub = await subscriptions.enable(conn, tenant_id, subscription_id)
        elif enabled is False and sub.enabled:
            sub = await disable_endpoint(conn, sub.id, DISABLED_BY_ADMIN, now) or sub
    return sub


async def enable_subscription(pool: asyncpg.Pool, tenant_id: uuid.UUID,
                              subscription_id: uuid.UUID) -> Subscription:
    async with pool.acquire() as conn:
        return await subscriptions.enable(conn, tenant_id, subscription_id)


async def disable_endpoint(conn: asyncpg.Connection, subscription_id: str, reason: str,
                           now: datetime) -> Subscription | None:
    """Stop sending to the endpoint; what was still queued for it counts as failed (the
    tenant can recover it after enabling). None if it was disabled already. A step of the
    caller's transaction: an admin's change above, or the delivery worker's verdict."""
    disabled = await subscriptions.disable(conn, uuid.UUID(subscription_id), reason, now)
    if disabled is not None:
        await deliveries.fail_pending(conn, uuid.UUID(subscription_id))
    return disabled


async def delete_subscription(pool: asyncpg.Pool, tenant_id: uuid.UUID,
                              subscription_id: uuid.UUID, now: datetime) -> None:
    """Gone for the tenant; what was queued for it is cancelled."""
    async with pool.acquire() as conn, conn.transaction():
        await subscriptions.mark_deleted(conn, tenant_id, subscription_id, now)
        await deliveries.cancel_pending(conn, subscription_id)


async def rotate_secret(pool: asyncpg.Pool, box: SecretBox, tenant_id: uuid.UUID,
                        subscription_id: uuid.UUID, new_secret: str, now: datetime
                        ) -> Subscription:
    """The old secret keeps signing, beside the new one, for the overlap; so does every
    secret an earlier rotation retired, until its own time. They are opened and sealed
    again: a sealed value opens only in the column it was sealed for."""
    async with pool.acquire() as conn, conn.transaction():
        held = await subscriptions.secrets_for_rotation(conn, tenant_id, subscription_id)
        retired = _retired_on_rotation(box, subscription_id, held, now)
        return await subscriptions.store_rotated(
            conn, subscription_id, box.seal(CURRENT, subscription_id, new_secret),
            box.seal_retired(subscription_id, retired),
            max((until for _, until in retired), default=None))


def _retired_on_rotation(box: SecretBox, subscription_id: uuid.UUID, held: asyncpg.Record,
                         now: datetime) -> Retired:
    """The current secret, for the overlap, and the retired ones still within their time,
    the newest MAX_RETIRED_SECRETS of them. A secret no key opens any more (its key was
    lost) is left out: rotating is then how the tenant gets a working secret back, without
    an overlap for that one."""
    kept: list[tuple[str, datetime]] = []
    try:
        current = box.stored(CURRENT, subscription_id, held["secret"], held["secret_sealed"])
        assert current is not None, "subscriptions_secret_kept"
        kept.append((current, now + SECRET_OVERLAP))
    except UndecryptableSecret as exc:
        log.warning("subscription %s: its secret does not open (%s); rotated without"
                    " an overlap", subscription_id, exc)
    try:
        kept.extend((secret, until) for secret, until in box.retired(held, subscription_id)
                    if until > now)
    except UndecryptableSecret as exc:
        log.warning("subscription %s: its previous secrets do not open (%s); they stop"
                    " signing now", subscription_id, exc)
    kept.sort(key=lambda held_until: held_until[1], reverse=True)
    return tuple(kept[:MAX_RETIRED_SECRETS])


# --- the delivery log: test events, resending, recovering -----------------------------------


async def _require_enabled(conn: asyncpg.Connection, tenant_id: uuid.UUID,
                           subscription_id: uuid.UUID) -> Subscription:
    sub = await subscriptions.get_for_update(conn, tenant_id, subscription_id)
    if not sub.enabled:
        raise Conflict("the subscription is disabled; enable it first",
                       details=[{"field": "id", "message": sub.disabled_reason or "disabled"}])
    return sub


async def send_test_event(pool: asyncpg.Pool, tenant_id: uuid.UUID,
                          subscription_id: uuid.UUID, event_type: str, webhook_type: str,
                          body: bytes, event_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """One delivery to this endpoint only, due at once, signed and retried like any other."""
    async with pool.acquire() as conn, conn.transaction():
        await _require_enabled(conn, tenant_id, subscription_id)
        delivery = await deliveries.insert_test(conn, tenant_id, subscription_id, event_type,
                                                webhook_type, body, event_id, now)
        await wake_dispatchers(conn)
    return delivery


async def resend(pool: asyncpg.Pool, tenant_id: uuid.UUID, subscription_id: uuid.UUID,
                 delivery: uuid.UUID, now: datetime) -> dict[str, Any]:
    """Queue one delivery again, now, with a fresh retry cycle and the same webhook-id."""
    async with pool.acquire() as conn, conn.transaction():
        await _require_enabled(conn, tenant_id, subscription_id)
        queued = await deliveries.requeue(conn, tenant_id, subscription_id, delivery, now)
        await wake_dispatchers(conn)
    return queued


async def recover(pool: asyncpg.Pool, tenant_id: uuid.UUID, subscription_id: uuid.UUID,
                  since: datetime, now: datetime) -> int:
    """Queue again every failed delivery created since `since`."""
    async with pool.acquire() as conn, conn.transaction():
        await _require_enabled(conn, tenant_id, subscription_id)
        count = await deliveries.requeue_failed(conn, tenant_id, subscription_id, since, now)
        await wake_dispatchers(conn)
    return count


# --- background work: retention, sealing, mail ---------------------------------------------


async def purge_log(pool: asyncpg.Pool, older_than: datetime, batch: int) -> int:
    """Delete one batch of finished deliveries (with their attempts) and of sent, expanded
    or failed mail created before `older_than`; how many rows went, at most per table.
    Pending work is never purged."""
    async with pool.acquire() as conn, conn.transaction():
        purged = await deliveries.purge(conn, older_than, batch)
        mails = await outgoing_mail.purge(conn, older_than, batch)
    return max(purged, mails)


async def expand_mail(pool: asyncpg.Pool, box: SecretBox, held: Mail, recipients: list[str]
                      ) -> None:
    """Replace a mail to a tenant's admins by one mail per admin, atomically."""
    async with pool.acquire() as conn, conn.transaction():
        await outgoing_mail.expand(conn, box, held, recipients)


async def seal_plaintext(pool: asyncpg.Pool, box: SecretBox, limit: int = 100) -> int:
    """Seal one batch of the secrets older releases left in plaintext; how many rows it
    took. Idempotent; rows another replica is sealing are skipped, not waited for."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await subscriptions.plaintext_secrets(conn, limit)
        updates = [box.row_update(row, rotate=False) for row in rows]
        await subscriptions.store_sealed(conn, [u for u in updates if u is not None])
    if rows:
        log.info("sealed the plaintext signing secrets of %d subscriptions", len(rows))
    return len(rows)


@dataclass
class Resealed:
    subscriptions: int = 0
    rewritten: int = 0
    undecryptable: list[str] = field(default_factory=list)


async def reseal_all(pool: asyncpg.Pool, box: SecretBox, batch: int = 100) -> Resealed:
    """Seal every secret under the first key of the ring that is not already (and any
    left in plaintext): batches of rows locked in id order, one transaction each."""
    report, after = Resealed(), uuid.UUID(int=0)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await subscriptions.secrets_after(conn, after, batch)
            updates = [u for row in rows if (u := _resealed(box, row, report)) is not None]
            await subscriptions.store_sealed(conn, updates)
        if not rows:
            return report
        report.subscriptions += len(rows)
        report.rewritten += len(updates)
        after = rows[-1]["id"]


def _resealed(box: SecretBox, row: asyncpg.Record, report: Resealed) -> SealedSecrets | None:
    try:
        return box.row_update(row, rotate=True)
    except UndecryptableSecret as exc:
        report.undecryptable.append(str(row["id"]))
        log.error("subscription %s: its signing secret does not open (%s)", row["id"], exc)
        return None
