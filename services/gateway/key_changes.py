"""Exact revocation: a change to a key is reported done only once no gateway can still
accept the key as it was.

Every change that can make a cached key record wrong (revocation, expiry, role, owner,
deletion, the tenant's rate limits) takes the next *generation* in its own transaction,
by trigger, and announces it at commit (NOTIFY `resonanz_gateway_keys`, the generation as
payload; migration 0005). Each gateway process keeps a row in `gateway_instances`: it
heartbeats, and whenever it hears of a change it empties its key cache and then records
the generation as its `seen_generation`. Whoever made a change calls `settle`, which
returns once every live gateway has seen that generation, or CACHE_SECONDS after the
commit, when every entry cached before the commit has expired anyway — whichever comes
first. Changes made in plain SQL are announced all the same, but nobody waits: they hold
on every gateway within CACHE_SECONDS, usually within milliseconds.

A gateway whose heartbeat is older than STALE_AFTER is not waited for, and is pruned. In
turn a gateway stops answering from its cache once its own last heartbeat is older than
LAPSE_AFTER (shorter, so it has stopped before anyone can take it for stale), and only
trusts the cache again after registering anew and emptying it: see
`auth.GatewayInstance`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TypeAlias

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "resonanz_gateway_keys"  # migrations 0004 and 0005
CACHE_SECONDS = 1.0  # the longest any gateway keeps a looked-up key
HEARTBEAT_INTERVAL = 2.0
LAPSE_AFTER = 2 * HEARTBEAT_INTERVAL
STALE_AFTER = 3 * HEARTBEAT_INTERVAL
POLL_INTERVAL = 0.003

Connection: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def current_generation(db: Connection) -> int:
    value: int = await db.fetchval("SELECT value FROM key_generation")
    return value


async def settle(pool: asyncpg.Pool) -> bool:
    """Call once a key change has committed. True when every live gateway confirmed it,
    False when CACHE_SECONDS ran out first (the change holds everywhere either way)."""
    deadline = time.monotonic() + CACHE_SECONDS
    generation = await current_generation(pool)
    while await _gateways_behind(pool, generation):
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("not every gateway confirmed key change %d within %.1f s;"
                        " their caches have expired since", generation, CACHE_SECONDS)
            return False
        await asyncio.sleep(min(POLL_INTERVAL, left))
    return True


async def _gateways_behind(pool: asyncpg.Pool, generation: int) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM gateway_instances WHERE seen_generation < $1"
        " AND heartbeat_at >= now() - make_interval(secs => $2)",
        generation, STALE_AFTER,
    )
    return count


# --- a gateway's own row ---------------------------------------------------------------


async def register(conn: asyncpg.Connection, instance: uuid.UUID) -> None:
    """Insert or refresh the row; it claims the generation current now, so the caller
    empties its cache right after."""
    await conn.execute(
        "INSERT INTO gateway_instances (id, seen_generation)"
        " SELECT $1, value FROM key_generation"
        " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), seen_generation ="
        " greatest(gateway_instances.seen_generation, excluded.seen_generation)",
        instance, timeout=HEARTBEAT_INTERVAL,
    )


async def heartbeat(conn: asyncpg.Connection, instance: uuid.UUID, seen: int) -> bool:
    """Refresh the row with the generation seen, and prune stale rows of others; False
    when the row itself was pruned."""
    found = await conn.fetchval(
        "WITH pruned AS (DELETE FROM gateway_instances WHERE id <> $1"
        " AND heartbeat_at < now() - make_interval(secs => $3))"
        " UPDATE gateway_instances SET heartbeat_at = now(),"
        " seen_generation = greatest(seen_generation, $2) WHERE id = $1 RETURNING true",
        instance, seen, STALE_AFTER, timeout=HEARTBEAT_INTERVAL,
    )
    return bool(found)


async def deregister(pool: asyncpg.Pool, instance: uuid.UUID) -> None:
    await pool.execute("DELETE FROM gateway_instances WHERE id = $1", instance)
