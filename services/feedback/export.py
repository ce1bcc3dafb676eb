"""The inbox as a file: every entry a list's filters find, as CSV or JSON Lines, streamed.

A server-side cursor reads the rows in batches inside one read-only transaction (one
snapshot for the whole file) and each batch is written to the response before the next
is read: memory stays flat whatever the number of entries, and no list of all rows
exists anywhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from resonanz.shared.timestamps import rfc3339

from .store import ListQuery, filters

BATCH = 500

# The file's columns, in order; the same names and meanings in both formats.
COLUMNS = ("id", "created_at", "updated_at", "status", "rating", "category", "body",
           "customer_email", "widget_id", "assignee", "quality_score", "quality_label",
           "reward_status", "payout_status", "notes_count", "answers", "metadata")

EXPORT_SQL = (
    "SELECT id, created_at, updated_at, status, rating, category, body, customer_email,"
    " widget_id, assignee, quality_score, quality->>'label' AS quality_label, reward_status,"
    " (SELECT p.status FROM payouts p WHERE p.entry_id = entries.id) AS payout_status,"
    " (SELECT count(*) FROM notes n WHERE n.entry_id = entries.id) AS notes_count,"
    " answers, metadata FROM entries WHERE {where}"
    " ORDER BY created_at {order}, id {order}"
)

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl"),
}

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection,
# OWASP): such a cell gets a leading apostrophe, which makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def record(row: asyncpg.Record) -> dict[str, Any]:
    """One entry's values, typed: ids as text, times in the platform's one format."""
    values = dict(row)
    for key in ("id", "widget_id"):
        values[key] = str(values[key]) if values[key] is not None else None
    for key in ("created_at", "updated_at"):
        moment: datetime = values[key]
        values[key] = rfc3339(moment)
    return values


def neutralised(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = orjson.dumps(value).decode()
    return neutralised(value) if isinstance(value, str) else value


def csv_lines(records: list[dict[str, Any]], *, header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows([csv_cell(r[c]) for c in COLUMNS] for r in records)
    return out.getvalue().encode()


def json_lines(records: list[dict[str, Any]], *, header: bool) -> bytes:
    return b"".join(orjson.dumps({c: r[c] for c in COLUMNS}) + b"\n" for r in records)


RENDERERS: dict[str, Callable[..., bytes]] = {"csv": csv_lines, "jsonl": json_lines}


async def chunks(pool: asyncpg.Pool, q: ListQuery, fmt: str) -> AsyncIterator[bytes]:
    """The file, one batch of rows at a time (the CSV header comes with the first)."""
    where, args = filters(q)
    sql = EXPORT_SQL.format(where=" AND ".join(where), order="DESC" if q.descending else "ASC")
    render = RENDERERS[fmt]
    header = True
    async with pool.acquire() as conn, conn.transaction(readonly=True,
                                                        isolation="repeatable_read"):
        batch: list[dict[str, Any]] = []
        async for row in conn.cursor(sql, *args, prefetch=BATCH):
            batch.append(record(row))
            if len(batch) >= BATCH:
                yield render(batch, header=header)
                batch, header = [], False
        if batch or header:
            yield render(batch, header=header)
