"""`python -m resonanz.analytics rebuild --tenant ID | --all`: recompute a tenant's (or
every tenant's) aggregates from the feedback service's data (asked over internal HTTP,
never from its schema)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import asyncpg

from resonanz.shared.caller import Caller
from resonanz.shared.db import create_pool
from resonanz.shared.events import EntrySnapshot
from resonanz.shared.web import INTERNAL_TOKEN_HEADER

from . import store
from .app import SERVICE, AnalyticsSettings
from .consumers import apply_snapshots

log = logging.getLogger(__name__)
PAGE = 1000


def register(commands: argparse._SubParsersAction, settings: AnalyticsSettings) -> None:
    parser = commands.add_parser("rebuild", help="recompute a tenant's aggregates")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant")
    which.add_argument("--all", action="store_true",
                       help="every tenant analytics holds entries of (after an upgrade)")
    parser.set_defaults(handler=lambda args: print(json.dumps(
        asyncio.run(rebuild(settings, args.tenant) if args.tenant
                    else rebuild_all(settings)))))


async def snapshots(settings: AnalyticsSettings, tenant_id: str
                    ) -> AsyncIterator[list[EntrySnapshot]]:
    headers = {INTERNAL_TOKEN_HEADER: settings.internal_token.get_secret_value(),
               **Caller(tenant_id).headers()}
    after = ""
    async with aiohttp.ClientSession(headers=headers) as http:
        while True:
            async with http.get(f"{settings.feedback_url}/internal/snapshots",
                                params={"after": after, "limit": str(PAGE)}) as response:
                response.raise_for_status()
                page = [EntrySnapshot.model_validate(s) for s in await response.json()]
            if not page:
                return
            yield page
            after = page[-1].id


async def rebuild(settings: AnalyticsSettings, tenant_id: str) -> dict[str, object]:
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    try:
        return await rebuild_tenant(settings, pool, tenant_id)
    finally:
        await pool.close()


async def rebuild_all(settings: AnalyticsSettings) -> list[dict[str, object]]:
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    try:
        return [await rebuild_tenant(settings, pool, tenant)
                for tenant in await store.tenants_with_entries(pool)]
    finally:
        await pool.close()


async def rebuild_tenant(settings: AnalyticsSettings, pool: asyncpg.Pool, tenant_id: str
                         ) -> dict[str, object]:
    """One transaction: readers see the old aggregates until the new ones are complete."""
    entries = 0
    async with pool.acquire() as conn, conn.transaction():
        await store.forget_tenant(conn, tenant_id)
        async for page in snapshots(settings, tenant_id):
            await apply_snapshots(conn, [(tenant_id, snapshot) for snapshot in page])
            entries += len(page)
    log.info("rebuilt %s from %d entries", tenant_id, entries)
    return {"tenant_id": tenant_id, "entries": entries}
