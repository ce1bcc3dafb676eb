"""Helpers for tests that wait on asynchronous effects: poll with a deadline, never sleep blind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from resonanz.devstack.supervisor import free_port

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool],
                     within: float = 30.0, interval: float = 0.05, what: str = "condition"
                     ) -> T:
    """Call `probe` until `until(result)` holds; fail with the last result at the deadline."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if until(last):
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {within}s; last value: {last!r}")


async def topic_records(bootstrap: str, topic: str, wanted: int, within: float = 30.0
                        ) -> list[ConsumerRecord[Any, Any]]:
    """Every record on `topic` from its start, once at least `wanted` have arrived (then
    one more poll, so records beyond the wanted count show too); fails at the deadline."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        async def more() -> int:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            return len(records)
        await eventually(more, lambda n: n >= wanted, within=within,
                         what=f"{wanted} records on {topic}")
        await more()
    finally:
        await consumer.stop()
    return records


TEXT_COLUMNS = """
SELECT c.table_schema, c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE t.table_type = 'BASE TABLE'
  AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
  AND c.data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb',
                      'ARRAY', 'USER-DEFINED')
"""


async def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of one statement on a connection of its own (to look behind the API)."""
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def query_value(database_url: str, sql: str, *args: Any) -> Any:
    """The first column of the first row of one statement, or None."""
    rows = await query(database_url, sql, *args)
    return rows[0][0] if rows else None


def plan_of(explained: Any) -> dict[str, Any]:
    """The top node of an EXPLAIN (FORMAT JSON) answer, whether the pool decodes json or not."""
    return dict((json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"])


def scans(plan: dict[str, Any], relation: str) -> list[dict[str, Any]]:
    """Every node of `plan` that reads `relation`."""
    found = [plan] if plan.get("Relation Name") == relation else []
    for child in plan.get("Plans", []):
        found += scans(child, relation)
    return found


async def places_holding(database_url: str, needle: str) -> list[str]:
    """Every column of every table in every schema holding `needle` anywhere in a value."""
    conn = await asyncpg.connect(database_url)
    found = []
    try:
        for col in await conn.fetch(TEXT_COLUMNS):
            table = f'"{col["table_schema"]}"."{col["table_name"]}"'
            column = f'"{col["column_name"]}"'
            holds = (f"position(convert_to($1, 'UTF8') in {column}) > 0"
                     if col["data_type"] == "bytea" else f"strpos({column}::text, $1) > 0")
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {holds})",
                                   needle):
                found.append(f"{col['table_schema']}.{col['table_name']}.{col['column_name']}")
    finally:
        await conn.close()
    return found


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` served on a free loopback port for as long as the block runs: its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A Redis server of the caller's own (Debian's redis-server, tools/system-deps.sh) on a
    free loopback port, keeping nothing on disk: its URL without a database number."""
    binary = shutil.which("redis-server")
    assert binary, "needs Debian's redis-server (tools/system-deps.sh installs it)"
    port = free_port()
    log = folder / "redis.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            assert process.poll() is None, f"redis-server exited: {log.read_text()[-500:]}"
            assert time.monotonic() < deadline, f"redis-server not answering on {port}"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
