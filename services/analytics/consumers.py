"""Keeps the aggregates in step with feedback events (idempotent via the shared loop)."""

from __future__ import annotations

import asyncpg

from resonanz.shared.events import CloudEvent, EntrySnapshot, EventData

from . import store
from .domain import contribution, delta, key_of
from .metrics import count_submission

FEEDBACK_TYPES = (
    "feedback.created", "feedback.updated", "feedback.status_changed", "feedback.assigned",
    "feedback.note_added", "feedback.deleted",
)


async def apply_entry_snapshot(conn: asyncpg.Connection, event: CloudEvent) -> None:
    payload: EventData = event.payload()
    await apply_snapshot(conn, event.tenantid, payload.entry)  # type: ignore[attr-defined]


async def apply_snapshot(conn: asyncpg.Connection, tenant_id: str, entry: EntrySnapshot
                         ) -> None:
    """Replace the entry's old contribution with its new one; stale snapshots change nothing."""
    previous = await store.previous_snapshot(conn, entry.id)
    if previous is not None and previous[0] >= entry.version:
        return
    old = previous[1] if previous else None
    if previous is None and not entry.deleted:
        count_submission(tenant_id, entry.rating)
    if old is not None and key_of(old) != key_of(entry):
        await store.add(conn, tenant_id, key_of(old), delta(contribution(old),
                                                            contribution(None)))
        old = None
    await store.add(conn, tenant_id, key_of(entry), delta(contribution(old), contribution(entry)))
    await store.save_snapshot(conn, tenant_id, entry)


HANDLERS = {event_type: apply_entry_snapshot for event_type in FEEDBACK_TYPES}
