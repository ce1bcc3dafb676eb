"""`python -m resonanz.feedback rescore --tenant ID` on a running stack: entries scored by an
older scorer get the current version's score, label and breakdown, in batches, audited,
without events; a second run finds nothing left, and a run after a partial one continues
with what is left. The scorer itself: services/feedback/tests/test_scoring.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from resonanz.devstack.supervisor import Stack
from resonanz.feedback.scoring import VERSION
from resonanz.shared.db import create_pool
from resonanz.shared.settings import Settings

from .helpers import Api, new_tenant

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

REFERENCE = "Checkout button was unresponsive on mobile Safari."
COPIED = ("Die Jacke in Größe M ist an den Ärmeln 4 cm zu kurz, der Reißverschluss klemmt "
          "schon nach einer Woche und das Rücksendeetikett fehlte im Paket.")
TEXTS = [(REFERENCE, 2), ("Alles super, schnelle Lieferung, gerne wieder!", 5),
         ("Cheap watches at www.replica-deals.top buy now!!!", 5), (COPIED, 2), (COPIED, 2)]
# What 2026.1 stored for the reference example (issue 25): 49, "fair".
OLD = {"version": "2026.1", "score": 49, "label": "fair"}


@pytest.fixture
async def shop(shared_stack: Stack, http: aiohttp.ClientSession
               ) -> AsyncIterator[tuple[str, Api, asyncpg.Pool, list[str]]]:
    tenant, key = await new_tenant(shared_stack, "Rescore Shop")
    api = Api(http, shared_stack, key)
    ids = [(await api.ok("POST", "/v1/feedback", {"body": text, "rating": rating}))["data"]["id"]
           for text, rating in TEXTS]
    dsn = Settings(database_url=shared_stack.database_url).service_dsn("feedback")
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        yield tenant, api, pool, ids
    finally:
        await pool.close()


async def rescore(stack: Stack, tenant: str, *args: str) -> dict[str, Any]:
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "resonanz.feedback", "rescore", "--tenant",
                         tenant, *args], env=stack.env(), capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def make_outdated(pool: asyncpg.Pool, ids: list[str]) -> None:
    """What an entry scored before this version looks like: no quality_version (the
    column came with 2026.2) and the old version inside the stored document."""
    await pool.execute(
        "UPDATE entries SET quality_version = NULL, quality_score = $2::int,"
        " quality = quality || jsonb_build_object('version', $3::text, 'score', $2::int,"
        " 'label', $4::text) WHERE id = ANY($1::uuid[])",
        ids, OLD["score"], OLD["version"], OLD["label"])


async def rows(pool: asyncpg.Pool, ids: list[str]) -> dict[str, asyncpg.Record]:
    found = await pool.fetch(
        "SELECT id, quality, quality_score, quality_version, version FROM entries"
        " WHERE id = ANY($1::uuid[])", ids)
    return {str(r["id"]): r for r in found}


async def outbox_rows(pool: asyncpg.Pool, ids: list[str]) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE key = ANY($1::text[])",
                                     ids)
    return count


async def test_rescore_brings_a_tenants_scores_to_the_current_version(
        shared_stack: Stack, shop: tuple[str, Api, asyncpg.Pool, list[str]]) -> None:
    tenant, api, pool, ids = shop
    reference, generic, spam, original, copy = ids
    fresh = await rows(pool, ids)
    assert {r["quality_version"] for r in fresh.values()} == {VERSION}, "stored with its version"
    assert fresh[copy]["quality"]["duplicate_of"] == original

    await make_outdated(pool, ids)
    before = await rows(pool, ids)
    events = await outbox_rows(pool, ids)

    result = await rescore(shared_stack, tenant, "--batch", "2")
    assert result == {"tenant_id": tenant, "version": VERSION, "rescored": 5, "batches": 3,
                      "score_changed": 5, "label_changed": 5}
    after = await rows(pool, ids)
    for entry_id in ids:
        quality = after[entry_id]["quality"]
        assert after[entry_id]["quality_version"] == quality["version"] == VERSION
        assert after[entry_id]["quality_score"] == quality["score"] == \
            fresh[entry_id]["quality_score"]
        assert after[entry_id]["version"] == before[entry_id]["version"] + 1
        assert all(part["reason"] for part in quality["components"].values())
    labels = {i: after[i]["quality"]["label"] for i in ids}
    assert labels[reference] == "good" and labels[spam] == "spam"
    assert labels[generic] in ("fair", "poor")
    assert after[copy]["quality"]["duplicate_of"] == original, "the copy stays a copy"

    # Shown through the API, audited, and no event: a rescore is nobody's edit.
    detail = await api.ok("GET", f"/api/v1/responses/{reference}")
    assert detail["data"]["quality"]["version"] == VERSION
    assert detail["data"]["quality"]["label"] == "good"
    audit = await pool.fetchrow(
        "SELECT actor, before, after FROM audit_log WHERE entry_id = $1 AND action = 'rescored'",
        reference)
    assert audit is not None and audit["actor"] == "system:rescore"
    assert audit["before"] == {"quality_score": OLD["score"], "label": OLD["label"]}
    assert audit["after"] == {"quality_score": fresh[reference]["quality_score"],
                              "label": "good"}
    assert await outbox_rows(pool, ids) == events

    # Nothing left: a second run changes nothing.
    again = await rescore(shared_stack, tenant)
    assert (again["rescored"], again["batches"]) == (0, 0)
    assert {i: r["version"] for i, r in (await rows(pool, ids)).items()} == \
        {i: r["version"] for i, r in after.items()}

    # As after a run that stopped half-way: only what is still outdated is rescored.
    await make_outdated(pool, [generic, spam])
    partial = await rescore(shared_stack, tenant, "--batch", "1")
    assert (partial["rescored"], partial["batches"]) == (2, 2)


async def test_rescore_names_a_bad_tenant_id(shared_stack: Stack) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "resonanz.feedback", "rescore", "--tenant",
                         "shop-1"], env=shared_stack.env(), capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 2
    assert "--tenant: not an organization id: 'shop-1'" in done.stderr
