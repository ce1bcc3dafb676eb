"""The gateway's housekeeping purges what has outlived its window, and only that: replayable
responses older than the 24 h idempotency window go, younger ones stay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from resonanz.gateway.housekeeping import PURGES, purge_expired
from resonanz.shared.db import create_pool, migrate
from resonanz.shared.settings import Settings

from .support import plan_of, scans


@pytest.fixture
async def gateway_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database_url, "gateway")
    pool = await create_pool(Settings(database_url=database_url).service_dsn("gateway"))
    try:
        yield pool
    finally:
        await pool.close()


async def keys_of(pool: asyncpg.Pool, tenant: uuid.UUID) -> set[str]:
    rows = await pool.fetch("SELECT key FROM idempotency_keys WHERE tenant_id = $1", tenant)
    return {r["key"] for r in rows}


async def test_replayable_responses_are_purged_after_the_window_in_batches(
        gateway_pool: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    insert = ("INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, created_at)"
              " VALUES ($1, $2, '\\x00', 'done', now() - make_interval(secs => $3))")
    await gateway_pool.executemany(insert, [(tenant, f"old-{n}", 25 * 3600.0) for n in range(5)])
    await gateway_pool.executemany(insert, [(tenant, "recent", 23 * 3600.0),
                                            (tenant, "fresh", 1.0)])

    assert await purge_expired(gateway_pool, batch=3) == 3
    assert len(await keys_of(gateway_pool, tenant)) == 4
    assert await purge_expired(gateway_pool, batch=3) == 2
    assert await keys_of(gateway_pool, tenant) == {"recent", "fresh"}
    assert await purge_expired(gateway_pool, batch=3) == 0



async def test_the_audit_purge_reads_its_index_not_the_table(gateway_pool: asyncpg.Pool) -> None:
    """20,000 young audit rows, none expired, in a table autoanalyze has not seen: the
    purge finds that out from the `at` index's old end. `id IN (SELECT ... LIMIT)` was
    planned as scans of the whole table, every five minutes, however many rows it held."""
    await gateway_pool.execute(
        "INSERT INTO audit_events (tenant_id, at, role, method, operation, path, status)"
        " SELECT $1, now() - make_interval(secs => g), 'owner', 'POST', '/v1/feedback',"
        " '/v1/feedback', 201 FROM generate_series(1, 20000) g", uuid.uuid4())
    async with gateway_pool.acquire() as conn:
        explaining = conn.transaction()
        await explaining.start()
        plan = plan_of(await conn.fetchval(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + PURGES["audit_events"], 1000))
        await explaining.rollback()
    assert "Seq Scan" not in {node["Node Type"] for node in scans(plan, "audit_events")}
    assert plan["Shared Hit Blocks"] + plan["Shared Read Blocks"] < 100
