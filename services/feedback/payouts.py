"""The payout worker: completes approved rewards and announces them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from aiohttp import web

from resonanz.shared.db import PoolKey
from resonanz.shared.events import PayoutCompleted, new_event
from resonanz.shared.outbox import enqueue
from resonanz.shared.settings import Settings
from resonanz.shared.worker import Waker, repeat

from . import store

log = logging.getLogger(__name__)

SOURCE = "resonanz/feedback"
POLL_INTERVAL = 0.5
BATCH = 50


async def complete_payouts(pool: asyncpg.Pool, topic: str) -> int:
    """Complete a batch of pending payouts; several workers never take the same one."""
    async with pool.acquire() as conn, conn.transaction():
        payouts = await store.claim_pending_payouts(conn, BATCH)
        for payout in payouts:
            await _complete(conn, topic, payout)
    return len(payouts)


async def _complete(conn: asyncpg.Connection, topic: str, payout: dict[str, Any]) -> None:
    voucher = None
    if payout["kind"] == "voucher":
        voucher = await store.take_voucher(conn, payout["widget_id"], payout["id"])
        if voucher is None:
            log.warning("voucher pool of %s is empty; payout %s blocked",
                        payout["widget_id"], payout["id"])
            await store.block_payout(conn, payout["id"], "voucher pool empty")
            return
    await store.complete_payout(conn, payout, voucher)
    data = PayoutCompleted(payout_id=payout["id"], response_id=payout["entry_id"],
                           amount=payout["amount"], currency=payout["currency"],
                           voucher_code=voucher, customer_email=payout["customer_email"])
    event = new_event("payout.completed", source=SOURCE, tenant_id=payout["tenant_id"],
                      subject=payout["entry_id"], data=data)
    await enqueue(conn, event, topic)


async def run_worker(pool: asyncpg.Pool, topic: str, waker: Waker) -> None:
    await repeat(lambda: complete_payouts(pool, topic), waker, batch=BATCH,
                 poll_interval=POLL_INTERVAL, what="payout worker")


def payout_worker_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        waker = Waker()
        task = asyncio.create_task(run_worker(app[PoolKey], settings.topic_feedback, waker))
        yield
        waker.stop()
        await task

    return ctx
