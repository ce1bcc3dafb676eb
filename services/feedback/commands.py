"""Use cases: each is one transaction holding the state change, its audit row and its event."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from resonanz.shared.events import FeedbackCreated, new_event
from resonanz.shared.outbox import enqueue

from . import store
from .domain import Entry

SOURCE = "resonanz/feedback"


@dataclass(frozen=True)
class Actor:
    tenant_id: str
    actor_id: str | None
    role: str | None
    request_id: str | None


async def create_entry(pool: asyncpg.Pool, topic: str, actor: Actor,
                       new: store.NewEntry) -> Entry:
    async with pool.acquire() as conn, conn.transaction():
        entry = await store.insert_entry(conn, new, actor.actor_id)
        data = FeedbackCreated(entry=entry.snapshot(), body=entry.body,
                               customer_email=entry.customer_email)
        await enqueue(conn, new_event("feedback.created", source=SOURCE,
                                      tenant_id=entry.tenant_id, subject=entry.id, data=data,
                                      request_id=actor.request_id), topic)
    return entry
