"""The analytics schema's SQL: aggregates in, summaries out, tenants' time zones."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg

from resonanz.shared.events import EntrySnapshot

from .domain import (
    DAY_SPAN,
    DEFAULT_TIMEZONE,
    SLOT_SPAN,
    Contribution,
    Key,
    Piece,
    accumulate,
    day_of,
)

STAT_COLUMNS = ("submissions", "rating_count", "rating_sum", "responded", "response_ms",
                "resolved", "resolve_ms")
AGGREGATE_TABLES = ("stats", "counts", "durations")

# A row of an aggregate table: tenant, span (minutes), start (UTC), widget.
Row = tuple[str, int, datetime, uuid.UUID]


async def previous_snapshots(conn: asyncpg.Connection, entry_ids: list[str]
                             ) -> dict[str, EntrySnapshot]:
    """The stored snapshot of each entry, locked (in id order: replicas never deadlock)."""
    rows = await conn.fetch(
        "SELECT snapshot FROM entry_state WHERE entry_id = ANY($1::uuid[])"
        " ORDER BY entry_id FOR UPDATE", sorted(set(entry_ids)))
    snapshots = (EntrySnapshot.model_validate(row["snapshot"]) for row in rows)
    return {s.id: s for s in snapshots}


async def save_snapshots(conn: asyncpg.Connection,
                         snapshots: list[tuple[str, EntrySnapshot]]) -> None:
    if not snapshots:
        return
    await conn.execute(
        "INSERT INTO entry_state (entry_id, tenant_id, version, snapshot)"
        " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::jsonb[])"
        " ON CONFLICT (entry_id) DO UPDATE SET version = EXCLUDED.version,"
        " snapshot = EXCLUDED.snapshot",
        [e.id for _, e in snapshots], [t for t, _ in snapshots],
        [e.version for _, e in snapshots], [e.model_dump(mode="json") for _, e in snapshots],
    )


def by_row(totals: dict[tuple[str, Key], Contribution]) -> list[tuple[Row, Contribution]]:
    """Each slot's contribution goes to its slot row and to its UTC day's row; rows in key
    order (two replicas lock rows in the same order)."""
    rows: dict[Row, Contribution] = {}
    for (tenant, key), c in totals.items():
        for span, start in ((SLOT_SPAN, key.slot), (DAY_SPAN, day_of(key.slot))):
            accumulate(rows.setdefault((tenant, span, start, key.widget), Contribution()), c)
    return sorted(rows.items(), key=lambda kv: kv[0])


async def add_all(conn: asyncpg.Connection, totals: dict[tuple[str, Key], Contribution]
                  ) -> None:
    """Add each row's summed contribution: one statement per table."""
    ordered = by_row(totals)
    stats = [(*row, *[c.stats.get(col, 0) for col in STAT_COLUMNS])
             for row, c in ordered if any(c.stats.values())]
    counts = [(*row, dim, value, n) for row, c in ordered
              for (dim, value), n in sorted(c.counts.items()) if n]
    durations = [(*row, measure, bucket, n) for row, c in ordered
                 for (measure, bucket), n in sorted(c.durations.items()) if n]
    key = "$1::uuid[], $2::smallint[], $3::timestamptz[], $4::uuid[]"
    if stats:
        sums = ", ".join(f"{col} = stats.{col} + EXCLUDED.{col}" for col in STAT_COLUMNS)
        await conn.execute(
            f"INSERT INTO stats (tenant_id, span, start, widget_id, {', '.join(STAT_COLUMNS)})"
            f" SELECT * FROM unnest({key}, $5::bigint[], $6::bigint[], $7::bigint[],"
            " $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])"
            f" ON CONFLICT (tenant_id, span, start, widget_id) DO UPDATE SET {sums}",
            *columns(stats, 11))
    if counts:
        await conn.execute(
            "INSERT INTO counts (tenant_id, span, start, widget_id, dimension, value, n)"
            f" SELECT * FROM unnest({key}, $5::text[], $6::text[], $7::bigint[])"
            " ON CONFLICT (tenant_id, span, start, widget_id, dimension, value)"
            " DO UPDATE SET n = counts.n + EXCLUDED.n",
            *columns(counts, 7))
    if durations:
        await conn.execute(
            "INSERT INTO durations (tenant_id, span, start, widget_id, measure, bucket, n)"
            f" SELECT * FROM unnest({key}, $5::text[], $6::smallint[], $7::bigint[])"
            " ON CONFLICT (tenant_id, span, start, widget_id, measure, bucket)"
            " DO UPDATE SET n = durations.n + EXCLUDED.n",
            *columns(durations, 7))


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as column arrays, for `unnest`."""
    return [[row[i] for row in rows] for i in range(width)]


# --- summaries -----------------------------------------------------------------------------

# The pieces a summary reads, joined to a table: each piece is a range of one grain's rows,
# added to a bucket with a sign (see domain.Window.pieces).
PIECES = ("unnest($2::smallint[], $3::timestamptz[], $4::timestamptz[], $5::int[],"
          " $6::int[]) AS p(span, lo, hi, bucket, sign)")


def _join(table: str) -> str:
    # LATERAL: one range scan of the primary key per piece, whatever the planner estimates
    # for the unnest (a hash join over the whole table read 1.5 M rows at 1 M entries).
    return (f"FROM {PIECES} CROSS JOIN LATERAL (SELECT * FROM {table} r"
            " WHERE r.tenant_id = $1 AND r.span = p.span AND r.start >= p.lo"
            " AND r.start < p.hi AND ($7::uuid IS NULL OR r.widget_id = $7) OFFSET 0) t")


def _args(tenant_id: str, pieces: list[Piece], widget: str | None) -> list[Any]:
    return [tenant_id, *columns([(p.span, p.lo, p.hi, p.bucket, p.sign) for p in pieces], 5),
            widget]


async def bucket_stats(pool: asyncpg.Pool, tenant_id: str, pieces: list[Piece],
                       widget: str | None) -> dict[int, dict[str, int]]:
    sums = ", ".join(f"sum(p.sign * t.{col})::bigint AS {col}" for col in STAT_COLUMNS)
    rows = await pool.fetch(f"SELECT p.bucket, {sums} {_join('stats')} GROUP BY p.bucket",
                            *_args(tenant_id, pieces, widget))
    return {r["bucket"]: {col: int(r[col]) for col in STAT_COLUMNS} for r in rows}


async def bucket_durations(pool: asyncpg.Pool, tenant_id: str, pieces: list[Piece],
                           widget: str | None) -> dict[tuple[int, str], Counter[int]]:
    """Per bucket and measure, the histogram of durations."""
    rows = await pool.fetch(
        f"SELECT p.bucket, t.measure, t.bucket AS duration, sum(p.sign * t.n)::bigint AS n"
        f" {_join('durations')} GROUP BY p.bucket, t.measure, t.bucket"
        " HAVING sum(p.sign * t.n) <> 0", *_args(tenant_id, pieces, widget))
    out: dict[tuple[int, str], Counter[int]] = {}
    for r in rows:
        out.setdefault((r["bucket"], r["measure"]), Counter())[r["duration"]] = int(r["n"])
    return out


async def dimension_counts(pool: asyncpg.Pool, tenant_id: str, pieces: list[Piece],
                           widget: str | None) -> dict[str, dict[str, int]]:
    rows = await pool.fetch(
        f"SELECT t.dimension, t.value, sum(p.sign * t.n)::bigint AS n {_join('counts')}"
        " GROUP BY t.dimension, t.value HAVING sum(p.sign * t.n) <> 0",
        *_args(tenant_id, pieces, widget))
    out: dict[str, dict[str, int]] = {"rating": {}, "category": {}, "status": {}}
    for r in rows:
        out.setdefault(r["dimension"], {})[r["value"]] = int(r["n"])
    return out


# --- tenants -------------------------------------------------------------------------------


async def timezone_of(pool: asyncpg.Pool, tenant_id: str) -> str:
    zone = await pool.fetchval("SELECT timezone FROM tenant_zones WHERE tenant_id = $1",
                               tenant_id)
    return zone or DEFAULT_TIMEZONE


async def save_timezone(conn: asyncpg.Connection, tenant_id: str, timezone: str,
                        version: int) -> None:
    """Keep the zone of the newest version seen: events may come twice or out of order."""
    await conn.execute(
        "INSERT INTO tenant_zones (tenant_id, timezone, version) VALUES ($1, $2, $3)"
        " ON CONFLICT (tenant_id) DO UPDATE SET timezone = EXCLUDED.timezone,"
        " version = EXCLUDED.version WHERE tenant_zones.version < EXCLUDED.version",
        tenant_id, timezone, version)


async def tenants_with_entries(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT DISTINCT tenant_id FROM entry_state ORDER BY tenant_id")
    return [str(r["tenant_id"]) for r in rows]


async def forget_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    """Its aggregates and entry snapshots; its time zone stays."""
    for table in (*AGGREGATE_TABLES, "entry_state"):
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
