"""The widgets schema's SQL. Every management statement is scoped to one tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.db import uuid_or_404
from resonanz.shared.errors import NotFound

from .domain import Question, Reward, Theme, Trigger, Widget

COLUMNS = (
    "id, tenant_id, public_id, name, status, placement, trigger, theme, languages, questions,"
    " reward, auto_approve_above, auto_reject_below, allowed_origins, pause_reason, paused_at,"
    " resume_at, ended_at, version, created_at, updated_at"
)
SCHEDULE_CHANNEL = "resonanz_widget_schedule"


def widget_from_row(row: asyncpg.Record) -> Widget:
    return Widget(
        id=str(row["id"]), tenant_id=str(row["tenant_id"]), public_id=row["public_id"],
        name=row["name"], status=row["status"], placement=row["placement"],
        trigger=Trigger.model_validate(row["trigger"]),
        theme=Theme.model_validate(row["theme"]), languages=tuple(row["languages"]),
        questions=tuple(Question.model_validate(q) for q in row["questions"]),
        reward=Reward.model_validate(row["reward"]) if row["reward"] else None,
        auto_approve_above=row["auto_approve_above"],
        auto_reject_below=row["auto_reject_below"],
        allowed_origins=tuple(row["allowed_origins"]), pause_reason=row["pause_reason"],
        paused_at=row["paused_at"], resume_at=row["resume_at"], ended_at=row["ended_at"],
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


def _values(w: Widget) -> list[Any]:
    return [
        w.name, w.status, w.placement, w.trigger.model_dump(mode="json", exclude_none=True),
        w.theme.model_dump(mode="json"), list(w.languages),
        [q.model_dump(mode="json") for q in w.questions],
        w.reward.model_dump(mode="json", exclude_none=True) if w.reward else None,
        w.auto_approve_above, w.auto_reject_below, list(w.allowed_origins), w.pause_reason,
        w.paused_at, w.resume_at, w.ended_at,
    ]


async def insert_widget(conn: asyncpg.Connection, w: Widget) -> Widget:
    row = await conn.fetchrow(
        "INSERT INTO widgets (id, tenant_id, public_id, name, status, placement, trigger, theme,"
        " languages, questions, reward, auto_approve_above, auto_reject_below, allowed_origins,"
        " pause_reason, paused_at, resume_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
        f" $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING {COLUMNS}",
        uuid.UUID(w.id), uuid.UUID(w.tenant_id), w.public_id, *_values(w),
    )
    return widget_from_row(row)


async def save_widget(conn: asyncpg.Connection, w: Widget) -> Widget:
    """Write every setting of `w` back and bump its version."""
    row = await conn.fetchrow(
        "UPDATE widgets SET name = $2, status = $3, placement = $4, trigger = $5, theme = $6,"
        " languages = $7, questions = $8, reward = $9, auto_approve_above = $10,"
        " auto_reject_below = $11, allowed_origins = $12, pause_reason = $13, paused_at = $14,"
        " resume_at = $15, ended_at = $16, version = version + 1, updated_at = now()"
        f" WHERE id = $1 RETURNING {COLUMNS}",
        uuid.UUID(w.id), *_values(w),
    )
    return widget_from_row(row)


def _uuid(value: str) -> uuid.UUID:
    return uuid_or_404(value, "widget")


async def get_widget(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, widget_id: str,
                     *, for_update: bool = False) -> Widget:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM widgets WHERE tenant_id = $1 AND id = $2{lock}",
        _uuid(tenant_id), _uuid(widget_id),
    )
    if row is None:
        raise NotFound("widget not found")
    return widget_from_row(row)


async def find_by_public_id(pool: asyncpg.Pool, tenant_id: str, public_id: str) -> Widget:
    """The tenant's widget with this public id (the `wdg_…` of its embed code)."""
    row = await pool.fetchrow(
        f"SELECT {COLUMNS} FROM widgets WHERE tenant_id = $1 AND public_id = $2",
        _uuid(tenant_id), public_id,
    )
    if row is None:
        raise NotFound("widget not found")
    return widget_from_row(row)


async def find_public(pool: asyncpg.Pool, public_id: str) -> Widget:
    row = await pool.fetchrow(f"SELECT {COLUMNS} FROM widgets WHERE public_id = $1", public_id)
    if row is None:
        raise NotFound("widget not found")
    return widget_from_row(row)


async def list_widgets(pool: asyncpg.Pool, tenant_id: str, limit: int, offset: int
                       ) -> tuple[list[Widget], int]:
    tenant = _uuid(tenant_id)
    total = await pool.fetchval("SELECT count(*) FROM widgets WHERE tenant_id = $1", tenant)
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM widgets WHERE tenant_id = $1"
        " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        tenant, limit, offset,
    )
    return [widget_from_row(r) for r in rows], int(total)


async def list_widgets_after(pool: asyncpg.Pool, tenant_id: str, limit: int,
                             after: tuple[datetime, uuid.UUID] | None) -> list[Widget]:
    """A keyset page, newest first: the widgets created before the one at `after` (the
    first page when None). Its cost does not grow with the depth, nor does a widget created
    meanwhile shift the next page."""
    created, last_id = after if after is not None else (None, None)
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM widgets WHERE tenant_id = $1"
        " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $2",
        _uuid(tenant_id), limit, created, last_id,
    )
    return [widget_from_row(r) for r in rows]


# --- the resume schedule -------------------------------------------------------------


async def announce_schedule(conn: asyncpg.Connection) -> None:
    """Wake every replica's scheduler when the transaction commits."""
    await conn.execute("SELECT pg_notify($1, '')", SCHEDULE_CHANNEL)


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[Widget]:
    """Paused widgets whose resume time has come, locked for this transaction only.

    SKIP LOCKED lets replicas share the work: a row another replica is resuming is
    skipped, and once it committed the row is no longer PAUSED, so no widget is
    resumed twice.
    """
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM widgets WHERE status = 'PAUSED' AND resume_at <= now()"
        " ORDER BY resume_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [widget_from_row(r) for r in rows]


async def seconds_to_next_resume(pool: asyncpg.Pool) -> float | None:
    value = await pool.fetchval(
        "SELECT extract(epoch FROM min(resume_at) - clock_timestamp()) FROM widgets"
        " WHERE status = 'PAUSED' AND resume_at IS NOT NULL"
    )
    return None if value is None else float(value)
