"""The shopper's claim of a cash reward (issue 24).

An approved cash payout waits (`pending`) for the shopper to say how to be paid. The payout
worker offers each one once: a single-use token whose SHA-256 digest alone is stored, sealed
into a `payout.claim_offered` event for the dispatcher's email (the shopper's language, from
the entry). With the link's token the claim page (served by the gateway, no sign-in) reads
the claim and answers it: a bank transfer (IBAN and account holder, checked with schwifty)
or a PayPal address makes the payout `claimed`; declining cancels it (`payout.failed`).

Payment details are personal data: sealed under the key ring to their payout
(`payee_sealed`), shown masked (`payee_masked`), opened only for the shop's SEPA file and the
shopper's own privacy export, removed by an erasure. Never in an event, a webhook or a log.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from email_validator import EmailNotValidError, validate_email
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from resonanz.shared.contracts import ClaimAnswerIn, ClaimTokenIn
from resonanz.shared.crypto import KeyRing
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import Conflict, DomainError, InvalidInput, NotFound
from resonanz.shared.events import PayoutClaimOffered, PayoutFailed, new_event
from resonanz.shared.outbox import enqueue
from resonanz.shared.web import SettingsKey, json_response, read_model

SOURCE = "resonanz/feedback"
CLAIM_VALID = timedelta(days=30)
BATCH = 50
DECLINED = "declined by the shopper"

routes = web.RouteTableDef()


def language_of(raw: str | None) -> str:
    """The shopper's language for mails and the claim page: German or English."""
    return "de" if (raw or "").strip().lower().startswith("de") else "en"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# --- payment details ----------------------------------------------------------------------


def mask_iban(compact: str) -> str:
    """`DE89370400440532013000` → `DE89 **** **** 3000`."""
    return f"{compact[:4]} **** **** {compact[-4:]}"


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def payee_context(payout_id: str) -> str:
    return f"payouts.payee_sealed:{payout_id}"


def open_payee(ring: KeyRing, payout_id: str, sealed: str | None) -> dict[str, Any] | None:
    """The payment details a shopper gave (IBAN, BIC, account holder; or PayPal address)."""
    if sealed is None:
        return None
    found: dict[str, Any] = json.loads(ring.decrypt(sealed, payee_context(payout_id)))
    return found


def checked_iban(raw: str | None, field: str) -> IBAN:
    """A valid IBAN of the SEPA zone, or a 400 naming `field` (the value is not echoed)."""
    if not raw or not raw.strip():
        raise InvalidInput.naming([{"field": field, "message": "required"}])
    try:
        iban = IBAN(raw)
    except (SchwiftyException, ValueError) as exc:
        raise InvalidInput.naming([{"field": field, "message": f"not a valid IBAN: {exc}"}]
                                  ) from None
    if not iban.in_sepa_zone:
        raise InvalidInput.naming([{"field": field, "message": "not an account in the SEPA"
                                    " zone"}])
    return iban


@dataclass(frozen=True)
class Payee:
    method: str
    details: dict[str, Any]
    masked: str


def payee_of(answer: ClaimAnswerIn) -> Payee:
    """The payment details of a claim, validated; a 400 names each field that is wrong."""
    if answer.method == "sepa":
        iban = checked_iban(answer.iban, "iban")
        holder = (answer.account_holder or "").strip()
        if len(holder) < 2:
            raise InvalidInput.naming([{"field": "account_holder",
                                        "message": "required: the name on the account"}])
        bic = str(iban.bic) if iban.bic is not None else None
        return Payee("sepa", {"iban": iban.compact, "bic": bic, "account_holder": holder},
                     mask_iban(iban.compact))
    address = (answer.paypal_email or "").strip()
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput.naming([{"field": "paypal_email", "message": str(exc)}]) from None
    return Payee("paypal", {"paypal_email": address}, mask_email(address))


# --- offering claims (the payout worker) ------------------------------------------------------


async def offer_claims(pool: asyncpg.Pool, topic: str, ring: KeyRing) -> int:
    """Offer a batch of approved cash payouts to their shoppers, each once."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT p.id, p.tenant_id, p.entry_id, p.amount, p.currency,"
            " e.metadata->>'language' AS language FROM payouts p"
            " JOIN entries e ON e.id = p.entry_id"
            " WHERE p.kind = 'amount' AND p.status = 'pending' AND p.claim_offered_at IS NULL"
            " ORDER BY p.created_at LIMIT $1 FOR UPDATE OF p SKIP LOCKED", BATCH)
        for row in rows:
            payout_id, token = str(row["id"]), secrets.token_urlsafe(32)
            expires = datetime.now(UTC) + CLAIM_VALID
            await conn.execute(
                "UPDATE payouts SET claim_digest = $2, claim_offered_at = now(),"
                " claim_expires_at = $3, updated_at = now() WHERE id = $1",
                row["id"], digest(token), expires)
            data = PayoutClaimOffered(
                payout_id=payout_id, response_id=str(row["entry_id"]), amount=row["amount"],
                currency=row["currency"], language=language_of(row["language"]),
                expires_at=expires,
                token_sealed=PayoutClaimOffered.seal_token(ring, payout_id, token))
            await enqueue(conn, new_event(data, source=SOURCE, tenant_id=str(row["tenant_id"]),
                                          subject=str(row["entry_id"])), topic)
    return len(rows)


# --- the claim page's two calls ------------------------------------------------------------------


class ClaimUsed(Conflict):
    code = "claim_used"


class ClaimExpired(DomainError):
    status, code = 410, "claim_expired"


CLAIM_COLUMNS = (
    "p.id, p.tenant_id, p.entry_id, p.amount, p.currency, p.status, p.claim_expires_at,"
    " p.payee_method, p.payee_masked, e.metadata->>'language' AS language")


async def _claim(conn: asyncpg.Connection, token: str, *, for_update: bool = False
                 ) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {CLAIM_COLUMNS} FROM payouts p JOIN entries e ON e.id = p.entry_id"
        f" WHERE p.claim_digest = $1{' FOR UPDATE OF p' if for_update else ''}",
        digest(token))
    if row is None:
        raise NotFound("this claim link is not valid", code="claim_not_found")
    return row


def _refuse_used_or_expired(row: asyncpg.Record) -> None:
    if row["status"] != "pending":
        raise ClaimUsed("this claim link has been used already",
                        details=[{"field": "token", "message": f"the reward is {row['status']}"}])
    if row["claim_expires_at"] is not None and row["claim_expires_at"] <= datetime.now(UTC):
        raise ClaimExpired("this claim link has expired; ask the shop for help",
                           details=[{"field": "token", "message": "expired"}])


def claim_json(row: asyncpg.Record) -> dict[str, Any]:
    public_status = row["status"] if row["status"] in ("pending", "claimed") else "cancelled"
    return {"status": public_status, "amount": str(row["amount"]), "currency": row["currency"],
            "language": language_of(row["language"]), "expires_at": row["claim_expires_at"],
            "payee": ({"method": row["payee_method"], "account": row["payee_masked"]}
                      if row["payee_method"] else None)}


@routes.post("/claims/lookup")
async def lookup_claim(request: web.Request) -> web.Response:
    """What the link offers; a used link is a 409, an expired one a 410."""
    body = await read_model(request, ClaimTokenIn)
    async with request.app[PoolKey].acquire() as conn:
        row = await _claim(conn, body.token)
    _refuse_used_or_expired(row)
    return json_response(claim_json(row))


@routes.post("/claims/answer")
async def answer_claim(request: web.Request) -> web.Response:
    """The shopper's choice, once: payment details (→ `claimed`) or declined
    (→ `cancelled`, `payout.failed`)."""
    body = await read_model(request, ClaimAnswerIn)
    payee = None if body.method == "decline" else payee_of(body)
    ring = request.app[SettingsKey].key_ring()
    topic = request.app[SettingsKey].topic_feedback
    async with request.app[PoolKey].acquire() as conn, conn.transaction():
        row = await _claim(conn, body.token, for_update=True)
        _refuse_used_or_expired(row)
        payout_id = str(row["id"])
        if payee is not None:
            await conn.execute(
                "UPDATE payouts SET status = 'claimed', claimed_at = now(), updated_at = now(),"
                " payee_method = $2, payee_sealed = $3, payee_masked = $4 WHERE id = $1",
                row["id"], payee.method,
                ring.encrypt(json.dumps(payee.details), payee_context(payout_id)), payee.masked)
        else:
            await conn.execute(
                "UPDATE payouts SET status = 'cancelled', failure_reason = $2,"
                " settled_by = 'shopper', updated_at = now() WHERE id = $1",
                row["id"], DECLINED)
            data = PayoutFailed(payout_id=payout_id, response_id=str(row["entry_id"]),
                                amount=row["amount"], currency=row["currency"],
                                status="cancelled", reason=DECLINED)
            await enqueue(conn, new_event(data, source=SOURCE, tenant_id=str(row["tenant_id"]),
                                          subject=str(row["entry_id"])), topic)
        row = await _claim(conn, body.token)
    return json_response(claim_json(row))


async def language_for_entry(conn: asyncpg.Connection, entry_id: str) -> str:
    """The shopper's language of an entry (for the "paid" email)."""
    raw = await conn.fetchval("SELECT metadata->>'language' FROM entries WHERE id = $1::uuid",
                              entry_id)
    return language_of(raw)
