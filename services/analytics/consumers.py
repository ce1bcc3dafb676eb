"""Keeps the aggregates in step with feedback events, and each tenant's time zone with
the gateway's tenant.updated (idempotent via the shared loop)."""

from __future__ import annotations

import asyncpg

from resonanz.shared.consumer import Batched, Handlers
from resonanz.shared.events import CloudEvent, EntrySnapshot, FeedbackEvent, TenantUpdated

from . import store
from .domain import Contribution, Key, accumulate, contribution, delta, key_of
from .metrics import count_submission


async def apply_entry_snapshots(conn: asyncpg.Connection,
                                events: list[tuple[CloudEvent, FeedbackEvent]]) -> None:
    await apply_snapshots(conn, [(event.tenantid, data.entry) for event, data in events])


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


async def on_tenant_updated(conn: asyncpg.Connection, event: CloudEvent,
                            data: TenantUpdated) -> None:
    await store.save_timezone(conn, event.tenantid, data.timezone, data.version)


# One handler for every feedback event type (each carries the entry's snapshot): a batch's
# events of all kinds are applied together, in order.
HANDLERS = Handlers().on(FeedbackEvent, Batched(apply_entry_snapshots)) \
    .on(TenantUpdated, on_tenant_updated)
