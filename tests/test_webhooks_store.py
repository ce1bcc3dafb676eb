"""The dispatcher's batched statements on real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from resonanz.shared.db import migrate
from resonanz.shared.settings import Settings
from resonanz.webhook_dispatcher.store.deliveries import SETTLE_SUCCESSES_SQL

DELIVERIES = 3000


@pytest.fixture
async def dispatcher_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url, "webhook_dispatcher")
    dsn = Settings(database_url=database_url).service_dsn("webhook_dispatcher")
    conn = await asyncpg.connect(dsn)
    tenant, subscription = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO subscriptions (id, tenant_id, url, events, secret)"
        " VALUES ($1, $2, 'https://example.com/hook', '{feedback_created}', 'whsec_x')",
        subscription, tenant)
    insert = ("INSERT INTO deliveries (id, subscription_id, tenant_id, event_id, event_type,"
              " webhook_type, body, event_time, next_attempt_at) VALUES ($1, $2, $3, $4,"
              " 'feedback.created', 'feedback_created', '{}', now(), now())")
    rows = [(f"msg_{n}", subscription, tenant, uuid.uuid4()) for n in range(DELIVERIES)]
    await conn.executemany(insert, rows)
    try:
        yield conn
    finally:
        await conn.close()


async def test_recording_successes_settles_exactly_their_deliveries(
    dispatcher_db: asyncpg.Connection,
) -> None:
    ids = [f"msg_{n}" for n in (7, 1234, 2999)]
    subscription = await dispatcher_db.fetchval("SELECT id FROM subscriptions")
    now = datetime.now(UTC)
    await dispatcher_db.execute(SETTLE_SUCCESSES_SQL, ids, [subscription] * 3, [now] * 3,
                                [5.0] * 3, ["success"] * 3, [200, 204, 200], [""] * 3,
                                [None] * 3, now)
    rows = await dispatcher_db.fetch(
        "SELECT id, status, attempts, last_status, last_outcome, locked_until, delivered_at"
        " FROM deliveries WHERE status <> 'pending' OR attempts > 0 ORDER BY id")
    assert [(r["id"], r["status"], r["attempts"], r["last_status"], r["last_outcome"])
            for r in rows] == [("msg_1234", "delivered", 1, 204, "success"),
                               ("msg_2999", "delivered", 1, 200, "success"),
                               ("msg_7", "delivered", 1, 200, "success")]
    assert all(r["locked_until"] is None and r["delivered_at"] is not None for r in rows)
    assert await dispatcher_db.fetchval("SELECT count(*) FROM attempts") == 3, "recorded too"
