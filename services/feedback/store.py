"""The feedback schema's SQL. Every statement is scoped to one tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from resonanz.shared.errors import InvalidInput, NotFound
from resonanz.shared.events import CloudEvent
from resonanz.shared.outbox import notify_sql, outbox_row
from resonanz.shared.params import (
    cursor_parts,
    cursor_token,
    parse_datetime,
    parse_uuid,
    path_uuid,
)

from .domain import Campaign, Entry, Reward, reward_of
from .scoring import Window, closest, fingerprint_window


def _columns(table: str = "", listed: bool = False) -> str:
    """An entry's columns in the order of its fields (a row becomes an Entry by position).
    `listed`: as lists carry it, its quality without the components, each with its reason
    (1.2 of an entry's 1.3 kB of quality), which no list shows; an entry's own page does."""
    return ", ".join(
        f"{table}quality - 'components' AS quality" if listed and field.name == "quality"
        else f"{table}{field.name}" for field in fields(Entry))


ENTRY_COLUMNS = _columns()
LISTED_COLUMNS = _columns(listed=True)


def entry_from_row(row: asyncpg.Record) -> Entry:
    """The Entry of a row selected as ENTRY_COLUMNS or LISTED_COLUMNS (its ids as text), by
    position: a page of 500 rows made by name cost the service a fifth of its time."""
    entry_id, tenant_id, widget_id, *rest = row.values()
    return Entry(str(entry_id), str(tenant_id), None if widget_id is None else str(widget_id),
                 *rest)


@dataclass(frozen=True)
class NewEntry:
    """An accepted entry as it is written: its row, fingerprint, audit row and event."""

    entry: Entry
    simhash: int | None
    actor: str | None
    event: CloudEvent
    topic: str


INSERT_ENTRIES_SQL = f"""
WITH new AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::smallint[],
                         $6::text[], $7::jsonb[], $8::text[], $9::jsonb[], $10::jsonb[],
                         $11::smallint[], $12::bigint[], $13::text[], $14::timestamptz[],
                         $15::text[], $16::jsonb[])
        AS n(id, tenant_id, widget_id, body, rating, category, metadata, customer_email,
             answers, quality, quality_score, simhash, reward_status, created_at, actor,
             audited)
), entry AS (
    INSERT INTO entries (id, tenant_id, widget_id, body, rating, category, metadata,
                         customer_email, answers, quality, quality_score, simhash,
                         reward_status, created_at, updated_at, quality_version)
    SELECT id, tenant_id, widget_id, body, rating, category, metadata, customer_email,
           answers, quality, quality_score, simhash, reward_status, created_at, created_at,
           quality->>'version'
    FROM new
    RETURNING id
), audit AS (
    INSERT INTO audit_log (entry_id, tenant_id, actor, action, after, at)
    SELECT id, new.tenant_id, new.actor, 'created', new.audited, new.created_at
    FROM entry JOIN new USING (id)
), queued AS (
    INSERT INTO outbox (event_id, topic, key, payload, headers)
    SELECT * FROM unnest($17::uuid[], $18::text[], $19::text[], $20::bytea[], $21::jsonb[])
)
{notify_sql()}
"""


async def insert_entries(conn: asyncpg.Connection, rows: list[NewEntry]) -> None:
    """Entries with their audit rows and events, and the relay's wake-up, in one statement
    (atomic without an explicit transaction; one NOTIFY however many rows: a NOTIFY per
    write cost PostgreSQL more than the write itself)."""
    entries = [row.entry for row in rows]
    events = [outbox_row(row.event, row.topic) for row in rows]
    await conn.execute(
        INSERT_ENTRIES_SQL,
        [uuid.UUID(e.id) for e in entries], [e.tenant_id for e in entries],
        [e.widget_id for e in entries], [e.body for e in entries],
        [e.rating for e in entries], [e.category for e in entries],
        [e.metadata for e in entries], [e.customer_email for e in entries],
        [e.answers for e in entries], [e.quality for e in entries],
        [e.quality_score for e in entries], [row.simhash for row in rows],
        [e.reward_status for e in entries], [e.created_at for e in entries],
        [row.actor for row in rows], [audited(e) for e in entries],
        *(list(column) for column in zip(*events, strict=True)),
    )


async def record_audit(conn: asyncpg.Connection, entry: Entry, actor: str | None, action: str,
                       before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    await conn.execute(
        "INSERT INTO audit_log (entry_id, tenant_id, actor, action, before, after)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        entry.id, entry.tenant_id, actor, action, before, after,
    )


async def get_entry(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, entry_id: str,
                    *, for_update: bool = False) -> Entry:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE tenant_id = $1 AND id = $2"
        f" AND deleted_at IS NULL{lock}",
        tenant_id, _uuid(entry_id),
    )
    if row is None:
        raise NotFound("feedback entry not found")
    return entry_from_row(row)


async def get_deleted_entry(conn: asyncpg.Connection, tenant_id: str, entry_id: str
                            ) -> Entry:
    """A soft-deleted entry, locked for its restore; NotFound when unknown or not deleted."""
    row = await conn.fetchrow(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE tenant_id = $1 AND id = $2"
        " AND deleted_at IS NOT NULL FOR UPDATE",
        tenant_id, _uuid(entry_id),
    )
    if row is None:
        raise NotFound("no deleted feedback entry with this id", details=[
            {"field": "id", "message": "unknown, or not deleted", "value": entry_id}])
    return entry_from_row(row)


def _uuid(value: str) -> uuid.UUID:
    return path_uuid(value, "feedback entry")


async def audit_trail(pool: asyncpg.Pool, entry_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT actor, action, before, after, at FROM audit_log WHERE entry_id = $1 ORDER BY id",
        _uuid(entry_id),
    )
    return [dict(r) for r in rows]


async def notes_of(pool: asyncpg.Pool, entry_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, author, body, created_at FROM notes WHERE entry_id = $1 ORDER BY created_at",
        _uuid(entry_id),
    )
    return [{**dict(r), "id": str(r["id"])} for r in rows]


# --- lists -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    tenant_id: str
    statuses: tuple[str, ...] = ()
    reward_statuses: tuple[str, ...] = ()
    widget_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    descending: bool = True
    limit: int = 50
    page: int = 1
    cursor: str | None = None
    with_total: bool = True
    ratings: tuple[int, ...] = ()
    rating_min: int | None = None
    rating_max: int | None = None
    category: str | None = None
    assignee: str | None = None
    quality_labels: tuple[str, ...] = ()
    score_min: int | None = None
    score_max: int | None = None
    search: str | None = None


@dataclass(frozen=True)
class EntryPage:
    items: list[Entry]
    total: int | None
    next_cursor: str | None


def encode_cursor(entry: Entry, descending: bool) -> str:
    return position_cursor(entry.created_at, entry.id, descending)


def position_cursor(created_at: datetime, row_id: str, descending: bool) -> str:
    """A list's position after the row created at `created_at` with `row_id`."""
    return cursor_token(created_at.isoformat(), row_id, descending)


def decode_cursor(token: str) -> tuple[datetime, uuid.UUID, bool]:
    """The position an encoded cursor names. A client may send anything as a cursor:
    each part is checked for its type and range, so none reaches the database unparsed."""
    parts = cursor_parts(token, 3)
    if parts is None:
        raise _bad_cursor()
    created, entry_id, descending = parts
    try:
        position = parse_datetime(created), parse_uuid(entry_id)
    except (ValueError, TypeError):
        raise _bad_cursor() from None
    if position[1] is None or not isinstance(descending, bool):
        raise _bad_cursor()
    return position[0], position[1], descending


def _bad_cursor() -> InvalidInput:
    return InvalidInput.naming([
        {"field": "cursor", "message": "pass a next_cursor exactly as a list returned it"}])


def filters(q: ListQuery) -> tuple[list[str], list[Any]]:
    """The WHERE conditions of a list's filters and their arguments (lists and exports)."""
    where: list[str] = ["tenant_id = $1", "deleted_at IS NULL"]
    args: list[Any] = [q.tenant_id]
    if q.statuses:
        args.append(list(q.statuses))
        where.append(f"status = ANY(${len(args)}::text[])")
    if q.reward_statuses:
        args.append(list(q.reward_statuses))
        where.append(f"reward_status = ANY(${len(args)}::text[])")
    if q.widget_id:
        args.append(q.widget_id)
        where.append(f"widget_id = ${len(args)}")
    if q.created_from:
        args.append(q.created_from)
        where.append(f"created_at >= ${len(args)}")
    if q.created_to:
        args.append(q.created_to)
        where.append(f"created_at < ${len(args)}")
    if q.ratings:
        args.append(list(q.ratings))
        where.append(f"rating = ANY(${len(args)}::smallint[])")
    for bound, op, column in ((q.rating_min, ">=", "rating"), (q.rating_max, "<=", "rating"),
                              (q.score_min, ">=", "quality_score"),
                              (q.score_max, "<=", "quality_score")):
        if bound is not None:
            args.append(bound)
            where.append(f"{column} {op} ${len(args)}")
    if q.category:
        args.append(q.category)
        where.append(f"lower(category) = lower(${len(args)})")
    if q.assignee:
        args.append(q.assignee)
        where.append(f"assignee = ${len(args)}")
    if q.quality_labels:
        args.append(list(q.quality_labels))
        where.append(f"quality->>'label' = ANY(${len(args)}::text[])")
    if q.search:
        args.append(q.search)
        where.append(SEARCH_SQL.format(n=len(args)))
    return where, args


# A search term parsed in each configuration the `search` column is built with (migration
# 0009): an entry matches when the German, the English or the literal reading does.
# websearch_to_tsquery accepts anything a person types ("quoted phrases", -not, or).
SEARCH_SQL = ("search @@ (websearch_to_tsquery('german'::regconfig, ${n})"
              " || websearch_to_tsquery('english'::regconfig, ${n})"
              " || websearch_to_tsquery('simple'::regconfig, ${n}))")


# The filters entry_counts can answer (migration 0033); any other filter counts the rows.
COUNTED_FILTERS = {"tenant_id", "statuses", "widget_id", "descending", "limit", "page",
                   "cursor", "with_total"}


async def count_entries(pool: asyncpg.Pool, q: ListQuery) -> int:
    """`meta.total` of a list: from the counts the triggers keep when the list filters by
    status and widget at most (constant cost at any size), else count(*) of its rows."""
    if all(name in COUNTED_FILTERS or value in (None, ()) for name, value in vars(q).items()):
        total: int = await pool.fetchval(
            "SELECT coalesce(sum(n), 0)::bigint FROM entry_counts WHERE tenant_id = $1"
            " AND ($2::text[] IS NULL OR status = ANY($2::text[]))"
            " AND ($3::uuid IS NULL OR widget_id = $3::uuid)",
            q.tenant_id, list(q.statuses) or None, q.widget_id)
        return total
    where, args = filters(q)
    counted: int = await pool.fetchval(
        f"SELECT count(*) FROM entries WHERE {' AND '.join(where)}", *args)
    return counted


async def fold_entry_counts(pool: asyncpg.Pool, tenants: int = 100) -> int:
    """Fold the count deltas of the organizations with many into one row per key (each
    in one statement: the sums stay exact for readers at every moment). How many
    organizations were folded."""
    folded = await pool.fetch(
        "SELECT tenant_id FROM entry_counts GROUP BY tenant_id HAVING count(*) > 64"
        " LIMIT $1", tenants)
    for row in folded:
        await pool.execute(
            "WITH gone AS (DELETE FROM entry_counts WHERE tenant_id = $1"
            " RETURNING widget_id, status, n)"
            " INSERT INTO entry_counts (tenant_id, widget_id, status, n)"
            " SELECT $1, widget_id, status, sum(n) FROM gone GROUP BY widget_id, status"
            " HAVING sum(n) <> 0", row["tenant_id"])
    return len(folded)


# From this offset on a page number's rows are looked up by the ids its index range names.
DEFERRED_OFFSET = 1000


async def list_entries(pool: asyncpg.Pool, q: ListQuery) -> EntryPage:
    total = await count_entries(pool, q) if q.with_total else None
    where, args = filters(q)
    descending = q.descending
    offset = (q.page - 1) * q.limit
    if q.cursor:
        created, last_id, descending = decode_cursor(q.cursor)
        args += [created, last_id]
        op = "<" if descending else ">"
        where.append(f"(created_at, id) {op} (${len(args) - 1}, ${len(args)})")
        offset = 0
    direction = "DESC" if descending else "ASC"
    args += [q.limit + 1, offset]
    page = f"LIMIT ${len(args) - 1} OFFSET ${len(args)}"
    order = f"ORDER BY created_at {direction}, id {direction}"
    if q.search:
        rows = await _searched(pool, where, args, direction, page, q.limit)
    elif offset >= DEFERRED_OFFSET:
        # A deep page number skips its offset in the index alone (an index-only scan where
        # the table is vacuumed) and reads only the page's rows from the table, instead of
        # every skipped row's columns: 101 -> 22 ms at offset 250,000 (0.3 -> 0.7 ms at 50).
        rows = await pool.fetch(
            f"SELECT {LISTED_COLUMNS} FROM entries WHERE id IN (SELECT id FROM entries"
            f" WHERE {' AND '.join(where)} {order} {page}) {order}", *args)
    else:
        rows = await pool.fetch(
            f"SELECT {LISTED_COLUMNS} FROM entries WHERE {' AND '.join(where)} {order} {page}",
            *args)
    items = [entry_from_row(r) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return EntryPage(items, total, encode_cursor(items[-1], descending) if more else None)


# A search first looks among the newest entries that pass the list's other filters, this
# many at most: a common word fills its page there.
SEARCH_PROBE = 1000
QUALIFIED_LISTED_COLUMNS = _columns("e.", listed=True)


async def _searched(pool: asyncpg.Pool, where: list[str], args: list[Any], direction: str,
                    page: str, limit: int) -> list[asyncpg.Record]:
    """The page of a search. A word in every tenth entry is found walking the newest-first
    index (a page of hits comes soon); a word in one entry of a million is not (walking
    reads them all: 1.6-3.3 s measured), but the GIN index finds it in a millisecond. The
    planner cannot tell them apart (the term is a parameter, and a word's frequency is
    often unknown to its statistics), and counting a word's matches through the GIN index
    first costs as much as a common word's page (55-75 ms at 1 M entries). So: the page
    among the newest SEARCH_PROBE entries that pass the other filters (a bounded walk,
    joined in its order so that it stops at the page's last hit, and reading the index
    alone when the filters are on its columns: migration 0030); when that is not a full
    page, the GIN index (a read-only transaction scopes the planner settings)."""
    others = [w for w in where if not w.startswith("search @@")]
    term = next(w for w in where if w.startswith("search @@"))
    rows = await pool.fetch(
        f"SELECT {QUALIFIED_LISTED_COLUMNS} FROM (SELECT id, created_at FROM entries"
        f" WHERE {' AND '.join(others)} ORDER BY created_at {direction}, id {direction}"
        f" LIMIT {SEARCH_PROBE}) recent JOIN entries e ON e.id = recent.id WHERE e.{term}"
        f" ORDER BY recent.created_at {direction}, recent.id {direction} {page}", *args)
    if len(rows) > limit:
        return list(rows)
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL enable_indexscan = off;"
                           " SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_seqscan = off")
        return list(await conn.fetch(
            f"SELECT {LISTED_COLUMNS} FROM entries WHERE {' AND '.join(where)}"
            f" ORDER BY created_at {direction}, id {direction} {page}", *args))


# --- changes ---------------------------------------------------------------------------

UPDATABLE = frozenset({"status", "assignee", "category", "first_response_at", "resolved_at",
                       "reward_status", "reviewed_by", "reviewed_at", "review_reason",
                       "deleted_at"})


async def update_entry(conn: asyncpg.Connection, entry: Entry, columns: dict[str, Any]
                       ) -> Entry:
    """Apply `columns` and bump the version; the caller holds the row lock."""
    if not columns.keys() <= UPDATABLE:  # the names go into the SQL text: never unchecked
        raise ValueError(f"not updatable: {sorted(columns.keys() - UPDATABLE)}")
    sets = [f"{name} = ${i + 2}" for i, name in enumerate(columns)]
    sets += ["version = version + 1", "updated_at = now()"]
    row = await conn.fetchrow(
        f"UPDATE entries SET {', '.join(sets)} WHERE id = $1 RETURNING {ENTRY_COLUMNS}",
        _uuid(entry.id), *columns.values(),
    )
    return entry_from_row(row)


async def insert_note(conn: asyncpg.Connection, entry: Entry, author: str | None,
                      body: str) -> str:
    note_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO notes (id, entry_id, tenant_id, author, body) VALUES ($1, $2, $3, $4, $5)",
        note_id, _uuid(entry.id), entry.tenant_id, author, body,
    )
    return str(note_id)


def audited(entry: Entry) -> dict[str, Any]:
    return {"status": entry.status, "assignee": entry.assignee, "category": entry.category,
            "reward_status": entry.reward_status, "deleted": entry.deleted_at is not None}


async def open_entries_of(conn: asyncpg.Connection, tenant_id: str, assignee: str
                          ) -> list[Entry]:
    rows = await conn.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE tenant_id = $1 AND assignee = $2"
        " AND deleted_at IS NULL AND status NOT IN ('resolved', 'archived') FOR UPDATE",
        tenant_id, assignee,
    )
    return [entry_from_row(r) for r in rows]


NO_CAMPAIGN = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Lookup:
    """What scoring and reviewing a new entry need from the database, asked for it."""

    tenant_id: str
    widget_id: str | None
    simhash: int


@dataclass(frozen=True)
class Looked:
    """The answer to a `Lookup`."""

    # The tenant the widget belongs to, as far as its events have told us (None: no widget,
    # or one not heard of yet).
    widget_owner: uuid.UUID | None
    # The closest fingerprint within the distance among the campaign's latest entries (the
    # earliest on a tie): at most one (id, simhash).
    near: list[tuple[str, int]]
    # The widget's campaign (its owner's: whoever asks checks `widget_owner` first).
    campaign: Campaign | None


LOOKUP_SQL = f"""
WITH q AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS q(tenant_id, widget_id, i)
), campaign_keys AS (
    SELECT min(i) AS first, tenant_id, coalesce(widget_id, '{NO_CAMPAIGN}'::uuid) AS campaign
    FROM q GROUP BY tenant_id, campaign
), windows AS (
    -- One equality on the campaign key (see migration 0005) so the index's order serves
    -- the window: `widget_id IS NULL` would read every entry of the campaign.
    SELECT k.first, w.ids, w.simhashes FROM campaign_keys k CROSS JOIN LATERAL (
        SELECT array_agg(recent.id ORDER BY recent.created_at DESC) AS ids,
               array_agg(recent.simhash ORDER BY recent.created_at DESC) AS simhashes
        FROM (SELECT e.id, e.simhash, e.created_at FROM entries e
              WHERE e.tenant_id = k.tenant_id
                AND coalesce(e.widget_id, '{NO_CAMPAIGN}'::uuid) = k.campaign
                AND e.simhash IS NOT NULL
              ORDER BY e.created_at DESC LIMIT $3) recent) w
)
-- Each entry names its campaign's window by the first entry of the campaign; only that
-- first entry's row carries it.
SELECT c.tenant_id AS widget_owner, c.widget_id, c.status, c.reward, c.auto_approve_above,
       c.auto_reject_below, k.first AS campaign_window, windows.ids, windows.simhashes
FROM q
JOIN campaign_keys k ON k.tenant_id = q.tenant_id
                    AND k.campaign = coalesce(q.widget_id, '{NO_CAMPAIGN}'::uuid)
LEFT JOIN campaigns c ON c.widget_id = q.widget_id
LEFT JOIN windows ON windows.first = q.i
ORDER BY q.i
"""

async def look_up(conn: asyncpg.Connection, lookups: list[Lookup], max_distance: int,
                  window: int = 500) -> list[Looked]:
    """For each new entry: its widget's owner and campaign, and the closest fingerprint
    within `max_distance` bits among its campaign's latest `window` entries.

    Many entries in one statement, and each campaign's window read once however many of
    the entries are for it: a burst of entries for one campaign read the same 500 rows, and
    PostgreSQL compared each with every entry (a quarter of a millisecond per entry,
    docs/benchmarks.md). The window's fingerprints travel once per campaign and are
    compared here, an XOR and a bit count each."""
    rows = await conn.fetch(LOOKUP_SQL, [x.tenant_id for x in lookups],
                            [x.widget_id for x in lookups], window)
    windows: dict[int, tuple[list[uuid.UUID], list[int], Window]] = {}
    found = []
    for lookup, row in zip(lookups, rows, strict=True):
        if row["ids"] is not None:
            windows[row["campaign_window"]] = (row["ids"], row["simhashes"],
                                               fingerprint_window(row["simhashes"]))
        ids, simhashes, compared = windows.get(row["campaign_window"], _NO_WINDOW)
        at = closest(lookup.simhash, compared, max_distance)
        near = [] if at is None else [(str(ids[at]), simhashes[at])]
        found.append(_looked(row, near))
    return found


_NO_WINDOW: tuple[list[uuid.UUID], list[int], Window] = ([], [], fingerprint_window([]))


def _looked(row: asyncpg.Record, near: list[tuple[str, int]]) -> Looked:
    owner = row["widget_owner"]
    campaign = None if owner is None else Campaign(
        str(row["widget_id"]), row["status"], row["reward"], row["auto_approve_above"],
        row["auto_reject_below"])
    return Looked(owner, near, campaign)


# --- campaigns, payouts ----------------------------------------------------------------


async def upsert_campaign(conn: asyncpg.Connection, tenant_id: str, version: int,
                          campaign: Campaign) -> None:
    await conn.execute(
        "INSERT INTO campaigns (widget_id, tenant_id, status, reward, auto_approve_above,"
        " auto_reject_below, version) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (widget_id) DO UPDATE SET status = EXCLUDED.status,"
        " reward = EXCLUDED.reward, auto_approve_above = EXCLUDED.auto_approve_above,"
        " auto_reject_below = EXCLUDED.auto_reject_below, version = EXCLUDED.version"
        " WHERE campaigns.version <= EXCLUDED.version",
        campaign.widget_id, tenant_id, campaign.status, campaign.reward,
        campaign.auto_approve_above, campaign.auto_reject_below, version,
    )
    codes = (campaign.reward or {}).get("voucher_codes") or []
    await conn.executemany(
        "INSERT INTO voucher_codes (widget_id, code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(campaign.widget_id, str(code)) for code in codes],
    )


async def campaign_of(conn: asyncpg.Connection, tenant_id: str, widget_id: str | None
                      ) -> Campaign | None:
    if widget_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT widget_id, status, reward, auto_approve_above, auto_reject_below"
        " FROM campaigns WHERE widget_id = $1 AND tenant_id = $2", widget_id, tenant_id)
    if row is None:
        return None
    return Campaign(str(row["widget_id"]), row["status"], row["reward"],
                    row["auto_approve_above"], row["auto_reject_below"])


async def insert_payout(conn: asyncpg.Connection, entry: Entry, reward: Reward) -> str | None:
    """The entry's one payout; None when it already had one."""
    payout_id = await conn.fetchval(
        "INSERT INTO payouts (id, tenant_id, entry_id, widget_id, kind, amount, currency)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (entry_id) DO NOTHING RETURNING id",
        uuid.uuid4(), entry.tenant_id, _uuid(entry.id), entry.widget_id, reward.kind,
        reward.amount, reward.currency,
    )
    return str(payout_id) if payout_id else None


async def claim_pending_vouchers(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """Voucher payouts waiting for a code (cash waits for the shop to pay it)."""
    rows = await conn.fetch(
        "SELECT p.id, p.tenant_id, p.entry_id, p.widget_id, p.kind, p.amount, p.currency,"
        " e.customer_email FROM payouts p JOIN entries e ON e.id = p.entry_id"
        " WHERE p.status = 'pending' AND p.kind = 'voucher'"
        " ORDER BY p.created_at LIMIT $1 FOR UPDATE OF p SKIP LOCKED",
        limit,
    )
    return [{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dict(r).items()}
            for r in rows]


async def pools_to_fetch(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """(tenant, widget) of each voucher pool whose codes we have not fetched in their
    current version, and that a pending payout waits for, or a payout blocked when the pool
    ran dry (a refilled pool is a new version)."""
    rows = await pool.fetch(
        "SELECT c.tenant_id, c.widget_id FROM campaigns c"
        " WHERE c.reward ? 'voucher_pool'"
        " AND c.voucher_pool_synced IS DISTINCT FROM c.reward->'voucher_pool'->>'digest'"
        " AND EXISTS (SELECT 1 FROM payouts p WHERE p.widget_id = c.widget_id"
        "             AND p.status IN ('pending', 'blocked') AND p.kind = 'voucher')")
    return [(str(r["tenant_id"]), str(r["widget_id"])) for r in rows]


async def store_voucher_pool(conn: asyncpg.Connection, widget_id: str, codes: list[str],
                             digest: str | None) -> None:
    """The pool as the widgets service has it now: new codes added, codes the shop took
    out dropped unless already handed out (in the caller's transaction). Payouts blocked
    on the empty pool wait again (`pending`) while it has a code left, oldest first as the
    payout worker takes them; those it still cannot pay are blocked again."""
    await conn.executemany(
        "INSERT INTO voucher_codes (widget_id, code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(uuid.UUID(widget_id), code) for code in codes])
    await conn.execute(
        "DELETE FROM voucher_codes WHERE widget_id = $1 AND payout_id IS NULL"
        " AND NOT (code = ANY($2::text[]))", uuid.UUID(widget_id), codes)
    await conn.execute("UPDATE campaigns SET voucher_pool_synced = $2 WHERE widget_id = $1",
                       uuid.UUID(widget_id), digest)
    await conn.execute(
        "UPDATE payouts SET status = 'pending', blocked_reason = NULL, updated_at = now()"
        " WHERE widget_id = $1 AND kind = 'voucher' AND status = 'blocked'"
        " AND EXISTS (SELECT 1 FROM voucher_codes v WHERE v.widget_id = $1"
        "             AND v.payout_id IS NULL)", uuid.UUID(widget_id))


async def take_voucher(conn: asyncpg.Connection, widget_id: str, payout_id: str) -> str | None:
    code: str | None = await conn.fetchval(
        "UPDATE voucher_codes SET payout_id = $2 WHERE (widget_id, code) = ("
        " SELECT widget_id, code FROM voucher_codes WHERE widget_id = $1 AND payout_id IS NULL"
        " ORDER BY code LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING code",
        widget_id, payout_id,
    )
    return code


async def issue_voucher(conn: asyncpg.Connection, payout_id: str, voucher_code: str) -> None:
    """A voucher payout is paid once its code is handed out."""
    await conn.execute(
        "UPDATE payouts SET status = 'paid', method = 'voucher', completed_at = now(),"
        " updated_at = now(), voucher_code = $2 WHERE id = $1", payout_id, voucher_code,
    )


# A claimed bank payout SEPA cannot pay (its batches are in euros, sepa.CURRENCY) says so
# in the list, so it does not wait unseen: the shop pays it another way and marks it paid.
NOT_BATCHABLE_SQL = (
    "CASE WHEN p.status = 'claimed' AND p.payee_method = 'sepa' AND p.currency <> 'EUR'"
    " THEN 'SEPA batches pay EUR only: pay this ' || p.currency || ' payout another way and"
    " mark it paid' END")
PAYOUT_COLUMNS = (
    "p.id, p.entry_id, p.widget_id, p.kind, p.amount, p.currency, p.status, p.method,"
    " p.reference, p.failure_reason, p.settled_by, p.blocked_reason, p.created_at,"
    " p.completed_at, p.updated_at, p.payee_method, p.payee_masked, p.claim_expires_at,"
    f" p.claimed_at, p.batch_id, {NOT_BATCHABLE_SQL} AS not_batchable")


async def payout_for_update(conn: asyncpg.Connection, tenant_id: str, payout_id: str
                            ) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {PAYOUT_COLUMNS}, p.tenant_id FROM payouts p"
        " WHERE p.tenant_id = $1 AND p.id = $2 FOR UPDATE",
        tenant_id, path_uuid(payout_id, "payout"))
    if row is None:
        raise NotFound("payout not found")
    return payout_dict(row)


async def settle_payout(conn: asyncpg.Connection, payout: dict[str, Any], status: str,
                        method: str | None, reference: str | None, reason: str | None,
                        actor: str | None) -> dict[str, Any]:
    """Paid, failed or cancelled: a paid cash payout is booked in the ledger with it."""
    if status == "paid" and payout["kind"] == "amount":
        await conn.execute(
            "INSERT INTO ledger (tenant_id, payout_id, amount, currency) VALUES ($1, $2, $3, $4)",
            payout["tenant_id"], uuid.UUID(payout["id"]), payout["amount"], payout["currency"])
    row = await conn.fetchrow(
        "UPDATE payouts p SET status = $2, method = coalesce($3, method), reference = $4,"
        " failure_reason = $5, settled_by = $6, updated_at = now(),"
        " completed_at = CASE WHEN $2 = 'paid' THEN now() ELSE completed_at END"
        f" WHERE id = $1 RETURNING {PAYOUT_COLUMNS}",
        uuid.UUID(payout["id"]), status, method, reference, reason, actor)
    return payout_dict(row)


async def list_payouts(pool: asyncpg.Pool, tenant_id: str, statuses: tuple[str, ...],
                       limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The tenant's payouts, newest first, and the cursor to the next page."""
    after: tuple[datetime, uuid.UUID] | tuple[None, None] = (None, None)
    if cursor:
        created, last_id, _ = decode_cursor(cursor)
        after = (created, last_id)
    rows = await pool.fetch(
        f"SELECT {PAYOUT_COLUMNS} FROM payouts p WHERE p.tenant_id = $1"
        " AND (cardinality($2::text[]) = 0 OR p.status = ANY($2::text[]))"
        " AND ($4::timestamptz IS NULL OR (p.created_at, p.id) < ($4, $5::uuid))"
        " ORDER BY p.created_at DESC, p.id DESC LIMIT $3",
        tenant_id, list(statuses), limit + 1, *after)
    found = [payout_dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    return found, (position_cursor(rows[limit - 1]["created_at"], str(rows[limit - 1]["id"]),
                                   True) if more else None)


async def get_payout(pool: asyncpg.Pool, tenant_id: str, payout_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(f"SELECT {PAYOUT_COLUMNS} FROM payouts p"
                              " WHERE p.tenant_id = $1 AND p.id = $2",
                              tenant_id, path_uuid(payout_id, "payout"))
    if row is None:
        raise NotFound("payout not found")
    return payout_dict(row)


def payout_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dict(row).items()}


async def block_payout(conn: asyncpg.Connection, payout_id: str, reason: str) -> None:
    await conn.execute("UPDATE payouts SET status = 'blocked', blocked_reason = $2"
                       " WHERE id = $1", payout_id, reason)


async def payout_of(pool: asyncpg.Pool, entry_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT id, kind, amount, currency, voucher_code, status, method, reference,"
        " failure_reason, created_at, completed_at, completed_at AS paid_at"
        " FROM payouts WHERE entry_id = $1", _uuid(entry_id))
    return None if row is None else {**dict(row), "id": str(row["id"])}


async def personal_of(pool: asyncpg.Pool, tenant_id: str, entry_ids: list[str]
                      ) -> dict[str, dict[str, Any]]:
    """The text and the shopper's email of entries, by id (None each once erased), and the
    team's reason for the reward's review (`[erased]` once erased); an entry unknown or
    deleted is left out."""
    rows = await pool.fetch(
        "SELECT id, body, customer_email, review_reason FROM entries"
        " WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL",
        tenant_id, [_uuid(entry_id) for entry_id in entry_ids])
    return {str(row["id"]): {"body": row["body"], "customer_email": row["customer_email"],
                             "reason": row["review_reason"]}
            for row in rows}


async def snapshots_after(pool: asyncpg.Pool, tenant_id: str, after: str | None, limit: int
                          ) -> list[Entry]:
    """Every entry of a tenant, deleted ones included, in id order: for rebuilds."""
    rows = await pool.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE tenant_id = $1"
        " AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
        tenant_id, uuid.UUID(after) if after else None, limit,
    )
    return [entry_from_row(r) for r in rows]


# --- the inbox's change mark, bulk triage, reward totals ---------------------------------

# A change is stamped with its transaction's start (now()), so one committed after a
# later-stamped one lands behind the newest stamp: the mark also counts what changed within
# this window of the newest stamp, which such a change still moves.
# The window's bound is a scalar subquery (an init plan), so that it bounds the index scan
# (a joined column would only filter it: all of a million entries read, measured); newest
# first and at most CHANGE_WINDOW_ROWS, so that the planner walks the index backwards.
CHANGE_WINDOW = "60 seconds"
CHANGE_WINDOW_ROWS = 10_000
CHANGE_MARK_SQL = (
    "WITH newest AS (SELECT max(updated_at) AS at FROM entries WHERE tenant_id = $1),"
    " recent AS (SELECT version FROM entries WHERE tenant_id = $1"
    f" AND updated_at >= (SELECT at FROM newest) - interval '{CHANGE_WINDOW}'"
    f" ORDER BY updated_at DESC LIMIT {CHANGE_WINDOW_ROWS})"
    " SELECT (SELECT at FROM newest) AS at, count(*) AS changed,"
    " coalesce(sum(version), 0) AS versions FROM recent"
)


async def change_mark(pool: asyncpg.Pool, tenant_id: str) -> str:
    """What moves whenever an entry of the tenant is created, changed, deleted or restored
    (every write bumps updated_at and version): a list's ETag is made of it. Two short
    reads of the entries_tenant_changed index, however many entries the tenant has."""
    row = await pool.fetchrow(CHANGE_MARK_SQL, tenant_id)
    at = row["at"].isoformat() if row and row["at"] else "-"
    changed, versions = (row["changed"], row["versions"]) if row else (0, 0)
    return f"{at}/{changed}/{versions}"


async def matching_ids(pool: asyncpg.Pool, q: ListQuery, limit: int) -> list[str]:
    """The ids a list's filters find, newest first, at most `limit`."""
    where, args = filters(q)
    args.append(limit)
    rows = await pool.fetch(
        f"SELECT id FROM entries WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args)
    return [str(r["id"]) for r in rows]


def _money(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{"currency": r["currency"], "amount": f"{r['amount']:.2f}", "count": r["count"]}
            for r in rows]


async def reward_totals(pool: asyncpg.Pool, tenant_id: str, widget_id: str | None
                        ) -> dict[str, Any]:
    """Responses by reward state; money approved (a payout made on approval) and paid (its
    ledger booking), per currency; what the pending ones would pay at their campaign's
    current reward."""
    widget = uuid.UUID(widget_id) if widget_id else None
    states = await pool.fetch(
        "SELECT reward_status, widget_id, count(*) AS n FROM entries WHERE tenant_id = $1"
        " AND deleted_at IS NULL AND ($2::uuid IS NULL OR widget_id = $2)"
        " GROUP BY reward_status, widget_id", tenant_id, widget)
    counts = {state: 0 for state in ("pending", "approved", "rejected")}
    pending: dict[str, list[Any]] = {}
    for row in states:
        counts[row["reward_status"]] = counts.get(row["reward_status"], 0) + row["n"]
        if row["reward_status"] != "pending" or row["widget_id"] is None:
            continue
        campaign = await campaign_of(pool, tenant_id, str(row["widget_id"]))
        reward = reward_of(campaign)
        if reward.kind == "amount" and reward.amount is not None and reward.currency:
            total = pending.setdefault(reward.currency, [Decimal(0), 0])
            total[0] += reward.amount * row["n"]
            total[1] += row["n"]
    payouts = "FROM payouts WHERE tenant_id = $1 AND ($2::uuid IS NULL OR widget_id = $2)"
    approved = await pool.fetch(
        f"SELECT currency, sum(amount) AS amount, count(*) AS count {payouts}"
        " AND kind = 'amount' GROUP BY currency ORDER BY currency", tenant_id, widget)
    paid = await pool.fetch(
        f"SELECT currency, sum(amount) AS amount, count(*) AS count {payouts}"
        " AND kind = 'amount' AND status = 'paid' GROUP BY currency ORDER BY currency",
        tenant_id, widget)
    other = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE kind = 'voucher') AS vouchers,"
        " count(*) FILTER (WHERE kind = 'voucher' AND status = 'paid') AS issued,"
        f" count(*) FILTER (WHERE status = 'blocked') AS blocked {payouts}", tenant_id, widget)
    return {
        "campaign_id": widget_id, "pending": counts["pending"],
        "approved": counts["approved"], "rejected": counts["rejected"],
        "pending_amounts": [{"currency": c, "amount": f"{a:.2f}", "count": n}
                            for c, (a, n) in sorted(pending.items())],
        "approved_amounts": _money(approved), "paid_amounts": _money(paid),
        "vouchers_approved": other["vouchers"], "vouchers_issued": other["issued"],
        "payouts_blocked": other["blocked"],
    }


async def score_counts(pool: asyncpg.Pool, tenant_id: str, widget_id: str | None
                       ) -> list[tuple[int, int, int]]:
    """(quality score, entries with it, of which labelled spam) over the tenant's scored
    entries (of one widget)."""
    rows = await pool.fetch(
        "SELECT quality_score AS score, count(*) AS n,"
        " count(*) FILTER (WHERE quality->>'label' = 'spam') AS spam"
        " FROM entries WHERE tenant_id = $1"
        " AND deleted_at IS NULL AND quality_score IS NOT NULL"
        " AND ($2::uuid IS NULL OR widget_id = $2) GROUP BY quality_score ORDER BY 1",
        tenant_id, uuid.UUID(widget_id) if widget_id else None)
    return [(r["score"], r["n"], r["spam"]) for r in rows]


# --- rescoring (python -m resonanz.feedback rescore) ------------------------------------------

RESCORE_BATCH_SQL = (
    "SELECT id, body, rating, answers, quality, quality_score, version, created_at"
    " FROM entries WHERE tenant_id = $1 AND deleted_at IS NULL AND body IS NOT NULL"
    " AND quality_version IS DISTINCT FROM $2"
    " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))"
    " ORDER BY created_at DESC, id DESC LIMIT $5 FOR UPDATE"
)


async def outdated_scores(conn: asyncpg.Connection, tenant_id: str, version: str,
                          before: tuple[datetime, str] | None, limit: int
                          ) -> list[asyncpg.Record]:
    """The next `limit` live entries, newest first and older than `before`, whose score
    another version computed; locked until the transaction ends (a concurrent edit waits)."""
    at, entry_id = before if before else (None, None)
    return await conn.fetch(RESCORE_BATCH_SQL, tenant_id, version, at, entry_id, limit)


async def fingerprints_of(conn: asyncpg.Connection, tenant_id: str, entry_ids: list[str]
                          ) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT id, simhash FROM entries WHERE tenant_id = $1 AND id = ANY($2::uuid[])"
        " AND simhash IS NOT NULL", tenant_id, [uuid.UUID(i) for i in entry_ids])
    return {str(r["id"]): r["simhash"] for r in rows}


@dataclass(frozen=True)
class Rescored:
    entry_id: str
    quality: dict[str, Any]
    before: dict[str, Any]  # quality_score and label as stored

    @property
    def after(self) -> dict[str, Any]:
        return {"quality_score": self.quality["score"], "label": self.quality["label"]}


async def store_rescored(conn: asyncpg.Connection, tenant_id: str, actor: str,
                         rescored: list[Rescored]) -> None:
    """The new scores and breakdowns. A write like any other: version and updated_at move
    (so lists' ETags do, and an edit holding the old version gets its 412); the audit log
    has a row where the score or the label changed."""
    await conn.executemany(
        "WITH updated AS (UPDATE entries SET quality = $3::jsonb,"
        " quality_score = ($3::jsonb->>'score')::int, quality_version = $3::jsonb->>'version',"
        " version = version + 1, updated_at = now()"
        " WHERE tenant_id = $1 AND id = $2 RETURNING id, tenant_id)"
        " INSERT INTO audit_log (entry_id, tenant_id, actor, action, before, after)"
        " SELECT id, tenant_id, $4, 'rescored', $5::jsonb, $6::jsonb FROM updated"
        " WHERE $5::jsonb <> $6::jsonb",
        [(tenant_id, uuid.UUID(r.entry_id), r.quality, actor, r.before, r.after)
         for r in rescored])
