"""Data-subject requests (GDPR access and erasure), coordinated by the feedback service.

The request record lives here, since nearly all personal data does. An export is built
from what is held when it is downloaded; an erasure erases this schema's part, records the
request and writes `privacy.erasure_requested` in one transaction, and completes when every
other service holding personal data has answered `privacy.erasure_completed`.
See docs/privacy.md.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from resonanz.shared.caller import GATEWAY_REPLAYS_ERASED, Caller, caller_of
from resonanz.shared.contracts import PrivacyRequestIn
from resonanz.shared.crypto import KeyRing
from resonanz.shared.db import PoolKey, subject_sha256_sql
from resonanz.shared.errors import NotFound
from resonanz.shared.events import PrivacyErasureCompleted, PrivacyErasureRequested, new_event
from resonanz.shared.outbox import enqueue
from resonanz.shared.params import parse_uuid
from resonanz.shared.timestamps import rfc3339
from resonanz.shared.web import SettingsKey, json_response, read_model

from .claims import open_payee
from .export import csv_cell

SOURCE = "resonanz/feedback"
SERVICE = "feedback"
# The other services that hold personal data and answer an erasure.
ERASING_SERVICES = ("webhook-dispatcher",)
ERASED_TEXT = "[erased]"
# What an erased entry loses; it keeps rating, category, status, assignee and times.
ENTRY_FIELDS = ["body", "customer_email", "answers", "metadata"]

routes = web.RouteTableDef()


def normalised(email: str) -> str:
    """Trimmed; lower-cased by the database (`lower($n)`), as the stored addresses are
    and as the dispatcher's erasure hashes recipients: Python's str.lower() differs from
    it (`İlayda@x.de` is `i̇layda@x.de` to Python, `ilayda@x.de` to PostgreSQL)."""
    return email.strip()




def _now() -> datetime:
    return datetime.now(UTC)


def _done(counts: dict[str, int], at: datetime) -> dict[str, Any]:
    return {"status": "completed", "completed_at": rfc3339(at), "counts": counts}


def _step(name: str, step: dict[str, Any]) -> dict[str, Any]:
    """A service's progress as answered: its time in the API's one format (rows written
    before it was stored so kept Python's isoformat)."""
    at = step.get("completed_at")
    if isinstance(at, str):
        step = {**step, "completed_at": rfc3339(datetime.fromisoformat(at))}
    return {"service": name, **step}


PENDING: dict[str, Any] = {"status": "pending", "completed_at": None, "counts": {}}


def request_json(row: asyncpg.Record) -> dict[str, Any]:
    progress = row["progress"]
    return {
        "id": str(row["id"]), "type": row["kind"],
        "status": "completed" if row["completed_at"] is not None else "in_progress",
        "subject_sha256": row["subject_sha256"], "requested_by": row["requested_by"],
        "requested_at": row["requested_at"], "completed_at": row["completed_at"],
        "progress": [_step(name, progress[name]) for name in sorted(progress)],
        "export_available": row["kind"] == "export" and row["customer_email"] is not None,
    }


# --- erasure in this schema --------------------------------------------------------------


async def erase_subject(conn: asyncpg.Connection, tenant_id: str, email: str
                        ) -> tuple[list[str], list[str], dict[str, int]]:
    """Erase the personal data of one subject's entries, in the caller's transaction: the
    erased entry ids, payout ids and counts per kind."""
    rows = await conn.fetch(
        "SELECT id FROM entries WHERE tenant_id = $1 AND lower(customer_email) = lower($2)"
        " ORDER BY id FOR UPDATE", tenant_id, normalised(email))
    ids = [r["id"] for r in rows]
    payouts, counts = await erase_entries(conn, ids)
    # An earlier export of this subject can no longer be downloaded.
    await conn.execute(
        "UPDATE privacy_requests SET customer_email = NULL WHERE tenant_id = $1"
        f" AND subject_sha256 = {subject_sha256_sql('$2')} AND customer_email IS NOT NULL",
        tenant_id, normalised(email))
    return [str(i) for i in ids], [str(p) for p in payouts], counts


async def erase_entries(conn: asyncpg.Connection, ids: list[uuid.UUID]
                        ) -> tuple[list[uuid.UUID], dict[str, int]]:
    """Erase the personal data of these entries (locked by the caller), their notes and
    audit trail, and prune their published events: an erasure's part and the retention's.
    The payout ids and the counts per kind."""
    payouts = [r["id"] for r in await conn.fetch(
        "SELECT id FROM payouts WHERE entry_id = ANY($1::uuid[]) ORDER BY id", ids)]
    counts = {"entries": len(ids), "payouts": len(payouts)}
    if payouts:
        # How the shopper asked to be paid (IBAN, PayPal) goes; the amounts booked stay.
        await conn.execute(
            "UPDATE payouts SET payee_sealed = NULL, payee_masked = NULL, claim_digest = NULL"
            " WHERE id = ANY($1::uuid[])", payouts)
    if ids:
        # A write like any other: version and updated_at move, so the lists' ETags change
        # (their change mark reads the versions near the newest updated_at: an entry last
        # changed long ago, erased with only its version moved, kept a 304 showing the
        # erased email). The times the analytics measure (first response, resolved) stay.
        # The team's reason for a reward's review is free text like a note's.
        await conn.execute(
            "UPDATE entries SET customer_email = NULL, body = NULL, answers = '{}',"
            " metadata = '{}', quality = NULL, simhash = NULL, version = version + 1,"
            " updated_at = now(),"
            " review_reason = CASE WHEN review_reason IS NULL THEN NULL ELSE $2 END,"
            " erased_at = coalesce(erased_at, now()) WHERE id = ANY($1::uuid[])",
            ids, ERASED_TEXT)
        counts["notes"] = int((await conn.execute(
            "UPDATE notes SET body = $2 WHERE entry_id = ANY($1::uuid[])", ids, ERASED_TEXT
        )).split()[-1])
        # The entry's audit trail: a note's text (the key stays: it marks a response).
        await conn.execute(
            "UPDATE audit_log SET"
            " before = CASE WHEN before ? 'note'"
            "   THEN before || jsonb_build_object('note', $2::text) ELSE before END - $3::text[],"
            " after = CASE WHEN after ? 'note' THEN after || jsonb_build_object('note', $2::text)"
            "   ELSE after END - $3::text[]"
            " WHERE entry_id = ANY($1::uuid[])", ids, ERASED_TEXT, ENTRY_FIELDS)
    # Published events about these entries and their payouts (their subject is the entry).
    counts["outbox"] = int((await conn.execute(
        "DELETE FROM outbox WHERE published_at IS NOT NULL AND key = ANY($1::text[])",
        [str(i) for i in ids])).split()[-1])
    return payouts, counts


async def _insert(conn: asyncpg.Connection, actor: Caller, kind: str, email: str,
                  progress: dict[str, Any], completed_at: datetime | None,
                  at: datetime) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO privacy_requests (id, tenant_id, kind, subject_sha256, customer_email,"
        " requested_by, requested_at, completed_at, progress)"
        f" VALUES ($1, $2, $3, {subject_sha256_sql('$4')}, $5, $6, $7, $8, $9) RETURNING *",
        uuid.uuid4(), actor.tenant_id, kind, normalised(email),
        email if kind == "export" else None, actor.actor_id, at, completed_at, progress)


async def request_erasure(pool: asyncpg.Pool, topic: str, actor: Caller, email: str,
                          done_before: dict[str, dict[str, int]]) -> asyncpg.Record:
    """`done_before`: the parts done before the request reached this service (the
    gateway's), with their counts."""
    at = _now()
    async with pool.acquire() as conn, conn.transaction():
        entry_ids, payout_ids, counts = await erase_subject(conn, actor.tenant_id, email)
        progress = {SERVICE: _done(counts, at), **{s: PENDING for s in ERASING_SERVICES},
                    **{s: _done(c, at) for s, c in done_before.items()}}
        row = await _insert(conn, actor, "erasure", email, progress, None, at)
        data = PrivacyErasureRequested(
            request_id=str(row["id"]), subject_sha256=row["subject_sha256"],
            entry_ids=entry_ids, payout_ids=payout_ids, requested_at=at)
        await enqueue(conn, new_event(data, source=SOURCE, tenant_id=actor.tenant_id,
                                      subject=str(row["id"]), request_id=actor.request_id),
                      topic)
        return row


async def record_completion(conn: asyncpg.Connection, tenant_id: str,
                            data: PrivacyErasureCompleted, at: datetime) -> None:
    """One service's answer; the request completes when no part is pending."""
    request_id = parse_uuid(data.request_id)
    if request_id is None:
        return
    await conn.execute(
        "UPDATE privacy_requests"
        " SET progress = progress || jsonb_build_object($3::text, $4::jsonb)"
        " WHERE id = $1 AND tenant_id = $2", request_id, tenant_id, data.service,
        _done(data.redacted, at))
    await conn.execute(
        "UPDATE privacy_requests SET completed_at = $3 WHERE id = $1 AND tenant_id = $2"
        " AND completed_at IS NULL AND NOT EXISTS (SELECT 1 FROM jsonb_each(progress) p"
        " WHERE p.value ->> 'status' <> 'completed')", request_id, tenant_id, at)


# --- export ------------------------------------------------------------------------------


async def export_document(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str,
                          email: str, ring: KeyRing | None = None) -> list[dict[str, Any]]:
    """Every entry of the subject, with its notes, reward review and payout; with `ring`,
    the payment details the shopper gave in full (their own data), else masked."""
    rows = await conn.fetch(
        "SELECT e.id, e.widget_id, e.body, e.rating, e.category, e.metadata,"
        " e.customer_email, e.answers, e.status, e.assignee, e.quality_score,"
        " e.reward_status, e.reviewed_by, e.reviewed_at, e.review_reason, e.created_at,"
        " e.updated_at, e.first_response_at, e.resolved_at, e.deleted_at,"
        " coalesce((SELECT jsonb_agg(jsonb_build_object('id', n.id, 'author', n.author,"
        "   'body', n.body, 'created_at', n.created_at) ORDER BY n.created_at)"
        "   FROM notes n WHERE n.entry_id = e.id), '[]') AS notes,"
        " (SELECT jsonb_build_object('id', p.id, 'kind', p.kind, 'amount', p.amount::text,"
        "   'currency', p.currency, 'voucher_code', p.voucher_code, 'status', p.status,"
        "   'created_at', p.created_at, 'completed_at', p.completed_at,"
        "   'payee_method', p.payee_method, 'payee', p.payee_masked,"
        "   'payee_sealed', p.payee_sealed)"
        "   FROM payouts p WHERE p.entry_id = e.id) AS payout"
        " FROM entries e WHERE e.tenant_id = $1 AND lower(e.customer_email) = lower($2)"
        " ORDER BY e.created_at, e.id", tenant_id, normalised(email))
    return [{
        "id": str(r["id"]), "widget_id": str(r["widget_id"]) if r["widget_id"] else None,
        "body": r["body"], "rating": r["rating"], "category": r["category"],
        "metadata": r["metadata"], "customer_email": r["customer_email"],
        "answers": r["answers"], "status": r["status"], "assignee": r["assignee"],
        "quality_score": r["quality_score"], "created_at": r["created_at"],
        "updated_at": r["updated_at"], "first_response_at": r["first_response_at"],
        "resolved_at": r["resolved_at"], "deleted": r["deleted_at"] is not None,
        "reward": {"status": r["reward_status"], "reviewed_by": r["reviewed_by"],
                   "reviewed_at": r["reviewed_at"], "reason": r["review_reason"]},
        "notes": r["notes"], "payout": _payout_of(r["payout"], ring),
    } for r in rows]


def _payout_of(payout: dict[str, Any] | None, ring: KeyRing | None) -> dict[str, Any] | None:
    """An entry's payout as exported: the sealed payment details opened with `ring`."""
    if payout is None:
        return None
    sealed = payout.pop("payee_sealed", None)
    if ring is not None and sealed is not None:
        payout["payment_details"] = open_payee(ring, payout["id"], sealed)
    return payout


async def request_export(pool: asyncpg.Pool, actor: Caller, email: str) -> asyncpg.Record:
    at = _now()
    async with pool.acquire() as conn:
        found = await conn.fetchval(
            "SELECT count(*) FROM entries WHERE tenant_id = $1"
            " AND lower(customer_email) = lower($2)",
            actor.tenant_id, normalised(email))
        return await _insert(conn, actor, "export", email,
                             {SERVICE: _done({"entries": found}, at)}, at, at)


# --- HTTP --------------------------------------------------------------------------------


async def _request(pool: asyncpg.Pool, tenant_id: str, raw_id: str) -> asyncpg.Record:
    request_id = parse_uuid(raw_id)
    row = None if request_id is None else await pool.fetchrow(
        "SELECT * FROM privacy_requests WHERE id = $1 AND tenant_id = $2",
        request_id, tenant_id)
    if row is None:
        raise NotFound("privacy request not found")
    return row


@routes.post("/privacy/requests")
async def create_request(request: web.Request) -> web.Response:
    actor = caller_of(request)
    body = await read_model(request, PrivacyRequestIn)
    pool = request.app[PoolKey]
    if body.type == "export":
        row = await request_export(pool, actor, body.customer_email)
    else:
        topic = request.app[SettingsKey].topic_feedback
        replays = request.headers.get(GATEWAY_REPLAYS_ERASED, "")
        done_before = ({"gateway": {"replays": int(replays)}} if replays.isdigit() else {})
        row = await request_erasure(pool, topic, actor, body.customer_email, done_before)
    return json_response(request_json(row), status=202)


# The list is short: the newest requests (a shop answers a few a month).
LISTED = 100


@routes.get("/privacy/requests")
async def list_requests(request: web.Request) -> web.Response:
    actor = caller_of(request)
    rows = await request.app[PoolKey].fetch(
        "SELECT * FROM privacy_requests WHERE tenant_id = $1"
        " ORDER BY requested_at DESC, id DESC LIMIT $2", actor.tenant_id, LISTED)
    return json_response({"items": [request_json(r) for r in rows]})


@routes.get("/privacy/requests/{id}")
async def get_request(request: web.Request) -> web.Response:
    actor = caller_of(request)
    row = await _request(request.app[PoolKey], actor.tenant_id, request.match_info["id"])
    return json_response(request_json(row))


@routes.get("/privacy/requests/{id}/export")
async def get_export(request: web.Request) -> web.Response:
    """An export's document; 404 for an erasure, or once the subject has been erased."""
    actor = caller_of(request)
    pool = request.app[PoolKey]
    row = await _request(pool, actor.tenant_id, request.match_info["id"])
    if row["kind"] != "export" or row["customer_email"] is None:
        raise NotFound("no export to download: the request is an erasure, or its subject"
                       " has been erased since")
    entries = await export_document(pool, actor.tenant_id, row["customer_email"],
                                    request.app[SettingsKey].key_ring())
    return json_response({"request_id": str(row["id"]), "customer_email": row["customer_email"],
                          "generated_at": _now(), "entries": entries})


# --- the export as CSV, one file per kind -------------------------------------------------

Rows = Callable[[list[dict[str, Any]]], Iterator[dict[str, Any]]]


def _entry_rows(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for e in entries:
        yield {**e, "reward_status": e["reward"]["status"]}


def _answer_rows(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for e in entries:
        for question, answer in (e["answers"] or {}).items():
            yield {"entry_id": e["id"], "question": question, "answer": answer}


def _note_rows(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for e in entries:
        for note in e["notes"]:
            yield {"entry_id": e["id"], **note}


def _payout_rows(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A payout with the payment details the shopper gave, in full as in the JSON document
    (their own data): IBAN, BIC and account holder, or the PayPal address."""
    for e in entries:
        if e["payout"]:
            yield {"entry_id": e["id"], **e["payout"],
                   **(e["payout"].get("payment_details") or {})}


# Each kind's columns and rows; answers and metadata in entries.csv as JSON text.
CSV_KINDS: dict[str, tuple[tuple[str, ...], Rows]] = {
    "entries": (("id", "created_at", "updated_at", "widget_id", "customer_email", "rating",
                 "category", "status", "body", "metadata", "answers", "assignee",
                 "quality_score", "reward_status", "first_response_at", "resolved_at",
                 "deleted"), _entry_rows),
    "answers": (("entry_id", "question", "answer"), _answer_rows),
    "notes": (("entry_id", "id", "author", "created_at", "body"), _note_rows),
    "payouts": (("entry_id", "id", "kind", "amount", "currency", "status", "voucher_code",
                 "created_at", "completed_at", "payee_method", "iban", "bic",
                 "account_holder", "paypal_email"), _payout_rows),
}


def _cell(value: Any) -> Any:
    return csv_cell(rfc3339(value) if isinstance(value, datetime) else value)


def export_csv(entries: list[dict[str, Any]], kind: str) -> bytes:
    """One kind of an export's document as CSV (formula-like cells neutralised as in the
    inbox export)."""
    columns, rows = CSV_KINDS[kind]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows(entries))
    return out.getvalue().encode()


@routes.get("/privacy/requests/{id}/export/{kind}")
async def get_export_csv(request: web.Request) -> web.Response:
    """One kind of an export's document as a CSV file; 404 as the document, or for a kind
    there is none of."""
    actor = caller_of(request)
    kind = request.match_info["kind"]
    pool = request.app[PoolKey]
    row = await _request(pool, actor.tenant_id, request.match_info["id"])
    if kind not in CSV_KINDS:
        raise NotFound(f"no such kind: one of {', '.join(CSV_KINDS)}")
    if row["kind"] != "export" or row["customer_email"] is None:
        raise NotFound("no export to download: the request is an erasure, or its subject"
                       " has been erased since")
    entries = await export_document(pool, actor.tenant_id, row["customer_email"],
                                    request.app[SettingsKey].key_ring())
    return web.Response(body=export_csv(entries, kind), headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="privacy-{row["id"]}-{kind}.csv"'})
