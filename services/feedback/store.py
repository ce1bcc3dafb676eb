"""The feedback schema's SQL. Every statement is scoped to one tenant."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from resonanz.shared.errors import InvalidInput, NotFound

from .domain import Entry

ENTRY_COLUMNS = (
    "id, tenant_id, widget_id, body, rating, category, metadata, customer_email, answers,"
    " status, assignee, quality, quality_score, reward_status, version, created_at,"
    " updated_at, first_response_at, resolved_at, deleted_at"
)


def entry_from_row(row: asyncpg.Record) -> Entry:
    values = dict(row)
    for key in ("id", "tenant_id", "widget_id"):
        values[key] = str(values[key]) if values[key] is not None else None
    return Entry(**{k: values[k] for k in Entry.__dataclass_fields__})


@dataclass(frozen=True)
class NewEntry:
    tenant_id: str
    widget_id: str | None
    body: str | None
    rating: int | None
    category: str | None
    metadata: dict[str, Any]
    customer_email: str | None
    answers: dict[str, Any]
    quality: dict[str, Any] | None = None
    quality_score: int | None = None
    simhash: int | None = None


async def insert_entry(conn: asyncpg.Connection, new: NewEntry, actor: str | None) -> Entry:
    row = await conn.fetchrow(
        "INSERT INTO entries (id, tenant_id, widget_id, body, rating, category, metadata,"
        " customer_email, answers, quality, quality_score, simhash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        f" RETURNING {ENTRY_COLUMNS}",
        uuid.uuid4(), new.tenant_id, new.widget_id, new.body, new.rating, new.category,
        new.metadata, new.customer_email, new.answers, new.quality, new.quality_score,
        new.simhash,
    )
    entry = entry_from_row(row)
    await record_audit(conn, entry, actor, "created", None, _audited(entry))
    return entry


async def record_audit(conn: asyncpg.Connection, entry: Entry, actor: str | None, action: str,
                       before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    await conn.execute(
        "INSERT INTO audit_log (entry_id, tenant_id, actor, action, before, after)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        entry.id, entry.tenant_id, actor, action, before, after,
    )


def _audited(entry: Entry) -> dict[str, Any]:
    return {"status": entry.status, "assignee": entry.assignee, "rating": entry.rating,
            "category": entry.category}


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


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("feedback entry not found") from None


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
    widget_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    descending: bool = True
    limit: int = 50
    page: int = 1
    cursor: str | None = None
    with_total: bool = True


@dataclass(frozen=True)
class EntryPage:
    items: list[Entry]
    total: int | None
    next_cursor: str | None


def encode_cursor(entry: Entry, descending: bool) -> str:
    raw = orjson.dumps([entry.created_at.isoformat(), entry.id, descending])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, uuid.UUID, bool]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, entry_id, descending = orjson.loads(raw)
        return datetime.fromisoformat(created), uuid.UUID(entry_id), bool(descending)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("cursor is not valid",
                           details=[{"field": "cursor", "message": str(exc)}]) from None


def _filters(q: ListQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = ["tenant_id = $1", "deleted_at IS NULL"]
    args: list[Any] = [q.tenant_id]
    if q.statuses:
        args.append(list(q.statuses))
        where.append(f"status = ANY(${len(args)}::text[])")
    if q.widget_id:
        args.append(q.widget_id)
        where.append(f"widget_id = ${len(args)}")
    if q.created_from:
        args.append(q.created_from)
        where.append(f"created_at >= ${len(args)}")
    if q.created_to:
        args.append(q.created_to)
        where.append(f"created_at < ${len(args)}")
    return where, args


async def list_entries(pool: asyncpg.Pool, q: ListQuery) -> EntryPage:
    where, args = _filters(q)
    total = None
    if q.with_total:
        total = await pool.fetchval(f"SELECT count(*) FROM entries WHERE {' AND '.join(where)}",
                                    *args)
    descending = q.descending
    offset = (q.page - 1) * q.limit
    if q.cursor:
        created, last_id, descending = decode_cursor(q.cursor)
        args += [created, last_id]
        op = "<" if descending else ">"
        where.append(f"(created_at, id) {op} (${len(args) - 1}, ${len(args)})")
        offset = 0
    order = "DESC" if descending else "ASC"
    args += [q.limit + 1, offset]
    rows = await pool.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {' AND '.join(where)}"
        f" ORDER BY created_at {order}, id {order} LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    items = [entry_from_row(r) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return EntryPage(items, total, encode_cursor(items[-1], descending) if more else None)
