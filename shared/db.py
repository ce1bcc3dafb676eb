"""PostgreSQL: the service's pool, its own schema and role, and its migrations."""

from __future__ import annotations

import asyncio
import importlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import orjson
from aiohttp import web

from .errors import ServiceUnavailable
from .params import path_uuid
from .settings import SERVICE_SCHEMAS, Settings, mask_dsn, service_role

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
# An item of a grouped round and the future its caller awaits.
Waiting = tuple[T, "asyncio.Future[R]"]

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No per-release reset: the services keep no session state (advisory locks are
    transaction-scoped, LISTEN runs on dedicated connections), and the default reset
    costs a round trip on every release."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


PoolKey = web.AppKey("pool", asyncpg.Pool)


def pool_ctx(
    service: str, settings: Settings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx that owns the service's pool for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        dsn = settings.service_dsn(service)
        log.info("connecting to %s", mask_dsn(dsn))
        app[PoolKey] = await create_pool(
            dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        yield
        await app[PoolKey].close()

    return ctx


# --- migrations --------------------------------------------------------------------


def migration_files(service: str) -> list[tuple[str, str]]:
    """(version, sql) pairs: the shared ones first, then the service's own, in name order."""
    module_file = importlib.import_module(f"resonanz.{service}").__file__
    assert module_file is not None
    own = Path(module_file).parent / "migrations"
    found = [(f"shared/{p.name}", p.read_text()) for p in sorted(SHARED_MIGRATIONS.glob("*.sql"))]
    found += [(f"{service}/{p.name}", p.read_text()) for p in sorted(own.glob("*.sql"))]
    return found


async def migrate(admin_dsn: str, service: str, role_password: str | None = None) -> list[str]:
    """Create the service's role and schema if missing and apply pending migrations.

    Runs as a superuser; every object is created under the service's role, so the
    role owns its schema and nothing else. Safe to run from several processes.
    """
    role = service_role(service)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('resonanz-migrate'))")
        schema = SERVICE_SCHEMAS[service]
        await _ensure_role_and_schema(conn, role, schema, role_password)
        return await _apply_pending(conn, role, schema, service)
    finally:
        await conn.close()


async def _ensure_role_and_schema(
    conn: asyncpg.Connection, role: str, schema: str, password: str | None
) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if not exists:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN')
    if password:
        await conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{_quote(password)}'")
    database = await conn.fetchval("SELECT current_database()")
    await conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
    await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{role}"')
    await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
    await conn.execute(f'ALTER ROLE "{role}" SET search_path = "{schema}"')


def _quote(value: str) -> str:
    return value.replace("'", "''")


async def _apply_pending(
    conn: asyncpg.Connection, role: str, schema: str, service: str
) -> list[str]:
    await conn.execute(f'SET ROLE "{role}"')
    await conn.execute(f'SET search_path = "{schema}"')
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in migration_files(service):
        if version in done:
            continue
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        log.info("applied migration %s", version)
        applied.append(version)
    await conn.execute("RESET ROLE")
    return applied


async def ensure_database(admin_dsn: str) -> None:
    """Create the database named in the DSN when it does not exist yet."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_dsn)
    name = parts.path.lstrip("/") or "postgres"
    maintenance = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    conn = await asyncpg.connect(maintenance)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


# What a PostgreSQL restart or failover looks like to a request or a background loop:
# worth a retry (a 503 at the edge, a pause in a worker), never a 500 or a dead loop.
# OSError: refused, reset, unreachable or timed-out connections. InterfaceError: a pooled
# connection that was closed under us. InternalClientError: a pooled connection caught
# mid-operation by the server's shutdown ("cannot switch to state ...; another operation
# is in progress"), seen once in a PostgreSQL restart drill; the next connection works.
TRANSIENT_DB_ERRORS = (OSError, asyncpg.PostgresConnectionError,
                       asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
                       asyncpg.InterfaceError, asyncpg.InternalClientError)


def database_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("the database is unavailable, retry shortly",
                              headers={"Retry-After": "1"})


async def database_ready(app: web.Application) -> None:
    await app[PoolKey].fetchval("SELECT 1")


def uuid_or_404(value: str, what: str) -> uuid.UUID:
    """A path id as a UUID; anything else names nothing, so it is a 404, not a 400.
    One parser for every edge (shared.params): spellings `uuid.UUID` lets through, such
    as `_` or `+` inside, are refused here as at the gateway."""
    return path_uuid(value, what)


def oldest_first_delete(table: str, where: str, order_by: str, limit: str, *,
                        key: str = "id", skip_locked: bool = False) -> str:
    """A retention purge: DELETE at most `limit` rows of `table` matching `where`, the first
    in `order_by`'s order (a column with an index), found in that index and deleted by
    `key`. `key IN (SELECT ... LIMIT n)` without the order was planned, on a table
    autoanalyze had not yet seen, as sequential scans that read every row to find none old
    enough (the relay's outbox purge: 45 ms a second at 47,000 rows, docs/benchmarks.md)."""
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return (f"DELETE FROM {table} WHERE {key} = ANY(ARRAY(SELECT {key} FROM {table}"
            f" WHERE {where} ORDER BY {order_by} LIMIT {limit}{lock}))")


def subject_sha256_sql(address: str) -> str:
    """The SQL for a data subject's hash (the `subject_sha256` of the privacy events) of the
    e-mail address `address` (a column or a parameter): SHA-256 of the address trimmed and
    lower-cased by the database, as every service compares addresses (Python's str.lower()
    differs from PostgreSQL's lower(): `İ`)."""
    return f"encode(sha256(convert_to(lower(btrim({address})), 'UTF8')), 'hex')"


def plain(row: asyncpg.Record) -> dict[str, Any]:
    """A row as JSON-ready values: UUIDs as strings."""
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dict(row).items()}


class Grouped(Generic[T, R]):
    """Concurrent callers' items in one round trip: everything submitted while the previous
    round was running goes into the next one, and each caller gets its own item's result,
    or raises what the round raised. `run` gets the connection and the items, and returns
    one result per item, in order; with `transaction`, the round is one transaction.

    When a round fails on a statement error, its items are run one by one, so that one bad
    item fails only its own caller."""

    def __init__(self, pool: asyncpg.Pool,
                 run: Callable[[asyncpg.Connection, list[T]], Awaitable[list[R]]], *,
                 transaction: bool, max_batch: int = 500) -> None:
        self.pool, self.run, self.transaction = pool, run, transaction
        self.max_batch = max_batch
        self._pending: list[Waiting[T, R]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_pending())
        return await done

    async def _run_pending(self) -> None:
        while self._pending:
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            try:
                results = await self._round(batch)
            except TRANSIENT_DB_ERRORS as exc:
                _fail(batch, exc)
            except asyncpg.PostgresError as exc:
                if len(batch) == 1:
                    _fail(batch, exc)
                    continue
                log.info("a grouped round of %d failed (%r): running them one by one",
                         len(batch), exc)
                for one in batch:
                    await self._alone(one)
            except BaseException as exc:
                _fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                _succeed(batch, results)

    async def _round(self, batch: list[Waiting[T, R]]) -> list[R]:
        items = [item for item, _ in batch]
        async with self.pool.acquire() as conn:
            if not self.transaction:
                results = await self.run(conn, items)
            else:
                async with conn.transaction():
                    results = await self.run(conn, items)
        if len(results) != len(items):
            raise RuntimeError(f"a grouped round answered {len(results)} of {len(items)}")
        return results

    async def _alone(self, one: Waiting[T, R]) -> None:
        try:
            results = await self._round([one])
        except Exception as exc:
            _fail([one], exc)
        else:
            _succeed([one], results)


class GroupCommit(Grouped[T, None]):
    """Concurrent callers' writes in one transaction (group commit): each caller returns
    once its own item is committed, or raises what the write raised.

    One transaction for many items pays the commit, the WAL flush and a `NOTIFY` once
    instead of per item; a batch that fails on a statement error is written one by one.
    A `write` of a single statement is atomic on its own: `one_statement` leaves out the
    BEGIN and COMMIT, two round trips of three."""

    def __init__(self, pool: asyncpg.Pool,
                 write: Callable[[asyncpg.Connection, list[T]], Awaitable[None]], *,
                 one_statement: bool = False, max_batch: int = 500) -> None:
        async def run(conn: asyncpg.Connection, items: list[T]) -> list[None]:
            await write(conn, items)
            return [None] * len(items)

        super().__init__(pool, run, transaction=not one_statement, max_batch=max_batch)


def _succeed(batch: list[Waiting[T, R]], results: list[R]) -> None:
    for (_, done), result in zip(batch, results, strict=True):
        if not done.done():
            done.set_result(result)


def _fail(batch: list[Waiting[T, R]], exc: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(exc)
