"""The provider worker: claimed PayPal payouts paid through PayPal's Payouts API, when the
operator has configured it (RESONANZ_PAYPAL_*; without it they wait for the shop to mark
them paid by hand, as before).

Exactly once, across restarts and replicas:
- An attempt is recorded before the call (one transaction: `claimed` → `processing`, the
  provider, the attempt counted, and a lease on the row in `provider_due_at`), so a crash
  after the call leaves a row the next round sends again, with the same idempotency key
  (providers.py: PayPal pays a payout id once).
- The answer's reference is stored; then the status poll follows it up until the provider
  says paid or failed. Settling locks the row and acts only while it is `processing`: one
  `payout.completed` (the webhook and the shopper's "paid" email) or `payout.failed`,
  whoever polls, however often.
- A provider that does not answer moves nothing: the payout stays `processing` and is
  tried again later (backing off up to an hour); the shop can still settle it by hand.

The payee's address is opened only for the call and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import asyncpg
from aiohttp import web

from resonanz.shared.crypto import KeyRing, UndecryptableSecret
from resonanz.shared.db import PoolKey
from resonanz.shared.web import CleanupCtx
from resonanz.shared.worker import Repeating, running

from . import claims, commands, store
from .providers import (
    PayoutProvider,
    PayPalPayouts,
    ProviderPayout,
    ProviderRefused,
    ProviderStatus,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

SOURCE = "resonanz/feedback"
ACTOR = "system:paypal"
BATCH = 20
MAX_WAIT = timedelta(hours=1)
ERASED = "payment details erased before sending"

# Claimed PayPal payouts not sent yet, and those sent without an answer whose lease has run
# out; each taken with its attempt recorded (lease: the next try's time).
TAKE_TO_SEND = (
    "UPDATE payouts SET status = 'processing', provider = $1, updated_at = now(),"
    " provider_attempts = provider_attempts + 1,"
    " provider_due_at = now() + least($3::float8 * interval '1 second'"
    "                                 * 2 ^ least(provider_attempts, 20), $4::interval)"
    " WHERE id IN (SELECT id FROM payouts WHERE kind = 'amount' AND payee_method = 'paypal'"
    "  AND (status = 'claimed' OR (status = 'processing' AND provider = $1"
    "       AND provider_reference IS NULL AND provider_due_at <= now()))"
    "  ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, amount, currency, payee_sealed, provider_attempts")



def next_poll(poll: str, cap: str) -> str:
    """SQL: when to ask for a sent payout's status next, `poll` (seconds) and `cap` (an
    interval) being parameters: `poll` at first, then a tenth of the time since the claim
    (a payment PayPal holds for days is not asked about every minute), at most `cap`."""
    return (f"now() + least({cap}::interval, greatest({poll}::float8 * interval '1 second',"
            " (now() - coalesce(claimed_at, created_at)) / 10))")


# Sent payouts whose status poll is due, each leased until its next one.
TAKE_TO_POLL = (
    f"UPDATE payouts SET provider_due_at = {next_poll('$3', '$4')}"
    " WHERE id IN (SELECT id FROM payouts WHERE kind = 'amount' AND payee_method = 'paypal'"
    "  AND status = 'processing' AND provider = $1 AND provider_reference IS NOT NULL"
    "  AND provider_due_at <= now() ORDER BY provider_due_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, provider_reference")


async def pay_due(pool: asyncpg.Pool, topic: str, ring: KeyRing, provider: PayoutProvider,
                  poll: float) -> int:
    """One round: send what is due, then follow up what was sent; how many it handled."""
    return await send_due(pool, topic, ring, provider, poll) + await poll_due(
        pool, topic, provider, poll)


async def send_due(pool: asyncpg.Pool, topic: str, ring: KeyRing, provider: PayoutProvider,
                   poll: float) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(TAKE_TO_SEND, provider.name, BATCH, poll, MAX_WAIT)
    for row in rows:
        await _send(pool, topic, ring, provider, row, poll)
    return len(rows)


async def _send(pool: asyncpg.Pool, topic: str, ring: KeyRing, provider: PayoutProvider,
                row: asyncpg.Record, poll: float) -> None:
    payout_id = str(row["id"])
    try:
        payee = claims.open_payee(ring, payout_id, row["payee_sealed"])
    except UndecryptableSecret as exc:
        log.error("payout %s: its payment details do not open (%s); kept", payout_id, exc)
        return
    if payee is None:
        await settle(pool, topic, payout_id, ProviderStatus("failed", "ERASED"), ERASED)
        return
    try:
        reference = await provider.pay(
            ProviderPayout(payout_id, row["amount"], row["currency"]), payee)
    except ProviderUnavailable as exc:
        log.warning("payout %s not sent yet (attempt %d, tried again later): %s", payout_id,
                    row["provider_attempts"], exc)
        await pool.execute("UPDATE payouts SET provider_status = $2 WHERE id = $1",
                           row["id"], str(exc)[:200])
        return
    except ProviderRefused as exc:
        log.warning("payout %s refused by %s: %s", payout_id, provider.name, exc)
        await settle(pool, topic, payout_id, ProviderStatus("failed", exc.name or "REFUSED"),
                     str(exc))
        return
    await pool.execute(
        "UPDATE payouts SET provider_reference = $2, provider_status = 'SENT',"
        f" provider_due_at = {next_poll('$4', '$5')},"
        " updated_at = now() WHERE id = $1 AND status = 'processing' AND provider = $3",
        row["id"], reference, provider.name, poll, MAX_WAIT)
    log.info("payout %s sent to %s", payout_id, provider.name)


async def poll_due(pool: asyncpg.Pool, topic: str, provider: PayoutProvider,
                   poll: float) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(TAKE_TO_POLL, provider.name, BATCH, poll, MAX_WAIT)
    for row in rows:
        try:
            found = await provider.status(row["provider_reference"])
        except (ProviderUnavailable, ProviderRefused) as exc:
            log.warning("payout %s: status not known yet: %s", row["id"], exc)
            continue
        if found.state == "pending":
            await pool.execute("UPDATE payouts SET provider_status = $2 WHERE id = $1",
                               row["id"], found.detail)
        else:
            await settle(pool, topic, str(row["id"]), found, f"PayPal: {found.detail}")
    return len(rows)


async def settle(pool: asyncpg.Pool, topic: str, payout_id: str, found: ProviderStatus,
                 reason: str) -> bool:
    """Paid or failed (for `reason`) as the provider says, with its event, once: only a
    payout still `processing` moves (a second poll, or a shop that settled it by hand,
    finds it moved)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(f"SELECT {store.PAYOUT_COLUMNS}, p.tenant_id FROM payouts p"
                                  " WHERE p.id = $1 FOR UPDATE", payout_id)
        if row is None or row["status"] != "processing":
            return False
        payout = store.payout_dict(row)
        await commands.record_settlement(
            conn, topic, payout, "paid" if found.state == "paid" else "failed", "paypal",
            found.transaction, None if found.state == "paid" else reason, ACTOR)
        await conn.execute("UPDATE payouts SET provider_status = $2, provider_due_at = NULL"
                           " WHERE id = $1", row["id"], found.detail)
    log.info("payout %s %s by %s", payout_id, found.state, ACTOR)
    return True


def provider_worker_ctx(base_url: str | None, client_id: str | None, secret: str | None,
                        poll: float, topic: str, ring: KeyRing) -> CleanupCtx:
    """The worker, when a provider is configured. It has an HTTP client of its own: the
    service's carries the internal token, which must never reach a provider."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not (base_url and client_id and secret):
            yield
            return
        async with aiohttp.ClientSession() as http:
            provider = PayPalPayouts(http, base_url, client_id, secret)
            pool = app[PoolKey]
            worker = Repeating(lambda: pay_due(pool, topic, ring, provider, poll),
                               batch=BATCH, poll_interval=poll, what="provider worker")
            async with running(worker):
                yield

    return ctx

