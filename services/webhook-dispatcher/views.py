"""What the API and the gauges read: query functions over the pool, apart from the writes
(those go through commands.py, which owns their transactions, to the store)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.db import plain
from resonanz.shared.errors import NotFound

from .domain import delivery_id
from .store.deliveries import DELIVERY_COLUMNS
from .store.subscriptions import SUBSCRIPTION_COLUMNS, Subscription, subscription_of


async def list_subscriptions(pool: asyncpg.Pool, tenant_id: uuid.UUID) -> list[Subscription]:
    rows = await pool.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1"
        " AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 500",
        tenant_id,
    )
    return [subscription_of(r) for r in rows]


async def get_subscription(pool: asyncpg.Pool, tenant_id: uuid.UUID,
                           subscription_id: uuid.UUID) -> Subscription:
    row = await pool.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2"
        " AND deleted_at IS NULL",
        tenant_id, subscription_id,
    )
    if row is None:
        raise NotFound("webhook subscription not found")
    return subscription_of(row)


async def list_deliveries(pool: asyncpg.Pool, tenant_id: uuid.UUID, subscription_id: uuid.UUID,
                          *, status: str | None, event_id: uuid.UUID | None, limit: int
                          ) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.tenant_id = $1"
        " AND d.subscription_id = $2 AND ($3::text IS NULL OR d.status = $3)"
        " AND ($4::uuid IS NULL OR d.event_id = $4) ORDER BY d.created_at DESC LIMIT $5",
        tenant_id, subscription_id, status, event_id, limit,
    )
    return [plain(r) for r in rows]


async def attempts_of(pool: asyncpg.Pool, tenant_id: uuid.UUID, subscription_id: uuid.UUID,
                      delivery: uuid.UUID) -> list[dict[str, Any]]:
    found = await pool.fetchval(
        "SELECT true FROM deliveries WHERE id = $1 AND tenant_id = $2 AND subscription_id = $3",
        delivery_id(delivery), tenant_id, subscription_id,
    )
    if not found:
        raise NotFound("delivery not found")
    rows = await pool.fetch(
        "SELECT id, delivery_id, attempted_at, duration_ms, outcome, status_code,"
        " response_body, error FROM attempts WHERE delivery_id = $1 ORDER BY id",
        delivery_id(delivery),
    )
    return [plain(r) for r in rows]


async def attempts_for_event(pool: asyncpg.Pool, tenant_id: uuid.UUID, event_id: uuid.UUID
                             ) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {DELIVERY_COLUMNS}, coalesce(json_agg(json_build_object("
        "'attempted_at', a.attempted_at, 'duration_ms', a.duration_ms, 'outcome', a.outcome,"
        " 'status_code', a.status_code, 'response_body', a.response_body, 'error', a.error)"
        " ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL), '[]') AS attempts_log"
        " FROM deliveries d LEFT JOIN attempts a ON a.delivery_id = d.id"
        " WHERE d.tenant_id = $1 AND d.event_id = $2 GROUP BY d.id ORDER BY d.created_at",
        tenant_id, event_id,
    )
    return [plain(r) for r in rows]


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float
    disabled_endpoints: int


# One pass over the waiting deliveries (the partial index on pending ones): count and oldest
# together. A separate min(created_at) was planned as a walk of the created_at index from the
# oldest row, through every delivered one the log keeps (200,000 of them: 100 ms, every 5 s).
QUEUE_STATS_SQL = (
    "SELECT p.depth, p.age, (SELECT count(*) FROM subscriptions"
    "  WHERE NOT enabled AND deleted_at IS NULL) AS disabled"
    " FROM (SELECT count(*) AS depth, extract(epoch FROM $1 - min(created_at)) AS age"
    "  FROM deliveries WHERE status = 'pending') p"
)


async def queue_stats(pool: asyncpg.Pool, now: datetime) -> QueueStats:
    row = await pool.fetchrow(QUEUE_STATS_SQL, now)
    assert row is not None
    return QueueStats(int(row["depth"]), max(0.0, float(row["age"] or 0)), int(row["disabled"]))
