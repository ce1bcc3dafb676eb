"""Outgoing mail: notices queued in the transaction that caused them, claimed by the mail
worker with a lease, sent, failed or expanded into one mail per admin."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from resonanz.shared.crypto import UndecryptableSecret
from resonanz.shared.db import oldest_first_delete

from ..notices import Notice
from ..sealing import SecretBox
from . import wake_dispatchers

log = logging.getLogger(__name__)


async def queue_notice(conn: asyncpg.Connection, box: SecretBox, tenant_id: str,
                       dedup_key: str, notice: Notice) -> None:
    await conn.execute(
        "INSERT INTO outgoing_mail (dedup_key, tenant_id, kind, audience, recipient, subject,"
        " body_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING",
        dedup_key, uuid.UUID(tenant_id), notice.kind, notice.audience, notice.recipient,
        notice.subject, box.seal_mail(dedup_key, notice.text),
    )
    await wake_dispatchers(conn)


@dataclass(frozen=True)
class Mail:
    id: int
    tenant_id: str
    kind: str
    audience: str
    recipient: str | None
    subject: str
    body: str
    attempts: int
    dedup_key: str


async def claim(pool: asyncpg.Pool, box: SecretBox, now: datetime, lease_until: datetime,
                     limit: int) -> list[Mail]:
    """Lease due mail. Like a delivery, a mail whose body no key opens is held, not sent or
    failed: it is claimed again when its lease runs out."""
    rows = await pool.fetch(
        "UPDATE outgoing_mail m SET locked_until = $2 FROM (SELECT id FROM outgoing_mail"
        " WHERE status = 'pending' AND next_attempt_at <= $1"
        " AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at LIMIT $3"
        " FOR UPDATE SKIP LOCKED) due WHERE m.id = due.id RETURNING m.id, m.tenant_id, m.kind,"
        " m.audience, m.recipient, m.subject, m.body, m.body_sealed, m.attempts, m.dedup_key",
        now, lease_until, limit,
    )
    mails = []
    for r in rows:
        try:
            body = box.open_mail(r["dedup_key"], r["body"], r["body_sealed"])
        except UndecryptableSecret as exc:
            log.error("mail %d held: its body does not open (%s); is a key missing from"
                      " RESONANZ_ENCRYPTION_KEYS?", r["id"], exc)
            continue
        mails.append(Mail(id=r["id"], tenant_id=str(r["tenant_id"]), kind=r["kind"],
                          audience=r["audience"], recipient=r["recipient"],
                          subject=r["subject"], body=body, attempts=r["attempts"],
                          dedup_key=r["dedup_key"]))
    return mails


async def expand(conn: asyncpg.Connection, box: SecretBox, mail: Mail, recipients: list[str]
                 ) -> None:
    """One mail per address in place of the mail to a tenant's admins."""
    rows = []
    for address in recipients:
        dedup_key = f"{mail.dedup_key}:{address}"
        rows.append((dedup_key, uuid.UUID(mail.tenant_id), mail.kind, address, mail.subject,
                     box.seal_mail(dedup_key, mail.body)))
    await conn.executemany(
        "INSERT INTO outgoing_mail (dedup_key, tenant_id, kind, audience, recipient, subject,"
        " body_sealed) VALUES ($1, $2, $3, 'address', $4, $5, $6) ON CONFLICT DO NOTHING",
        rows,
    )
    await conn.execute(
        "UPDATE outgoing_mail SET status = 'expanded', locked_until = NULL, body = NULL,"
        " body_sealed = NULL WHERE id = $1",
        mail.id,
    )


async def mark_sent(pool: asyncpg.Pool, mail_id: int, now: datetime) -> None:
    await pool.execute(
        "UPDATE outgoing_mail SET status = 'sent', sent_at = $2, attempts = attempts + 1,"
        " locked_until = NULL, body = NULL, body_sealed = NULL WHERE id = $1",
        mail_id, now,
    )


async def mark_failed(pool: asyncpg.Pool, mail_id: int, error: str,
                      retry_at: datetime | None) -> None:
    await pool.execute(
        "UPDATE outgoing_mail SET attempts = attempts + 1, last_error = $2, locked_until = NULL,"
        " status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,"
        " next_attempt_at = coalesce($3, next_attempt_at) WHERE id = $1",
        mail_id, error[:1000], retry_at,
    )


# Sent, expanded or failed mail before $1, at most $2, skipping rows another replica holds.
PURGE_SQL = oldest_first_delete("outgoing_mail", "created_at < $1 AND status <> 'pending'",
                                "created_at", "$2", skip_locked=True)


async def purge(conn: asyncpg.Connection, older_than: datetime, limit: int) -> int:
    """Delete sent, expanded or failed mail created before `older_than`, at most `limit`,
    skipping rows another replica holds; how many. Pending mail is never purged."""
    status = await conn.execute(PURGE_SQL, older_than, limit)
    return int(status.split()[-1])
