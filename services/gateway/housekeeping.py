"""Rows the gateway keeps only for a while, purged in small batches every few minutes, so
no table grows with traffic and nothing one-time outlives its window, even sealed.

Each purge is one statement deleting at most `BATCH` expired rows by an indexed column;
a full batch runs again at once.
"""

from __future__ import annotations

import logging

import asyncpg

from resonanz.shared.db import PoolKey, oldest_first_delete
from resonanz.shared.web import CleanupCtx
from resonanz.shared.worker import Repeating, background_ctx

from .audit_log import PURGE_SQL as AUDIT_PURGE_SQL
from .idempotency import TTL

log = logging.getLogger(__name__)

BATCH = 1000
INTERVAL = 300.0

# What is expired: replayable responses after the idempotency window; audit log rows
# after their retention (audit_log.RETENTION_DAYS).
PURGES = {
    "audit_events": AUDIT_PURGE_SQL,
    "idempotency_keys": oldest_first_delete(
        "idempotency_keys", f"created_at < now() - interval '{TTL}'", "created_at", "$1",
        key="ctid"),
}


async def purge_expired(pool: asyncpg.Pool, batch: int = BATCH) -> int:
    """Delete one batch of expired rows per table; how many rows went, at most per table."""
    most = 0
    for table, statement in PURGES.items():
        try:
            status = await pool.execute(statement, batch)
        except asyncpg.PostgresError as exc:  # e.g. started before its migration: next time
            log.warning("expired %s not purged: %r", table, exc)
            continue
        most = max(most, int(status.split()[-1]))
    return most


def housekeeping_ctx(interval: float = INTERVAL) -> CleanupCtx:
    return background_ctx(lambda app: [Repeating(
        lambda: purge_expired(app[PoolKey]), batch=BATCH, poll_interval=interval,
        what="gateway housekeeping")])
