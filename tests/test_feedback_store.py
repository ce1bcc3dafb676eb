"""The feedback store's hot queries on real PostgreSQL: what they find and what they read."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from resonanz.feedback.store import NEAR_FINGERPRINTS_SQL, near_fingerprints
from resonanz.shared.db import migrate
from resonanz.shared.settings import Settings

TENANT = str(uuid.uuid4())
WIDGET = str(uuid.uuid4())
CAMPAIGN_SIZE = 3000
WINDOW = 500


@pytest.fixture
async def feedback_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url, "feedback")
    conn = await asyncpg.connect(Settings(database_url=database_url).service_dsn("feedback"))
    rng = random.Random(7)
    for widget in (None, WIDGET):
        await conn.executemany(
            "INSERT INTO entries (id, tenant_id, widget_id, body, simhash, created_at,"
            " updated_at) VALUES ($1, $2, $3, 'x', $4,"
            " now() - $5 * interval '1 second', now())",
            [(uuid.uuid4(), TENANT, widget, rng.getrandbits(64) - 2**63, n)
             for n in range(1, CAMPAIGN_SIZE + 1)])
    await conn.execute("ANALYZE entries")
    try:
        yield conn
    finally:
        await conn.close()


def scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "entries" else []
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


@pytest.mark.parametrize("widget", [None, WIDGET], ids=["without widget", "with widget"])
async def test_near_duplicate_lookup_reads_only_the_window(
    feedback_db: asyncpg.Connection, widget: str | None,
) -> None:
    # Prepared statements switch to a generic plan after five runs: check that one too.
    for mode in ("force_custom_plan", "force_generic_plan"):
        await feedback_db.execute(f"SET plan_cache_mode = {mode}")
        raw = await feedback_db.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {NEAR_FINGERPRINTS_SQL}",
            TENANT, widget, WINDOW, 12345, 12)
        [scan] = scans(json.loads(raw)[0]["Plan"])
        assert scan["Index Name"] == "entries_campaign_fingerprints", (mode, scan)
        assert scan["Actual Rows"] <= WINDOW, (mode, scan["Actual Rows"])


@pytest.mark.parametrize("widget", [None, WIDGET], ids=["without widget", "with widget"])
async def test_near_duplicates_are_found_in_the_campaigns_latest_entries_only(
    feedback_db: asyncpg.Connection, widget: str | None,
) -> None:
    recent, old = uuid.uuid4(), uuid.uuid4()
    recent_hash, old_hash = 0x0F0F_0F0F_0F0F_0F0F, 0x3C3C_3C3C_3C3C_3C3C
    await feedback_db.executemany(
        "INSERT INTO entries (id, tenant_id, widget_id, body, simhash, created_at, updated_at)"
        " VALUES ($1, $2, $3, 'x', $4, now() - $5 * interval '1 second', now())",
        [(recent, TENANT, widget, recent_hash, 0.5),
         (old, TENANT, widget, old_hash, WINDOW + 10.5)])

    near = await near_fingerprints(feedback_db, TENANT, widget, recent_hash ^ 0b101, 12)
    assert near == [(str(recent), recent_hash)]
    assert await near_fingerprints(feedback_db, TENANT, widget, old_hash ^ 0b1, 12) == []
    other = None if widget else WIDGET  # the other campaign never matches
    assert await near_fingerprints(feedback_db, TENANT, other, recent_hash, 12) == []
