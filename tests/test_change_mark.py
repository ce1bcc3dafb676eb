"""The inbox lists' change mark (their ETag) on real PostgreSQL: it moves with every kind of
change, also one committed behind a later-stamped one, stays put otherwise, and reads
the index only — not the tenant's entries."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from resonanz.feedback.store import CHANGE_MARK_SQL, change_mark
from resonanz.shared.db import migrate
from resonanz.shared.settings import Settings

from .support import plan_of, scans

TENANT = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
# RESONANZ_MARK_ENTRIES=1000000 measures at the scale; the default keeps the run short.
ENTRIES = int(os.environ.get("RESONANZ_MARK_ENTRIES", "20000"))


@pytest.fixture
async def entries(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database_url, "feedback")
    pool = await asyncpg.create_pool(Settings(database_url=database_url).service_dsn("feedback"))
    assert pool is not None
    for tenant, count in ((TENANT, ENTRIES), (OTHER, 1000)):
        await pool.execute(
            "INSERT INTO entries (id, tenant_id, body, created_at, updated_at)"
            " SELECT gen_random_uuid(), $1, 'x', t, t FROM (SELECT now() - n * interval"
            " '1 minute' AS t FROM generate_series(1, $2) n) s", tenant, count)
    await pool.execute("VACUUM ANALYZE entries")
    try:
        yield pool
    finally:
        await pool.close()


async def test_the_mark_moves_with_each_change_and_only_then(entries: asyncpg.Pool) -> None:
    mark = await change_mark(entries, TENANT)
    assert await change_mark(entries, TENANT) == mark, "nothing changed"
    await entries.execute("INSERT INTO entries (id, tenant_id, body) VALUES ($1, $2, 'y')",
                          uuid.uuid4(), OTHER)
    assert await change_mark(entries, TENANT) == mark, "another tenant's entry"

    newest = uuid.uuid4()
    await entries.execute("INSERT INTO entries (id, tenant_id, body) VALUES ($1, $2, 'y')",
                          newest, TENANT)
    assert (after_insert := await change_mark(entries, TENANT)) != mark
    # A change stamped before the newest one (its transaction began first, committed later).
    await entries.execute(
        "UPDATE entries SET status = 'resolved', version = version + 1, updated_at ="
        " (SELECT max(updated_at) FROM entries WHERE tenant_id = $1) - interval '5 seconds'"
        " WHERE id = (SELECT id FROM entries WHERE tenant_id = $1 AND id <> $2 LIMIT 1)",
        TENANT, newest)
    assert (after_late := await change_mark(entries, TENANT)) != after_insert
    await entries.execute("UPDATE entries SET deleted_at = now(), version = version + 1,"
                          " updated_at = now() WHERE id = $1", newest)
    assert await change_mark(entries, TENANT) != after_late


async def test_the_mark_reads_the_index_not_the_entries(entries: asyncpg.Pool) -> None:
    raw = await entries.fetchval(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {CHANGE_MARK_SQL}", TENANT)
    found = scans(plan_of(raw), "entries")
    assert found and all(s["Node Type"] == "Index Only Scan"
                         and s["Index Name"] == "entries_tenant_changed" for s in found), found
    assert sum(s["Actual Rows"] * s.get("Actual Loops", 1) for s in found) < 10, found
    started = time.perf_counter()
    for _ in range(50):
        await change_mark(entries, TENANT)
    each = (time.perf_counter() - started) / 50 * 1000
    print(f"change mark over {ENTRIES} entries: {each:.2f} ms a read (50 reads)")
