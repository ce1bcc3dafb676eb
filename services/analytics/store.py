"""The analytics schema's SQL: aggregates in, summaries out."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from resonanz.shared.events import EntrySnapshot

from .domain import Contribution, Key

STAT_COLUMNS = ("submissions", "rating_count", "rating_sum", "responded", "resolved")


async def previous_snapshot(conn: asyncpg.Connection, entry_id: str
                            ) -> tuple[int, EntrySnapshot] | None:
    row = await conn.fetchrow(
        "SELECT version, snapshot FROM entry_state WHERE entry_id = $1 FOR UPDATE", entry_id
    )
    if row is None:
        return None
    return row["version"], EntrySnapshot.model_validate(row["snapshot"])


async def save_snapshot(conn: asyncpg.Connection, tenant_id: str, entry: EntrySnapshot) -> None:
    await conn.execute(
        "INSERT INTO entry_state (entry_id, tenant_id, version, snapshot) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (entry_id) DO UPDATE SET version = EXCLUDED.version,"
        " snapshot = EXCLUDED.snapshot",
        entry.id, tenant_id, entry.version, entry.model_dump(mode="json"),
    )


async def add(conn: asyncpg.Connection, tenant_id: str, key: Key, c: Contribution) -> None:
    if c.stats or c.seconds:
        values = [c.stats.get(col, 0) for col in STAT_COLUMNS]
        await conn.execute(
            "INSERT INTO daily_stats (tenant_id, widget_key, day, submissions, rating_count,"
            " rating_sum, responded, resolved, resolve_seconds_sum)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (tenant_id, widget_key, day) DO UPDATE SET"
            " submissions = daily_stats.submissions + EXCLUDED.submissions,"
            " rating_count = daily_stats.rating_count + EXCLUDED.rating_count,"
            " rating_sum = daily_stats.rating_sum + EXCLUDED.rating_sum,"
            " responded = daily_stats.responded + EXCLUDED.responded,"
            " resolved = daily_stats.resolved + EXCLUDED.resolved,"
            " resolve_seconds_sum = daily_stats.resolve_seconds_sum"
            " + EXCLUDED.resolve_seconds_sum",
            tenant_id, key.widget_key, key.day, *values, c.seconds,
        )
    await add_resolve_times(conn, tenant_id, key, c)
    if c.counts:
        await conn.executemany(
            "INSERT INTO daily_counts (tenant_id, widget_key, day, dimension, value, n)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, widget_key, day,"
            " dimension, value) DO UPDATE SET n = daily_counts.n + EXCLUDED.n",
            [(tenant_id, key.widget_key, key.day, dim, value, n)
             for (dim, value), n in c.counts.items()],
        )


async def add_resolve_times(conn: asyncpg.Connection, tenant_id: str, key: Key,
                            c: Contribution) -> None:
    if c.resolve_buckets:
        await conn.executemany(
            "INSERT INTO daily_resolve_hist (tenant_id, widget_key, day, bucket, n)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, widget_key, day, bucket)"
            " DO UPDATE SET n = daily_resolve_hist.n + EXCLUDED.n",
            [(tenant_id, key.widget_key, key.day, bucket, n)
             for bucket, n in c.resolve_buckets.items()],
        )


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
