"""Deliveries: the queue (fan-out, claims and their results), the attempts, the delivery log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.crypto import UndecryptableSecret
from resonanz.shared.db import plain
from resonanz.shared.errors import NotFound

from ..domain import AttemptResult, Verdict, delivery_id
from ..sealing import CURRENT, Retired, SecretBox

log = logging.getLogger(__name__)

# --- fan-out ---------------------------------------------------------------------------------


FAN_OUT_SQL = """
WITH events AS (
    SELECT * FROM unnest($1::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[],
                         $7::timestamptz[]) WITH ORDINALITY
        AS e(tenant_id, event_id, event_type, webhook_type, body, event_time, n)
), targets AS (
    SELECT s.id, s.enabled, s.answering, e.* FROM events e
    JOIN subscriptions s ON s.tenant_id = e.tenant_id AND s.events && $2::text[]
                        AND s.deleted_at IS NULL
    ORDER BY e.n
), created AS (
    -- The webhook-id receivers deduplicate by: one per delivery, stable across retries.
    -- A disabled endpoint's delivery is recorded as failed (not attempted), so that enabling
    -- it and recovering since the disable sends what happened in between.
    INSERT INTO deliveries (id, subscription_id, tenant_id, event_id, event_type,
                            webhook_type, body, event_time, next_attempt_at, status,
                            last_outcome)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), id, tenant_id, event_id,
           event_type, webhook_type, body, event_time, now(),
           CASE WHEN enabled THEN 'pending' ELSE 'failed' END,
           CASE WHEN enabled THEN NULL ELSE 'disabled' END
    FROM targets
    ON CONFLICT DO NOTHING
    RETURNING id, subscription_id, event_id, tenant_id, status
)
SELECT c.id, c.subscription_id, c.tenant_id, t.answering FROM created c
JOIN targets t ON t.id = c.subscription_id AND t.event_id = c.event_id
WHERE c.status = 'pending'
"""


@dataclass(frozen=True)
class Fresh:
    """A delivery just fanned out, due at once."""

    id: str
    subscription_id: str
    tenant_id: str
    answering: bool  # its endpoint's last attempt got an answer (see EndpointSlots)


@dataclass(frozen=True)
class Outgoing:
    """One event as its webhooks carry it: what every delivery of it is made of."""

    tenant_id: str
    event_id: str
    event_type: str
    webhook_type: str
    body: bytes
    event_time: datetime


async def fan_out(conn: asyncpg.Connection, names: tuple[str, ...],
                  events: Sequence[Outgoing]) -> list[Fresh]:
    """One delivery per event and subscription of its tenant that asked for any of
    `names`, due at once (or failed at once for a disabled endpoint): a single round trip
    for all `events` (a consumer's batch of new entries). Returns the deliveries due at
    once, for the caller to hand to its delivery worker after commit (no NOTIFY: every
    claim round it would wake reads the due index, and the worker of the consumer's own
    process takes them by id; others find what it leaves within their poll interval)."""
    if not events:
        return []
    rows = await conn.fetch(
        FAN_OUT_SQL, [uuid.UUID(e.tenant_id) for e in events], list(names),
        [uuid.UUID(e.event_id) for e in events], [e.event_type for e in events],
        [e.webhook_type for e in events], [e.body for e in events],
        [e.event_time for e in events])
    return [Fresh(row["id"], str(row["subscription_id"]), str(row["tenant_id"]),
                  row["answering"]) for row in rows]


# --- the queue: claims and results ---------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A delivery this dispatcher holds the lease of, with what it needs to send it."""

    id: str
    subscription_id: str
    tenant_id: str
    event_id: str
    webhook_type: str
    body: bytes
    event_time: datetime
    attempts: int  # in this retry cycle, before this one
    url: str
    secret: str
    previous: Retired  # retired secrets and the times they sign until
    total_attempts: int = 0  # ever, before this one
    answering: bool = True  # the endpoint's last attempt got an answer (see EndpointSlots)
    failing: bool = False  # the endpoint's last attempts failed (its failing_since is set)


# What a claim returns: the delivery and what sending it needs of its subscription.
CLAIMED = """d.id, d.subscription_id, d.tenant_id, d.event_id, d.webhook_type, d.body,
          d.event_time, d.cycle_attempts, d.attempts AS total_attempts, s.url, s.secret,
          s.secret_sealed, s.previous_secret, s.previous_secret_sealed, s.previous_until,
          s.previous_secrets_sealed, s.answering, s.failing_since IS NOT NULL AS failing"""

# A chosen delivery is checked again on the row as locked (another dispatcher may have leased
# or settled it since), with conditions that no index serves, so that the rows are reached by
# primary key only. Written as `status = 'pending'`, they would let the planner walk the
# partial due index instead, once per chosen row: statistics taken while the queue was near
# empty (a healthy queue is; a dead endpoint fills it within minutes, long before they are
# taken again) make that walk look like one row. Beside 5,000 waiting deliveries of a tenant
# with 100 hanging endpoints that cost 20-110 ms a claim by id and 0.8-1.4 s a claim round,
# and it grows with the backlog; reached by primary key, a claim reads a few pages. Due is
# judged by the database's clock too: the fan-out stamped fresh deliveries with it, and a
# dispatcher's clock a little behind must not leave them for the next round. "Not one of the
# other three" is "pending" by the table's CHECK; a new status must be named here.
STILL_DUE = """d.status <> ALL ('{delivered,failed,cancelled}'::text[])
      AND d.next_attempt_at <= greatest($1, now())
      AND (d.locked_until IS NULL OR d.locked_until < $1)"""

# Each endpoint with a free slot offers its own oldest due deliveries (at most its slots'
# worth, read from the due index that leads with the endpoint), and the oldest of those are
# leased. The saturated endpoints and tenants are left out before any delivery is read, so a
# dead tenant's backlog costs a round nothing however long it grows, and what another
# endpoint has due is found wherever it sits in time: a retry that comes due, or a delivery
# that waited for its endpoint's slots, amid that backlog. A round reads the enabled
# subscriptions and a few index pages for each that is not saturated. Of a tenant's silent
# endpoints (not answering: see EndpointSlots) only as many deliveries are taken as it has
# room for: $10 each, less for the tenants in $8 (their rooms in $9); those with none left
# are left out before any delivery is read, as saturated ones are.
SILENT_ROOM = "coalesce(($9::int[])[array_position($8::uuid[], s.tenant_id)], $10)"
CLAIM_SQL = f"""
WITH candidates AS (
    SELECT due.id, due.next_attempt_at, s.tenant_id, NOT s.answering AS silent,
           {SILENT_ROOM} AS room
    FROM subscriptions s
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM deliveries d
        WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= $1
          AND (d.locked_until IS NULL OR d.locked_until < $1)
        ORDER BY d.next_attempt_at LIMIT $4
    ) due
    WHERE s.enabled AND s.deleted_at IS NULL
      AND NOT (s.id = ANY($5::uuid[])) AND NOT (s.tenant_id = ANY($7::uuid[]))
      AND (s.answering OR {SILENT_ROOM} > 0)
), allowed AS (
    SELECT id, next_attempt_at FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.tenant_id, c.silent
                                       ORDER BY c.next_attempt_at) AS n
        FROM candidates c) ranked
    WHERE NOT silent OR n <= room
), picked AS (
    SELECT d.id FROM allowed c JOIN deliveries d ON d.id = c.id
    WHERE {STILL_DUE}
    ORDER BY c.next_attempt_at LIMIT $3
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d SET locked_until = $2, locked_by = $6
FROM picked, subscriptions s
WHERE d.id = picked.id AND s.id = d.subscription_id
RETURNING {CLAIMED}
"""

# Fresh deliveries handed over by this process's consumer, leased by id: no scan of the
# queue, so they go out at once however long another tenant's backlog. One of a disabled or
# deleted endpoint is locked for the statement but not leased.
CLAIM_IDS_SQL = f"""
WITH picked AS (
    SELECT d.id FROM deliveries d
    WHERE d.id = ANY($3::text[]) AND {STILL_DUE}
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET locked_until = $2, locked_by = $4
FROM picked, subscriptions s
WHERE d.id = picked.id AND s.id = d.subscription_id AND s.enabled AND s.deleted_at IS NULL
RETURNING {CLAIMED}
"""


async def claim_due(pool: asyncpg.Pool, box: SecretBox, *, now: datetime,
                    lease_until: datetime, limit: int, per_endpoint: int,
                    saturated: list[uuid.UUID], worker: str,
                    saturated_tenants: list[uuid.UUID] | None = None,
                    silent_rooms: Mapping[uuid.UUID, int] | None = None,
                    silent_room: int = 2**31 - 1) -> list[Claim]:
    """Lease due deliveries, at most `per_endpoint` per subscription and none for the
    subscriptions and tenants this dispatcher has no free slot for; of a tenant's silent
    endpoints at most `silent_room` (its own in `silent_rooms`). SKIP LOCKED keeps replicas
    apart.

    A delivery whose secret no key opens is held, not attempted: its lease runs out and
    it is claimed again later, so a key missing from the ring costs the endpoint neither
    retries nor its health, and the queue's age shows the problem."""
    rooms = silent_rooms or {}
    rows = await pool.fetch(CLAIM_SQL, now, lease_until, limit, per_endpoint, saturated, worker,
                            saturated_tenants or [], list(rooms), list(rooms.values()),
                            silent_room)
    return _claims(box, rows)


async def claim_ids(pool: asyncpg.Pool, box: SecretBox, ids: list[str], *, now: datetime,
                    lease_until: datetime, worker: str) -> list[Claim]:
    """Lease these deliveries, those still due, unleased and of an enabled endpoint."""
    return _claims(box, await pool.fetch(CLAIM_IDS_SQL, now, lease_until, ids, worker))


def _claims(box: SecretBox, rows: list[asyncpg.Record]) -> list[Claim]:
    claims = []
    for row in rows:
        try:
            claims.append(_claim(box, row))
        except UndecryptableSecret as exc:
            log.error("delivery %s held: the signing secret of subscription %s does not open"
                      " (%s); is a key missing from RESONANZ_ENCRYPTION_KEYS?",
                      row["id"], row["subscription_id"], exc)
    return claims


def _claim(box: SecretBox, row: asyncpg.Record) -> Claim:
    sid = row["subscription_id"]
    secret = box.stored(CURRENT, sid, row["secret"], row["secret_sealed"])
    assert secret is not None, "subscriptions_secret_kept"
    return Claim(
        id=row["id"], subscription_id=str(sid), tenant_id=str(row["tenant_id"]),
        event_id=str(row["event_id"]), webhook_type=row["webhook_type"], body=row["body"],
        event_time=row["event_time"], attempts=row["cycle_attempts"],
        total_attempts=row["total_attempts"], url=row["url"],
        secret=secret, previous=box.retired(row, sid), answering=row["answering"],
        failing=row["failing"],
    )


async def release(pool: asyncpg.Pool, delivery_ids: list[str], worker: str) -> None:
    await pool.execute(
        "UPDATE deliveries SET locked_until = NULL WHERE id = ANY($1::text[]) AND locked_by = $2",
        delivery_ids, worker,
    )


# Attempts as they are recorded: the claim, the endpoint's answer, when it was made.
Attempted = tuple[Claim, AttemptResult, datetime]

INSERT_ATTEMPTS_SQL = (
    "INSERT INTO attempts (delivery_id, subscription_id, attempted_at, duration_ms, outcome,"
    " status_code, response_body, error) SELECT u.* FROM unnest($1::text[], $2::uuid[],"
    " $3::timestamptz[], $4::float8[], $5::text[], $6::int[], $7::text[], $8::text[]) AS u"
)
# The same, and the transaction commits without waiting for the WAL flush (set by the
# statement itself, as the outbox marks its rows sent: no round trip of its own).
INSERT_ATTEMPTS_UNHURRIED_SQL = (
    f"{INSERT_ATTEMPTS_SQL}, (SELECT set_config('synchronous_commit', 'off', true)) AS unhurried"
)


def _attempt_columns(attempted: Sequence[Attempted]) -> list[list[Any]]:
    """INSERT_ATTEMPTS_SQL's eight arrays."""
    return [[c.id for c, _, _ in attempted],
            [uuid.UUID(c.subscription_id) for c, _, _ in attempted],
            [at for _, _, at in attempted], [r.duration_ms for _, r, _ in attempted],
            [str(r.outcome) for _, r, _ in attempted], [r.status_code for _, r, _ in attempted],
            [r.response_body for _, r, _ in attempted], [r.error for _, r, _ in attempted]]


async def insert_attempts_unhurried(conn: asyncpg.Connection,
                                    attempted: Sequence[Attempted]) -> None:
    """Every attempt by one statement, its transaction committed without waiting for the
    WAL flush."""
    await conn.execute(INSERT_ATTEMPTS_UNHURRIED_SQL, *_attempt_columns(attempted))


SETTLE_FAILED_SQL = (
    "UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1,"
    " cycle_attempts = d.cycle_attempts + 1,"
    " next_attempt_at = coalesce(u.next_attempt_at, d.next_attempt_at), locked_until = NULL,"
    " last_status = u.status_code, last_outcome = u.outcome"
    " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::text[])"
    " AS u(id, status, next_attempt_at, status_code, outcome)"
    " WHERE d.id = ANY($1::text[]) AND d.id = u.id"
)


async def settle_failures(conn: asyncpg.Connection,
                          judged: Sequence[tuple[Claim, AttemptResult, datetime, Verdict]]
                          ) -> None:
    """Failed attempts, judged: recorded, and their deliveries due again or failed, by one
    statement each. The transaction commits without waiting for the disk: lost in a crash,
    it leaves the leases to run out, and the deliveries are attempted again with the same
    webhook-ids. Waited for, the failures of a dead tenant's attempts, which time out
    together, queued other commits (the consumer's among them) behind their WAL flushes."""
    await insert_attempts_unhurried(conn, [(c, r, at) for c, r, at, _ in judged])
    await conn.execute(
        SETTLE_FAILED_SQL, [c.id for c, _, _, _ in judged], [v.status for _, _, _, v in judged],
        [v.next_attempt_at for _, _, _, v in judged],
        [r.status_code for _, r, _, _ in judged], [str(r.outcome) for _, r, _, _ in judged])


# Successes recorded by one statement: their attempts and their deliveries delivered. Written
# as one, it needs no transaction around it (BEGIN, three statements and COMMIT were five
# round trips for each webhook at a moderate rate).
SETTLE_SUCCESSES_SQL = (
    f"WITH recorded AS ({INSERT_ATTEMPTS_SQL})"
    " UPDATE deliveries d SET status = 'delivered', attempts = d.attempts + 1,"
    " cycle_attempts = d.cycle_attempts + 1, locked_until = NULL, last_status = u.status,"
    " last_outcome = u.outcome,"
    " delivered_at = $9 FROM unnest($1::text[], $6::int[], $5::text[])"
    # `= ANY` as well as the join: measured under load at 200 webhooks/s, 0.86 ms per
    # batch for the join alone against 0.23 ms with it (pg_stat_statements).
    " AS u(id, status, outcome) WHERE d.id = ANY($1::text[]) AND d.id = u.id"
)


async def record_successes(conn: asyncpg.Connection, settled: Sequence[Attempted],
                           now: datetime) -> None:
    """Successful attempts of endpoints that were healthy and answering when claimed: the
    attempts and the deliveries, by one statement."""
    await conn.execute(SETTLE_SUCCESSES_SQL, *_attempt_columns(settled), now)


async def settle_successes(conn: asyncpg.Connection, settled: Sequence[Attempted],
                           now: datetime) -> None:
    """Successful attempts of endpoints that were failing or silent when claimed: the
    endpoints healthy and answering again (those that still need it, locked in id order,
    before the deliveries, as on the failure path), then the attempts and deliveries."""
    await conn.execute(
        "UPDATE subscriptions s SET failing_since = NULL, answering = true FROM (SELECT id"
        " FROM subscriptions WHERE id = ANY($1::uuid[])"
        " AND (failing_since IS NOT NULL OR NOT answering) ORDER BY id FOR NO KEY UPDATE)"
        " AS healed WHERE s.id = healed.id",
        sorted({uuid.UUID(c.subscription_id) for c, _, _ in settled}))
    await record_successes(conn, settled, now)


# --- the delivery log ----------------------------------------------------------------------

# `attempts` is every attempt the delivery had; a finished one has no next attempt.
DELIVERY_COLUMNS = (
    "d.id, d.subscription_id, d.event_id, d.event_type, d.webhook_type, d.status, d.attempts,"
    " CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,"
    " d.last_status, d.last_outcome, d.created_at, d.delivered_at"
)


async def insert_test(conn: asyncpg.Connection, tenant_id: uuid.UUID,
                      subscription_id: uuid.UUID, event_type: str, webhook_type: str,
                      body: bytes, event_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """One delivery to this endpoint only, due at once."""
    return plain(await conn.fetchrow(
        "INSERT INTO deliveries (id, subscription_id, tenant_id, event_id, event_type,"
        " webhook_type, body, event_time, next_attempt_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
        f" RETURNING {DELIVERY_COLUMNS.replace('d.', '')}",
        delivery_id(uuid.uuid4()), subscription_id, tenant_id, event_id, event_type,
        webhook_type, body, now,
    ))


async def requeue(conn: asyncpg.Connection, tenant_id: uuid.UUID, subscription_id: uuid.UUID,
                  delivery: uuid.UUID, now: datetime) -> dict[str, Any]:
    """One delivery due again now, with a fresh retry cycle and the same webhook-id."""
    row = await conn.fetchrow(
        "UPDATE deliveries d SET status = 'pending', cycle_attempts = 0, next_attempt_at = $4"
        " WHERE d.id = $1 AND d.tenant_id = $2 AND d.subscription_id = $3"
        f" AND d.status <> 'cancelled' RETURNING {DELIVERY_COLUMNS}",
        delivery_id(delivery), tenant_id, subscription_id, now,
    )
    if row is None:
        raise NotFound("delivery not found")
    return plain(row)


async def requeue_failed(conn: asyncpg.Connection, tenant_id: uuid.UUID,
                         subscription_id: uuid.UUID, since: datetime, now: datetime) -> int:
    """Every failed delivery created since `since` due again now; how many."""
    ids = await conn.fetch(
        "UPDATE deliveries SET status = 'pending', cycle_attempts = 0, next_attempt_at = $4,"
        " locked_until = NULL WHERE tenant_id = $1 AND subscription_id = $2"
        " AND status = 'failed' AND created_at >= $3 RETURNING id",
        tenant_id, subscription_id, since, now,
    )
    return len(ids)


async def cancel_pending(conn: asyncpg.Connection, subscription_id: uuid.UUID) -> None:
    """The endpoint is gone: what was queued for it will never be sent."""
    await conn.execute(
        "UPDATE deliveries SET status = 'cancelled', locked_until = NULL"
        " WHERE subscription_id = $1 AND status = 'pending'",
        subscription_id,
    )


async def fail_pending(conn: asyncpg.Connection, subscription_id: uuid.UUID) -> None:
    """The endpoint is disabled: what was queued for it counts as failed (the tenant can
    recover it after enabling)."""
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', locked_until = NULL, last_outcome = 'disabled'"
        " WHERE subscription_id = $1 AND status = 'pending'",
        subscription_id,
    )


async def purge(conn: asyncpg.Connection, older_than: datetime, limit: int) -> int:
    """Delete finished deliveries created before `older_than` with their attempts, at most
    `limit`, skipping rows another replica holds; how many. Pending ones are never purged."""
    ids = [r["id"] for r in await conn.fetch(
        "SELECT id FROM deliveries WHERE created_at < $1 AND status <> 'pending'"
        " ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED", older_than, limit)]
    await conn.execute("DELETE FROM attempts WHERE delivery_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM deliveries WHERE id = ANY($1::text[])", ids)
    return len(ids)
