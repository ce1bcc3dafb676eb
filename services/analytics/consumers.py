"""Keeps the aggregates in step with feedback events, and each tenant's time zone with
the gateway's tenant.updated (idempotent via the shared loop)."""

from __future__ import annotations

import asyncpg

from resonanz.shared.consumer import Batched, Handler
from resonanz.shared.events import CloudEvent, EntrySnapshot, EventData, TenantUpdated

from . import store
from .domain import Contribution, Key, accumulate, contribution, delta, key_of
from .metrics import count_submission

FEEDBACK_TYPES = (
    "feedback.created", "feedback.updated", "feedback.status_changed", "feedback.assigned",
    "feedback.note_added", "feedback.deleted", "feedback.restored",
)


async def apply_entry_snapshots(conn: asyncpg.Connection, events: list[CloudEvent]) -> None:
    snapshots = []
    for event in events:
        payload: EventData = event.payload()
        snapshots.append((event.tenantid, payload.entry))  # type: ignore[attr-defined]
    await apply_snapshots(conn, snapshots)


async def apply_snapshots(conn: asyncpg.Connection,
                          snapshots: list[tuple[str, EntrySnapshot]]) -> None:
    """Replace each entry's old contribution with its new one, in order; stale snapshots
    change nothing. A batch's changes to one bucket are summed and written once."""
    latest = await store.previous_snapshots(conn, [entry.id for _, entry in snapshots])
    totals: dict[tuple[str, Key], Contribution] = {}
    changed: dict[str, tuple[str, EntrySnapshot]] = {}

    def add(tenant_id: str, key: Key, c: Contribution) -> None:
        accumulate(totals.setdefault((tenant_id, key), Contribution()), c)

    for tenant_id, entry in snapshots:
        previous = latest.get(entry.id)
        if previous is not None and previous.version >= entry.version:
            continue
        old = previous
        if previous is None and not entry.deleted:
            count_submission(tenant_id, entry.rating)
        if old is not None and key_of(old) != key_of(entry):
            add(tenant_id, key_of(old), delta(contribution(old), contribution(None)))
            old = None
        add(tenant_id, key_of(entry), delta(contribution(old), contribution(entry)))
        latest[entry.id] = entry
        changed[entry.id] = (tenant_id, entry)
    await store.add_all(conn, totals)
    await store.save_snapshots(conn, list(changed.values()))


async def on_tenant_updated(conn: asyncpg.Connection, event: CloudEvent) -> None:
    data = event.payload()
    assert isinstance(data, TenantUpdated)
    await store.save_timezone(conn, event.tenantid, data.timezone, data.version)


# One instance for every type: a batch's events of all kinds are applied together, in order.
APPLY_SNAPSHOTS = Batched(apply_entry_snapshots)
HANDLERS: dict[str, Handler] = {**dict.fromkeys(FEEDBACK_TYPES, APPLY_SNAPSHOTS),
                                "tenant.updated": on_tenant_updated}
