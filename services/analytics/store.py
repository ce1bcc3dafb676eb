"""The analytics schema's SQL: aggregates in, summaries out, tenants' time zones."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from resonanz.shared.events import EntrySnapshot

from .domain import (
    DEFAULT_TIMEZONE,
    DURATION_GRAINS,
    EVERY_WIDGET,
    FINE,
    NO_WIDGET,
    STAT_GRAINS,
    Contribution,
    Key,
    Piece,
    fine_rows,
    positions,
    start_of,
)

STAT_COLUMNS = ("submissions", "rating_count", "rating_sum", "responded", "response_ms",
                "resolved", "resolve_ms")
AGGREGATE_TABLES = ("stats", "counts", "durations")

K = TypeVar("K")
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


def by_row(totals: dict[tuple[str, Key], Contribution], grains: tuple[int, ...],
           part: Callable[[Contribution], Counter[K]]) -> list[tuple[Row, dict[K, int]]]:
    """Each slot's `part` goes to the row of each grain that holds its slot, for the whole
    shop and for its widget; rows in key order (two replicas lock rows in the same order).
    Plain dicts: Counter.update cost more than the rest of a batch's Python."""
    rows: dict[Row, dict[K, int]] = {}
    for (tenant, key), c in totals.items():
        values = part(c)
        if not values:
            continue
        widgets = (EVERY_WIDGET,) if key.widget == NO_WIDGET else (EVERY_WIDGET, key.widget)
        for span in grains:
            start = start_of(key.slot, span)
            for widget in widgets:
                row = rows.get((tenant, span, start, widget))
                if row is None:
                    rows[(tenant, span, start, widget)] = dict(values)
                    continue
                for k, n in values.items():
                    row[k] = row.get(k, 0) + n
    return sorted(rows.items(), key=lambda kv: kv[0])


async def add_all(conn: asyncpg.Connection, totals: dict[tuple[str, Key], Contribution]
                  ) -> None:
    """Add each row's summed contribution: one statement per table."""
    stats = [(*row, *[c.get(col, 0) for col in STAT_COLUMNS])
             for row, c in by_row(totals, STAT_GRAINS, _stats) if any(c.values())]
    counts = [(*row, dim, value, n) for row, c in by_row(totals, STAT_GRAINS, _counts)
              for (dim, value), n in sorted(c.items()) if n]
    durations = [(*row, measure, first, sum(fine.values()), _literal(fine))
                 for row, c in by_row(totals, DURATION_GRAINS, _durations)
                 for (measure, first), fine in fine_rows(c).items() if any(fine.values())]
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
        await add_durations(conn, durations)


def _stats(c: Contribution) -> Counter[str]:
    return c.stats


def _counts(c: Contribution) -> Counter[tuple[str, str]]:
    return c.counts


def _durations(c: Contribution) -> Counter[tuple[str, int]]:
    return c.durations


async def add_durations(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows of FINE buckets: the changes of each row's total and of its array. The arrays
    travel as array literals (unnest would flatten an array of arrays, and asyncpg's
    encoding of 128 ints per row cost more than the rest of a batch)."""
    await conn.execute(
        "INSERT INTO durations (tenant_id, span, start, widget_id, measure, first_bucket, n,"
        " counts) SELECT u.tenant_id, u.span, u.start, u.widget_id, u.measure,"
        " u.first_bucket, u.n, u.counts::int[]"
        " FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[], $4::uuid[],"
        " $5::text[], $6::smallint[], $7::bigint[], $8::text[])"
        " AS u(tenant_id, span, start, widget_id, measure, first_bucket, n, counts)"
        " ON CONFLICT (tenant_id, span, start, widget_id, measure, first_bucket)"
        " DO UPDATE SET n = durations.n + EXCLUDED.n,"
        " counts = add_counts(durations.counts, EXCLUDED.counts)",
        *columns(rows, 8))


_ZEROS = ["0"] * FINE


def _literal(counts: dict[int, int]) -> str:
    """A row's counts, mostly zeros, as a PostgreSQL array literal."""
    parts = _ZEROS.copy()
    for index, n in counts.items():
        parts[index] = str(n)
    return "{" + ",".join(parts) + "}"


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as column arrays, for `unnest`."""
    return [[row[i] for row in rows] for i in range(width)]


# --- summaries -----------------------------------------------------------------------------

# A summary reads each distinct range of rows once (`ranges`, numbered from 1) and adds it
# to every bucket that takes it, with that bucket's sign (`targets`; domain.Window.pieces).
RANGES = ("unnest($2::smallint[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY"
          " AS x(span, lo, hi, rid)")
TARGETS = "unnest($5::bigint[], $6::int[], $7::int[]) AS g(rid, bucket, sign)"


def _read(table: str, columns: str) -> str:
    # LATERAL: one range scan of the primary key per range, whatever the planner estimates
    # for the unnest (a hash join over the whole table read 1.5 M rows at 1 M entries).
    return (f"SELECT x.rid, {columns} FROM {RANGES} CROSS JOIN LATERAL (SELECT {columns}"
            f" FROM {table} t WHERE t.tenant_id = $1 AND t.span = x.span AND t.start >= x.lo"
            " AND t.start < x.hi AND t.widget_id = $8 OFFSET 0) t")


def _fetch(conn: asyncpg.Connection, sql: str, tenant_id: str, pieces: Iterable[Piece],
           widget: str | None) -> Awaitable[list[asyncpg.Record]]:
    """A widget's rows, or the whole shop's (EVERY_WIDGET)."""
    return conn.fetch(sql, *_args(tenant_id, pieces, widget or str(EVERY_WIDGET)))


def _args(tenant_id: str, pieces: Iterable[Piece], widget: str) -> list[Any]:
    ranges: dict[tuple[int, datetime, datetime], int] = {}
    targets: Counter[tuple[int, int]] = Counter()
    for p in pieces:
        rid = ranges.setdefault((p.span, p.lo, p.hi), len(ranges) + 1)
        targets[(rid, p.bucket)] += p.sign
    signed = [(rid, bucket, sign) for (rid, bucket), sign in targets.items() if sign]
    return [tenant_id, *columns(list(ranges), 3), *columns(signed, 3), widget]


async def bucket_stats(conn: asyncpg.Connection, tenant_id: str, pieces: Iterable[Piece],
                       widget: str | None) -> dict[int, dict[str, int]]:
    sums = ", ".join(f"sum(g.sign * r.{col})::bigint AS {col}" for col in STAT_COLUMNS)
    rows = await _fetch(
        conn, f"WITH r AS ({_read('stats', ', '.join(STAT_COLUMNS))})"
        f" SELECT g.bucket, {sums} FROM r JOIN {TARGETS} USING (rid) GROUP BY g.bucket",
        tenant_id, pieces, widget)
    return {r["bucket"]: {col: int(r[col]) for col in STAT_COLUMNS} for r in rows}


# Per bucket and measure, the row of FINE buckets holding each middle rank (`middle` 0:
# (n - 1) / 2, 1: n / 2, zero-based; `ranks` counted from the row's first bucket), from
# the rows' totals summed over the bucket's pieces and run in order. Then that row's arrays
# and signs, one per piece, which the service adds up (domain.positions): unnesting and
# sorting the 40,000 counts of a 90-day summary by day took PostgreSQL 25 ms, Python 3.
MEDIANS = f"""
    WITH r AS MATERIALIZED ({_read('durations', 't.measure, t.first_bucket, t.n, t.counts')}),
    g AS (SELECT * FROM {TARGETS}),
    h AS (SELECT g.bucket, r.measure, r.first_bucket, sum(g.sign * r.n)::bigint AS n
          FROM r JOIN g USING (rid) GROUP BY 1, 2, 3 HAVING sum(g.sign * r.n) <> 0),
    c AS (SELECT h.*, (sum(n) OVER w - n)::bigint AS below,
                 sum(n) OVER (PARTITION BY bucket, measure)::bigint AS total
          FROM h WINDOW w AS (PARTITION BY bucket, measure ORDER BY first_bucket)),
    k AS (SELECT c.bucket, c.measure, c.first_bucket,
                 array_agg(m.middle ORDER BY m.middle) AS middles,
                 array_agg(m.rank - c.below ORDER BY m.middle) AS ranks
          FROM c CROSS JOIN LATERAL (VALUES (0, (c.total - 1) / 2), (1, c.total / 2))
              AS m(middle, rank)
          WHERE m.rank >= c.below AND m.rank < c.below + c.n GROUP BY 1, 2, 3),
    o AS MATERIALIZED (SELECT g.rid, g.sign, k.* FROM k JOIN g USING (bucket))
    SELECT o.bucket, o.measure, o.first_bucket, o.middles, o.ranks,
           array_agg(o.sign) AS signs, array_agg(r.counts) AS counts
    FROM o JOIN r USING (rid, measure, first_bucket)
    GROUP BY o.bucket, o.measure, o.first_bucket, o.middles, o.ranks"""


async def bucket_medians(conn: asyncpg.Connection, tenant_id: str, pieces: Iterable[Piece],
                         widget: str | None) -> dict[tuple[int, str], tuple[int, int]]:
    """Per bucket and measure, the buckets of durations of the middle two (or one)."""
    middles: dict[tuple[int, str], list[int]] = {}
    for r in await _fetch(conn, MEDIANS, tenant_id, pieces, widget):
        found = middles.setdefault((r["bucket"], r["measure"]), [0, 0])
        for middle, at in zip(r["middles"], positions(r["signs"], r["counts"], r["ranks"]),
                              strict=True):
            found[middle] = r["first_bucket"] + at
    return {key: (lower, upper) for key, (lower, upper) in middles.items()}


async def dimension_counts(conn: asyncpg.Connection, tenant_id: str, pieces: Iterable[Piece],
                           widget: str | None) -> dict[str, dict[str, int]]:
    rows = await _fetch(
        conn, f"WITH r AS ({_read('counts', 't.dimension, t.value, t.n')})"
        f" SELECT r.dimension, r.value, sum(g.sign * r.n)::bigint AS n"
        f" FROM r JOIN {TARGETS} USING (rid) GROUP BY r.dimension, r.value"
        " HAVING sum(g.sign * r.n) <> 0", tenant_id, pieces, widget)
    out: dict[str, dict[str, int]] = {"rating": {}, "category": {}, "status": {}}
    for r in rows:
        out.setdefault(r["dimension"], {})[r["value"]] = int(r["n"])
    return out


# --- tenants -------------------------------------------------------------------------------


async def timezone_of(conn: asyncpg.Connection, tenant_id: str) -> str:
    zone = await conn.fetchval("SELECT timezone FROM tenant_zones WHERE tenant_id = $1",
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
