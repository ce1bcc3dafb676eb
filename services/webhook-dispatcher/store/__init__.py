"""The webhooks schema's SQL, one module per thing stored: `subscriptions` (endpoints, their
signing secrets and health), `deliveries` (the queue, its attempts and the delivery log),
`outgoing_mail` (the mail queue).

Store functions hold SQL only and never open a transaction: they take the connection of
the command (commands.py) or consumer that owns the transaction, or the pool for a single
statement a worker runs on its own. The API's reads go through views.py instead.

Every statement a tenant can reach is scoped to that tenant; its ids arrive parsed (the
API refuses malformed ones before any SQL). The queue's times come from the dispatcher's
clock, not from `now()`, so tests can inject and advance it (new deliveries are simply
due at once). Signing secrets and mail bodies are written sealed and read opened (see
sealing).
"""

from __future__ import annotations

import asyncpg

WAKE_CHANNEL = "resonanz_webhooks"


async def wake_dispatchers(conn: asyncpg.Connection) -> None:
    """Delivered on commit: idle dispatchers and mail workers claim the new work at once."""
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)
