"""A data subject's erasure in the dispatcher's schema (docs/privacy.md), run in the
consumer's transaction of `privacy.erasure_requested`, so it is done exactly once.

Deliveries of an erased entry or payout keep their place in the log, with the personal
fields of their payload set to null (a pending retry sends the redacted payload) and the
stored start of the receiver's answers removed. Mail to the subject's address (matched by
the SHA-256 of the trimmed, lower-cased address) loses its recipient; mail still queued is
not sent.
"""

from __future__ import annotations

import asyncpg
import orjson

from resonanz.shared.db import subject_sha256_sql
from resonanz.shared.events import PrivacyErasureRequested

SERVICE = "webhook-dispatcher"
# Fields of a webhook's `data` that hold the shopper's data (`reason`: what the team wrote
# about her reward or payout).
PERSONAL_FIELDS = ("body", "customer_email", "answers", "metadata", "reason")
ERASED = "erased: data subject request"


def redacted_body(raw: bytes) -> bytes:
    payload = orjson.loads(raw)
    data = payload.get("data")
    if isinstance(data, dict):
        for name in PERSONAL_FIELDS:
            if name in data:
                data[name] = None
    return orjson.dumps(payload)


async def erase(conn: asyncpg.Connection, tenant_id: str, data: PrivacyErasureRequested
                ) -> dict[str, int]:
    """Redact what this schema holds about the subject; the counts per kind."""
    ids = list(dict.fromkeys([*data.entry_ids, *data.payout_ids]))
    rows = await conn.fetch(
        "SELECT id, body FROM deliveries WHERE tenant_id = $1"
        " AND (convert_from(body, 'UTF8')::jsonb #>> '{data,entry,id}' = ANY($2::text[])"
        "   OR convert_from(body, 'UTF8')::jsonb #>> '{data,response_id}' = ANY($2::text[])"
        "   OR convert_from(body, 'UTF8')::jsonb #>> '{data,payout_id}' = ANY($2::text[]))"
        " FOR UPDATE", tenant_id, ids) if ids else []
    for row in rows:
        await conn.execute("UPDATE deliveries SET body = $2 WHERE id = $1", row["id"],
                           redacted_body(row["body"]))
    delivery_ids = [r["id"] for r in rows]
    answers = await conn.execute(
        "UPDATE attempts SET response_body = NULL WHERE delivery_id = ANY($1::text[])"
        " AND response_body IS NOT NULL", delivery_ids)
    mails = await conn.execute(
        "UPDATE outgoing_mail SET recipient = NULL,"
        " body = CASE WHEN status IN ('sent', 'expanded') THEN NULL ELSE '' END,"
        " body_sealed = NULL,"
        " status = CASE WHEN status IN ('sent', 'expanded') THEN status ELSE 'failed' END,"
        " last_error = CASE WHEN status IN ('sent', 'expanded') THEN last_error ELSE $3 END"
        " WHERE tenant_id = $1 AND recipient IS NOT NULL"
        f" AND {subject_sha256_sql('recipient')} = $2",
        tenant_id, data.subject_sha256, ERASED)
    return {"deliveries": len(rows), "responses": _count(answers), "mails": _count(mails)}


def _count(status: str) -> int:
    return int(status.split()[-1])
