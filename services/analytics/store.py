"""The analytics schema's SQL: aggregates in, summaries out."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from resonanz.shared.events import EntrySnapshot

from .domain import Contribution, Key

STAT_COLUMNS = ("submissions", "rating_count", "rating_sum", "responded", "resolved")


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


async def add_all(conn: asyncpg.Connection, totals: dict[tuple[str, Key], Contribution]
                  ) -> None:
    """Add each bucket's summed contribution: one statement per table, buckets in key
    order (two replicas lock rows in the same order)."""
    ordered = sorted(totals.items(), key=lambda kv: (kv[0][0], kv[0][1].widget_key,
                                                     kv[0][1].day))
    stats = [(t, k.widget_key, k.day, *[c.stats.get(col, 0) for col in STAT_COLUMNS],
              c.seconds) for (t, k), c in ordered if c.stats or c.seconds]
    counts = [(t, k.widget_key, k.day, dim, value, n) for (t, k), c in ordered
              for (dim, value), n in sorted(c.counts.items()) if n]
    buckets = [(t, k.widget_key, k.day, bucket, n) for (t, k), c in ordered
               for bucket, n in sorted(c.resolve_buckets.items()) if n]
    if stats:
        await conn.execute(
            "INSERT INTO daily_stats (tenant_id, widget_key, day, submissions, rating_count,"
            " rating_sum, responded, resolved, resolve_seconds_sum)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::date[], $4::bigint[],"
            " $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[])"
            " ON CONFLICT (tenant_id, widget_key, day) DO UPDATE SET"
            " submissions = daily_stats.submissions + EXCLUDED.submissions,"
            " rating_count = daily_stats.rating_count + EXCLUDED.rating_count,"
            " rating_sum = daily_stats.rating_sum + EXCLUDED.rating_sum,"
            " responded = daily_stats.responded + EXCLUDED.responded,"
            " resolved = daily_stats.resolved + EXCLUDED.resolved,"
            " resolve_seconds_sum = daily_stats.resolve_seconds_sum"
            " + EXCLUDED.resolve_seconds_sum",
            *columns(stats, 9))
    if counts:
        await conn.execute(
            "INSERT INTO daily_counts (tenant_id, widget_key, day, dimension, value, n)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::text[],"
            " $6::bigint[]) ON CONFLICT (tenant_id, widget_key, day, dimension, value)"
            " DO UPDATE SET n = daily_counts.n + EXCLUDED.n",
            *columns(counts, 6))
    if buckets:
        await conn.execute(
            "INSERT INTO daily_resolve_hist (tenant_id, widget_key, day, bucket, n)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::date[], $4::smallint[],"
            " $5::bigint[]) ON CONFLICT (tenant_id, widget_key, day, bucket)"
            " DO UPDATE SET n = daily_resolve_hist.n + EXCLUDED.n",
            *columns(buckets, 5))


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as column arrays, for `unnest`."""
    return [[row[i] for row in rows] for i in range(width)]


async def resolve_histograms(pool: asyncpg.Pool, tenant_id: str, since: date, group_by: str,
                             widget_key: str | None) -> dict[date | None, list[tuple[int, int]]]:
    """(bucket, count) rows per summary bucket, and overall under the key None."""
    rows = await pool.fetch(
        "SELECT date_trunc($3, day)::date AS period, bucket, sum(n)::bigint AS n"
        " FROM daily_resolve_hist WHERE tenant_id = $1 AND day >= $2"
        " AND ($4::text IS NULL OR widget_key = $4)"
        " GROUP BY period, bucket HAVING sum(n) <> 0 ORDER BY period, bucket",
        tenant_id, since, group_by, widget_key,
    )
    out: dict[date | None, list[tuple[int, int]]] = {}
    overall: dict[int, int] = {}
    for r in rows:
        out.setdefault(r["period"], []).append((r["bucket"], int(r["n"])))
        overall[r["bucket"]] = overall.get(r["bucket"], 0) + int(r["n"])
    out[None] = sorted(overall.items())
    return out


async def bucket_stats(pool: asyncpg.Pool, tenant_id: str, since: date, group_by: str,
                       widget_key: str | None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT date_trunc($3, day)::date AS bucket, sum(submissions)::bigint AS submissions,"
        " sum(rating_count)::bigint AS rating_count, sum(rating_sum)::bigint AS rating_sum,"
        " sum(responded)::bigint AS responded, sum(resolved)::bigint AS resolved,"
        " sum(resolve_seconds_sum) AS resolve_seconds_sum"
        " FROM daily_stats WHERE tenant_id = $1 AND day >= $2"
        " AND ($4::text IS NULL OR widget_key = $4)"
        " GROUP BY bucket ORDER BY bucket",
        tenant_id, since, group_by, widget_key,
    )
    return [dict(r) for r in rows]


async def dimension_counts(pool: asyncpg.Pool, tenant_id: str, since: date,
                           widget_key: str | None) -> dict[str, dict[str, int]]:
    rows = await pool.fetch(
        "SELECT dimension, value, sum(n)::bigint AS n FROM daily_counts"
        " WHERE tenant_id = $1 AND day >= $2 AND ($3::text IS NULL OR widget_key = $3)"
        " GROUP BY dimension, value HAVING sum(n) <> 0",
        tenant_id, since, widget_key,
    )
    out: dict[str, dict[str, int]] = {"rating": {}, "category": {}, "status": {}}
    for r in rows:
        out.setdefault(r["dimension"], {})[r["value"]] = int(r["n"])
    return out


async def forget_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    for table in ("daily_stats", "daily_counts", "daily_resolve_hist", "entry_state"):
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
