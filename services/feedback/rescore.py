"""`python -m resonanz.feedback rescore --tenant ID`: recompute a tenant's quality scores
with the current scorer (scoring.VERSION).

Entries whose stored score another version computed (`quality_version`, migration 0012)
are rescored in batches, newest first, one transaction per batch; a batch's rows are locked
while it runs, so an edit at the same time waits for it instead of being overwritten.
Restart-safe: each batch commits the new version with the scores, so a second run (after a
crash or Ctrl-C) continues with what is left, and a run with nothing left changes nothing.

What is recomputed: the score, its label and the breakdown, from the stored text, rating and
answers. The near-duplicate verdict is kept: the fingerprint has not changed between versions
(it is pinned by a test), so an entry found a copy is compared with the entry it copied
again, not with the campaign as it is today. Not touched: reward decisions already taken
(a rescore does not approve or reject a reward, nor undo a payout), soft-deleted entries
(rescored by a later run once restored) and entries whose text was erased.

No event is published. The score is derived data: analytics aggregates none of it, and a
`feedback.updated` per entry would send every webhook subscriber of the tenant one
`feedback_updated` per past entry for a change nobody made to the entry. The inbox reads
the database, and lists' ETags move because each write moves the entry's version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

import asyncpg

from resonanz.shared.db import create_pool
from resonanz.shared.params import parse_uuid

from . import store
from .app import SERVICE, FeedbackSettings
from .scoring import VERSION, Fingerprint, score_feedback

log = logging.getLogger(__name__)
ACTOR = "system:rescore"
BATCH = 500


def register(commands: argparse._SubParsersAction, settings: FeedbackSettings) -> None:
    parser = commands.add_parser(
        "rescore", help=f"recompute a tenant's quality scores with the current scorer ({VERSION})")
    parser.add_argument("--tenant", required=True, help="the organization's id")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"entries per transaction (default {BATCH})")
    parser.set_defaults(handler=lambda args: print(json.dumps(
        asyncio.run(rescore(settings, _tenant(parser, args.tenant), args.batch)))))


def _tenant(parser: argparse.ArgumentParser, value: str) -> str:
    tenant = parse_uuid(value)
    if tenant is None:
        parser.error(f"--tenant: not an organization id: {value!r}")
    return str(tenant)


async def rescore(settings: FeedbackSettings, tenant_id: str, batch: int = BATCH
                  ) -> dict[str, Any]:
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=1)
    try:
        return await rescore_tenant(pool, tenant_id, batch)
    finally:
        await pool.close()


async def rescore_tenant(pool: asyncpg.Pool, tenant_id: str, batch: int = BATCH
                         ) -> dict[str, Any]:
    if batch < 1:
        raise ValueError("batch must be at least 1")
    counts = {"rescored": 0, "score_changed": 0, "label_changed": 0, "batches": 0}
    before = None
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await store.outdated_scores(conn, tenant_id, VERSION, before, batch)
            if not rows:
                return {"tenant_id": tenant_id, "version": VERSION, **counts}
            results = await _rescored(conn, tenant_id, rows)
            await store.store_rescored(conn, tenant_id, ACTOR, results)
        before = (rows[-1]["created_at"], str(rows[-1]["id"]))
        counts["batches"] += 1
        counts["rescored"] += len(results)
        counts["score_changed"] += sum(
            r.before["quality_score"] != r.after["quality_score"] for r in results)
        counts["label_changed"] += sum(r.before["label"] != r.after["label"] for r in results)
        log.info("rescored %d entries of tenant %s", counts["rescored"], tenant_id)


async def _rescored(conn: asyncpg.Connection, tenant_id: str, rows: list[asyncpg.Record]
                    ) -> list[store.Rescored]:
    old = {str(r["id"]): r["quality"] or {} for r in rows}
    copied = {i: q["duplicate_of"] for i, q in old.items() if q.get("duplicate_of")}
    originals = await store.fingerprints_of(conn, tenant_id, sorted(set(copied.values())))
    results = []
    for row in rows:
        entry_id = str(row["id"])
        original = copied.get(entry_id)
        earlier = ([Fingerprint.from_signed(original, originals[original])]
                   if original in originals else [])
        quality = score_feedback(row["body"], row["rating"], row["answers"], earlier)
        results.append(store.Rescored(entry_id, quality.as_dict(), {
            "quality_score": row["quality_score"], "label": old[entry_id].get("label")}))
    return results
