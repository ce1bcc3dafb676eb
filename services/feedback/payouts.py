"""The payout worker: pays approved voucher rewards (a code from the widget's pool, which
the shopper gets by email) and announces them, and offers approved cash rewards to their
shoppers (claims.py: the claim link's email). Cash waits in `pending` (then `claimed`) for
the shop to pay it: a SEPA batch (sepa.py) or commands.settle_payout (marked paid, failed or
cancelled)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from resonanz.shared.caller import Caller
from resonanz.shared.crypto import KeyRing
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import ServiceUnavailable
from resonanz.shared.events import PayoutCompleted, new_event
from resonanz.shared.outbox import enqueue
from resonanz.shared.settings import Settings
from resonanz.shared.web import CleanupCtx, HttpClientKey
from resonanz.shared.worker import Repeating, Worker, background_ctx

from . import claims, store
from .domain import Campaign

log = logging.getLogger(__name__)

SOURCE = "resonanz/feedback"
POLL_INTERVAL = 0.5
BATCH = 50


class VoucherPools:
    """Where the codes of a widget's voucher pool come from: the widgets service, asked over
    internal HTTP (events name a pool only by its size and digest)."""

    def __init__(self, http: aiohttp.ClientSession, widgets_url: str) -> None:
        self.http, self.widgets_url = http, widgets_url.rstrip("/")

    async def codes(self, tenant_id: str, widget_id: str) -> tuple[list[str], str | None]:
        async with self.http.get(f"{self.widgets_url}/widgets/{widget_id}/voucher-codes",
                                 headers=Caller(tenant_id).headers()) as response:
            response.raise_for_status()
            body = await response.json()
        return [str(code) for code in body["codes"]], body["digest"]

    async def widget(self, tenant_id: str, widget_id: str) -> dict[str, Any] | None:
        """The widget as the widgets service has it now; None when it has none."""
        async with self.http.get(f"{self.widgets_url}/widgets/{widget_id}",
                                 headers=Caller(tenant_id).headers()) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            found: dict[str, Any] = await response.json()
        return found


WidgetsKey = web.AppKey("widgets_service", VoucherPools)


async def learn_campaign(pool: asyncpg.Pool, widgets: VoucherPools, tenant_id: str,
                         entry_id: str) -> None:
    """Before a review: the entry's widget's reward as the widgets service has it now, when
    this service has not heard of the widget yet (its event may still be on the way; an
    approval must not pay nothing for that). The event, when it comes, changes nothing older
    than what is stored (campaign versions)."""
    entry = await store.get_entry(pool, tenant_id, entry_id)
    if entry.widget_id is None:
        return
    async with pool.acquire() as conn:
        if await store.campaign_of(conn, tenant_id, entry.widget_id) is not None:
            return
    try:
        widget = await widgets.widget(tenant_id, entry.widget_id)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ServiceUnavailable("the widget's reward cannot be read right now, retry shortly",
                                 headers={"Retry-After": "1"}) from exc
    if widget is None:
        return  # deleted, or never ours: no reward to pay
    campaign = Campaign(entry.widget_id, widget["status"], widget["reward"],
                        widget["auto_approve_above"], widget["auto_reject_below"])
    async with pool.acquire() as conn:
        await store.upsert_campaign(conn, tenant_id, widget["version"] or 0, campaign)


async def fetch_voucher_pools(pool: asyncpg.Pool, pools: VoucherPools) -> None:
    """Bring the pools pending voucher payouts wait for up to date. A widgets service that
    does not answer leaves them as they are: the payouts wait, they are not blocked."""
    for tenant_id, widget_id in await store.pools_to_fetch(pool):
        try:
            codes, digest = await pools.codes(tenant_id, widget_id)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("voucher pool of %s not fetched: %r", widget_id, exc)
            continue
        async with pool.acquire() as conn, conn.transaction():
            await store.store_voucher_pool(conn, widget_id, codes, digest)


async def complete_payouts(pool: asyncpg.Pool, topic: str, ring: KeyRing,
                           pools: VoucherPools | None = None) -> int:
    """Pay a batch of pending voucher payouts and offer a batch of approved cash rewards to
    their shoppers (claims.offer_claims); several workers never take the same one."""
    if pools is not None:
        await fetch_voucher_pools(pool, pools)
    async with pool.acquire() as conn, conn.transaction():
        payouts = await store.claim_pending_vouchers(conn, BATCH)
        for payout in payouts:
            await _complete(conn, topic, ring, payout)
    return max(len(payouts), await claims.offer_claims(pool, topic, ring))


async def _complete(conn: asyncpg.Connection, topic: str, ring: KeyRing,
                    payout: dict[str, Any]) -> None:
    voucher = await store.take_voucher(conn, payout["widget_id"], payout["id"])
    if voucher is None:
        log.warning("voucher pool of %s is empty; payout %s blocked",
                    payout["widget_id"], payout["id"])
        await store.block_payout(conn, payout["id"], "voucher pool empty")
        return
    await store.issue_voucher(conn, payout["id"], voucher)
    data = PayoutCompleted(
        payout_id=payout["id"], response_id=payout["entry_id"], amount=payout["amount"],
        currency=payout["currency"],
        voucher_code_sealed=PayoutCompleted.seal_voucher(ring, payout["id"], voucher))
    event = new_event(source=SOURCE, tenant_id=payout["tenant_id"],
                      subject=payout["entry_id"], data=data)
    await enqueue(conn, event, topic)


def payout_worker_ctx(settings: Settings, widgets_url: str) -> CleanupCtx:
    """Runs after http_client_ctx (it asks the widgets service for voucher codes)."""

    def start(app: web.Application) -> list[Worker]:
        pool, topic, ring = app[PoolKey], settings.topic_feedback, settings.key_ring()
        pools = app[WidgetsKey] = VoucherPools(app[HttpClientKey], widgets_url)
        return [Repeating(lambda: complete_payouts(pool, topic, ring, pools), batch=BATCH,
                          poll_interval=POLL_INTERVAL, what="payout worker")]

    return background_ctx(start)
