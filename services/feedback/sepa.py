"""SEPA credit-transfer batches (issue 24): the shop pays claimed bank payouts through its
own bank with a pain.001.001.03 file.

The shop sets its debtor account once (name, IBAN sealed like the shoppers', BIC). A batch
takes every claimed bank payout in EUR not yet in one (`processing`); its pain.001 file is
made on each download from the sealed payment details (so no file with IBANs rests
anywhere), always with the batch's own MsgId, so a bank refuses a second upload of it.
A claimed bank payout in another currency is in no batch (SEPA credit transfers are in
euros): it is named with the reason in the batch's answer (`not_batchable`), in the 409
when nothing else is left, and in the payouts list, for the shop to pay another way and
mark paid.
Marking the batch paid pays each of its payouts once, in one transaction: booked in the
ledger, `payout.completed` each (the webhook, and the shopper's "paid" email).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp import web
from schwifty import BIC
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer

from resonanz.shared.caller import caller_of
from resonanz.shared.contracts import PayoutAccountIn, PayoutBatchIn, PayoutBatchPaidIn
from resonanz.shared.crypto import KeyRing
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import Conflict, InvalidInput, NotFound
from resonanz.shared.params import path_uuid
from resonanz.shared.web import SettingsKey, json_response, read_model

from . import claims, commands, store

SCHEMA = "pain.001.001.03"
CURRENCY = "EUR"
MAX_BATCH = 5000

routes = web.RouteTableDef()


def account_context(tenant_id: str) -> str:
    return f"payout_accounts.iban_sealed:{uuid.UUID(tenant_id)}"


def _account_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"name": row["name"], "iban": row["iban_masked"], "bic": row["bic"],
            "updated_at": row["updated_at"]}


@routes.get("/payout-account")
async def get_account(request: web.Request) -> web.Response:
    actor = caller_of(request)
    row = await request.app[PoolKey].fetchrow(
        "SELECT * FROM payout_accounts WHERE tenant_id = $1", actor.tenant_id)
    if row is None:
        raise NotFound("no payout account set yet (PUT one)")
    return json_response(_account_json(row))


@routes.put("/payout-account")
async def set_account(request: web.Request) -> web.Response:
    """The shop's debtor account: IBAN checked, BIC from the IBAN's bank when not given."""
    actor = caller_of(request)
    body = await read_model(request, PayoutAccountIn)
    iban = claims.checked_iban(body.iban, "iban")
    bic = body.bic or (str(iban.bic) if iban.bic is not None else None)
    if bic is not None:
        try:
            bic = str(BIC(bic))
        except (SchwiftyException, ValueError) as exc:
            raise InvalidInput.naming([{"field": "bic", "message": f"not a valid BIC: {exc}"}]
                                      ) from None
    ring: KeyRing = request.app[SettingsKey].key_ring()
    row = await request.app[PoolKey].fetchrow(
        "INSERT INTO payout_accounts (tenant_id, name, iban_sealed, iban_masked, bic,"
        " updated_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET"
        " name = EXCLUDED.name, iban_sealed = EXCLUDED.iban_sealed,"
        " iban_masked = EXCLUDED.iban_masked, bic = EXCLUDED.bic, updated_at = now(),"
        " updated_by = EXCLUDED.updated_by RETURNING *",
        actor.tenant_id, body.name, ring.encrypt(iban.compact, account_context(actor.tenant_id)),
        claims.mask_iban(iban.compact), bic, actor.actor_id)
    return json_response(_account_json(row))


# --- batches --------------------------------------------------------------------------------

# The payouts of a batch that its file pays: a payout of it marked failed, cancelled or paid
# by hand since is not paid again by the bank (one the batch paid stays in its file).
PAID_BY_FILE_SQL = "(p.status = 'processing' OR (p.status = 'paid' AND p.method = 'sepa'))"
# `total` and `count` as the file has them now; the stored columns keep the batch's at
# creation, still written for replicas of the previous release during a rolling update
# (drop them with the release after). `payout_ids`: every payout put in the batch.
BATCH_COLUMNS = (
    "b.id, b.status, b.message_id, b.currency, b.execution_date,"
    " b.created_at, b.created_by, b.paid_at, b.paid_by, b.reference,"
    " coalesce((SELECT array_agg(p.id::text ORDER BY p.created_at, p.id) FROM payouts p"
    "  WHERE p.batch_id = b.id), '{}') AS payout_ids,"
    f" (SELECT coalesce(sum(p.amount), 0.00) FROM payouts p WHERE p.batch_id = b.id"
    f"  AND {PAID_BY_FILE_SQL}) AS total,"
    f" (SELECT count(*) FROM payouts p WHERE p.batch_id = b.id AND {PAID_BY_FILE_SQL})"
    "  AS count")


def _batch_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "status": row["status"], "message_id": row["message_id"],
            "currency": row["currency"], "total": str(row["total"]), "count": row["count"],
            "execution_date": row["execution_date"], "payout_ids": list(row["payout_ids"]),
            "created_at": row["created_at"], "created_by": row["created_by"],
            "paid_at": row["paid_at"], "paid_by": row["paid_by"], "reference": row["reference"]}


async def _batch(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, raw_id: str,
                 *, for_update: bool = False) -> asyncpg.Record:
    lock = " FOR UPDATE OF b" if for_update else ""
    row = await conn.fetchrow(f"SELECT {BATCH_COLUMNS} FROM payout_batches b"
                              f" WHERE b.tenant_id = $1 AND b.id = $2{lock}",
                              tenant_id, path_uuid(raw_id, "batch"))
    if row is None:
        raise NotFound("batch not found")
    return row


@routes.post("/payout-batches")
async def create_batch(request: web.Request) -> web.Response:
    """Every claimed bank payout in EUR not in a batch yet → one batch, `processing`."""
    actor = caller_of(request)
    body = await read_model(request, PayoutBatchIn)
    execution = body.execution_date or datetime.now(UTC).date()
    if execution < datetime.now(UTC).date():
        raise InvalidInput.naming([{"field": "execution_date",
                                    "message": "must be today or later"}])
    batch_id = uuid.uuid4()
    async with request.app[PoolKey].acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT 1 FROM payout_accounts WHERE tenant_id = $1",
                               actor.tenant_id) is None:
            raise Conflict("set the shop's payout account first (PUT /api/v1/payout-account)",
                           code="no_payout_account")
        taken = await conn.fetch(
            "SELECT id, amount FROM payouts WHERE tenant_id = $1 AND status = 'claimed'"
            " AND payee_method = 'sepa' AND currency = $2 AND batch_id IS NULL"
            " ORDER BY created_at, id LIMIT $3 FOR UPDATE", actor.tenant_id, CURRENCY, MAX_BATCH)
        left_out = await not_batchable(conn, actor.tenant_id)
        if not taken:
            raise Conflict("no claimed bank payouts in EUR to pay", code="nothing_to_pay",
                           details=[{"field": "payout_id", "message": r["reason"],
                                     "value": r["payout_id"]} for r in left_out])
        total = sum((r["amount"] for r in taken), Decimal("0"))
        message_id = f"RSZ-{batch_id.hex[:24]}"
        await conn.execute(
            "INSERT INTO payout_batches (id, tenant_id, message_id, currency, total, count,"
            " execution_date, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            batch_id, actor.tenant_id, message_id, CURRENCY, total, len(taken), execution,
            actor.actor_id)
        await conn.execute(
            "UPDATE payouts SET status = 'processing', batch_id = $2, updated_at = now()"
            " WHERE id = ANY($1::uuid[])", [r["id"] for r in taken], batch_id)
        row = await _batch(conn, actor.tenant_id, str(batch_id))
    return json_response({**_batch_json(row), "not_batchable": left_out}, status=201)


async def not_batchable(conn: asyncpg.Connection, tenant_id: str) -> list[dict[str, Any]]:
    """Claimed bank payouts no batch takes (not in EUR), with the reason: they are left for
    the shop to pay another way and mark paid (POST /api/v1/payouts/{id}/mark-paid)."""
    rows = await conn.fetch(
        f"SELECT p.id, p.amount, p.currency, {store.NOT_BATCHABLE_SQL} AS reason"
        " FROM payouts p WHERE p.tenant_id = $1 AND p.status = 'claimed'"
        " AND p.payee_method = 'sepa' AND p.currency <> $2 AND p.batch_id IS NULL"
        " ORDER BY p.created_at, p.id LIMIT $3", tenant_id, CURRENCY, MAX_BATCH)
    return [{"payout_id": str(r["id"]), "amount": str(r["amount"]), "currency": r["currency"],
             "reason": r["reason"]} for r in rows]


@routes.get("/payout-batches")
async def list_batches(request: web.Request) -> web.Response:
    actor = caller_of(request)
    rows = await request.app[PoolKey].fetch(
        f"SELECT {BATCH_COLUMNS} FROM payout_batches b WHERE b.tenant_id = $1"
        " ORDER BY b.created_at DESC, b.id DESC LIMIT 200", actor.tenant_id)
    return json_response({"items": [_batch_json(r) for r in rows]})


@routes.get("/payout-batches/{id}")
async def get_batch(request: web.Request) -> web.Response:
    actor = caller_of(request)
    row = await _batch(request.app[PoolKey], actor.tenant_id, request.match_info["id"])
    return json_response(_batch_json(row))


def pain001(account: dict[str, Any], batch: asyncpg.Record,
            payments: list[dict[str, Any]]) -> bytes:
    """The batch as a pain.001.001.03 document (checked against the schema sepaxml ships)."""
    config = {"name": account["name"], "IBAN": account["iban"], "currency": batch["currency"],
              "batch": True, **({"BIC": account["bic"]} if account["bic"] else {})}
    transfer = SepaTransfer(config, schema=SCHEMA, clean=True)
    for payment in payments:
        transfer.add_payment({
            "name": payment["account_holder"], "IBAN": payment["iban"],
            **({"BIC": payment["bic"]} if payment.get("bic") else {}),
            "amount": int((payment["amount"] * 100).to_integral_value()),
            "execution_date": batch["execution_date"],
            "description": payment["description"], "endtoend_id": payment["endtoend_id"]})
    # The batch's own MsgId on every download (sepaxml makes a new one each time).
    header = transfer._xml.find("CstmrCdtTrfInitn/GrpHdr/MsgId")
    header.text = batch["message_id"]
    out: bytes = transfer.export(validate=True)
    return out


@routes.get("/payout-batches/{id}/pain.001")
async def download_pain001(request: web.Request) -> web.Response:
    actor = caller_of(request)
    ring: KeyRing = request.app[SettingsKey].key_ring()
    pool = request.app[PoolKey]
    batch = await _batch(pool, actor.tenant_id, request.match_info["id"])
    account = await pool.fetchrow("SELECT * FROM payout_accounts WHERE tenant_id = $1",
                                  actor.tenant_id)
    if account is None:
        raise Conflict("set the shop's payout account first", code="no_payout_account")
    rows = await pool.fetch(
        "SELECT p.id, p.entry_id, p.amount, p.payee_sealed FROM payouts p"
        f" WHERE p.batch_id = $1 AND {PAID_BY_FILE_SQL} ORDER BY p.created_at, p.id",
        batch["id"])
    if not rows:
        raise Conflict("every payout of this batch was marked failed, cancelled or paid by"
                       " hand: nothing is left for the bank to pay", code="nothing_to_pay")
    payments = []
    for row in rows:
        details = claims.open_payee(ring, str(row["id"]), row["payee_sealed"])
        if details is None:
            raise Conflict("a payout of this batch has no payment details any more (erased);"
                           " mark it failed and create the file again", code="payee_erased",
                           details=[{"field": "payout_id", "message": str(row["id"])}])
        payments.append({**details, "amount": row["amount"],
                         "description": f"Resonanz reward {str(row['entry_id'])[:8]}",
                         "endtoend_id": row["id"].hex[:32]})
    debtor = {"name": account["name"], "bic": account["bic"],
              "iban": ring.decrypt(account["iban_sealed"], account_context(actor.tenant_id))}
    body = pain001(debtor, batch, payments)
    return web.Response(body=body, content_type="application/xml", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{batch["message_id"]}.xml"',
        "Cache-Control": "no-store"})


@routes.post("/payout-batches/{id}/paid")
async def mark_batch_paid(request: web.Request) -> web.Response:
    """Once: every payout of the batch still `processing` is paid, booked and announced."""
    actor = caller_of(request)
    body = await read_model(request, PayoutBatchPaidIn)
    topic = request.app[SettingsKey].topic_feedback
    async with request.app[PoolKey].acquire() as conn, conn.transaction():
        batch = await _batch(conn, actor.tenant_id, request.match_info["id"], for_update=True)
        if batch["status"] != "open":
            raise Conflict("the batch is paid already", code="batch_paid",
                           details=[{"field": "status", "message": batch["status"]}])
        reference = body.reference or batch["message_id"]
        payouts = await conn.fetch(
            f"SELECT {store.PAYOUT_COLUMNS}, p.tenant_id FROM payouts p"
            " WHERE p.batch_id = $1 AND p.status = 'processing' ORDER BY p.created_at, p.id"
            " FOR UPDATE", batch["id"])
        for row in payouts:
            await commands.record_settlement(conn, topic, store.payout_dict(row), "paid",
                                             "sepa", reference, None, actor.actor_id,
                                             actor.request_id)
        await conn.execute(
            "UPDATE payout_batches SET status = 'paid', paid_at = now(), paid_by = $2,"
            " reference = $3 WHERE id = $1", batch["id"], actor.actor_id, reference)
        row = await _batch(conn, actor.tenant_id, str(batch["id"]))
    return json_response(_batch_json(row))
