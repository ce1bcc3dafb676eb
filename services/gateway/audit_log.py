"""The organization's audit log: every change made through the public API by a member or
a key, recorded by the gateway (the one door every change passes) after its answer is
known. Only successful changes are recorded; request bodies never are.

A new entry (`POST /v1/feedback`) is the ingestion path: its row waits in a small
in-process buffer written in batches, so creating entries costs no extra database write
(the feedback service's own audit_log holds each creation anyway). Every other change is
written before its answer leaves, so a completed change is in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from resonanz.shared.db import PoolKey, oldest_first_delete
from resonanz.shared.logs import request_id_var
from resonanz.shared.worker import alongside

from .auth import Principal

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PREFIXES = ("/v1/", "/api/v1/")
# Written in batches, never while the caller waits.
BUFFERED = frozenset({("POST", "/v1/feedback")})
FLUSH_INTERVAL = 1.0
FLUSH_AT = 500
MAX_BUFFER = 50_000
RETENTION_DAYS = 400

COLUMNS = ("tenant_id", "at", "user_id", "key_id", "session_id", "role", "method",
           "operation", "path", "target_id", "status", "request_id")


@dataclass(frozen=True)
class AuditEvent:
    tenant_id: str
    at: datetime
    user_id: str | None
    key_id: str | None
    session_id: str | None
    role: str
    method: str
    operation: str
    path: str
    target_id: str | None
    status: int
    request_id: str | None

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in COLUMNS)


def event_of(request: web.Request, principal: Principal, response: web.StreamResponse
             ) -> AuditEvent:
    """Who changed what, from the request's route and the answer's headers only."""
    route = request.match_info.route
    resource = route.resource
    operation = resource.canonical if resource is not None else request.path
    return AuditEvent(
        tenant_id=principal.tenant_id, at=datetime.now(UTC), user_id=principal.user_id,
        key_id=None if principal.session_id else _uuid_or_none(principal.key_id),
        session_id=principal.session_id, role=principal.role, method=request.method,
        operation=operation, path=request.path, target_id=_target(request, response),
        status=response.status, request_id=request_id_var.get())


def _target(request: web.Request, response: web.StreamResponse) -> str | None:
    """The record changed: the path's id, or where a created record is read back."""
    match = dict(request.match_info)
    for name in ("id", "public_id", "user_id", "key_id"):
        if match.get(name):
            return match[name][:200]
    location = response.headers.get("Location", "")
    return location.rstrip("/").rsplit("/", 1)[-1][:200] or None


def _uuid_or_none(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


# One statement however many rows (a buffer flushed under load holds hundreds): executemany
# ran the insert once per row, each an executor start in PostgreSQL.
_COLUMN_TYPES = ("uuid", "timestamptz", "uuid", "uuid", "uuid", "text", "text", "text", "text",
                 "text", "smallint", "text")
INSERT_EVENTS_SQL = (
    f"INSERT INTO audit_events ({', '.join(COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{kind}[]" for i, (_, kind)
                in enumerate(zip(COLUMNS, _COLUMN_TYPES, strict=True), start=1)) + ")")


async def insert_events(pool: asyncpg.Pool | asyncpg.Connection,
                        events: list[AuditEvent]) -> None:
    if not events:
        return
    await pool.execute(INSERT_EVENTS_SQL, *map(list, zip(*(e.values() for e in events),
                                                         strict=True)))


class Recorder:
    """Writes audit rows: at once, or (ingestion) through a buffer flushed every
    FLUSH_INTERVAL seconds or at FLUSH_AT rows, and at shutdown."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._buffer: list[AuditEvent] = []
        self._wake = asyncio.Event()

    async def record(self, event: AuditEvent, *, buffered: bool) -> None:
        if buffered:
            self._keep(event)
            return
        try:
            await insert_events(self.pool, [event])
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("audit row kept for later: %r", exc)
            self._keep(event)

    async def record_each(self, events: list[AuditEvent]) -> None:
        """Many rows of one change, written at once."""
        if not events:
            return
        try:
            await insert_events(self.pool, events)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("%d audit rows kept for later: %r", len(events), exc)
            for event in events:
                self._keep(event)

    def _keep(self, event: AuditEvent) -> None:
        if len(self._buffer) >= MAX_BUFFER:
            log.error("audit buffer full: a row for %s %s dropped", event.method, event.path)
            return
        self._buffer.append(event)
        if len(self._buffer) >= FLUSH_AT:
            self._wake.set()

    async def flush(self) -> None:
        events, self._buffer = self._buffer, []
        if not events:
            return
        try:
            await insert_events(self.pool, events)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("%d audit rows not written yet: %r", len(events), exc)
            self._buffer = events + self._buffer

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            self._wake.clear()
            await self.flush()


RecorderKey = web.AppKey("audit_recorder", Recorder)
# What a change to many records (a bulk triage) changed: one row each, the record's id as
# its target, instead of one row for the request. Set by the operation's answer.
TargetsKey = web.RequestKey("audit_targets", list)


def recorder_ctx() -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        recorder = Recorder(app[PoolKey])
        app[RecorderKey] = recorder
        async with alongside(recorder.run()):
            yield
        await recorder.flush()

    return ctx


def principal_of(request: web.Request) -> Principal | None:
    """The caller the authentication middleware found, if any (found by type, so that
    this module does not depend on where the request key is declared)."""
    for value in request.values():
        if isinstance(value, Principal):
            return value
    return None


@web.middleware
async def record_changes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The innermost middleware: an idempotent replay or a refused request never reaches
    the log, only a change that was made."""
    response = await handler(request)
    if (request.method in WRITE_METHODS and response.status < 400
            and request.path.startswith(PUBLIC_PREFIXES)):
        principal = principal_of(request)
        if principal is not None and RecorderKey in request.app:
            event = event_of(request, principal, response)
            targets = request.get(TargetsKey)
            if targets is not None:
                await request.app[RecorderKey].record_each(
                    [replace(event, target_id=str(t)[:200]) for t in targets])
                return response
            await request.app[RecorderKey].record(
                event, buffered=(event.method, event.operation) in BUFFERED)
    return response


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    tenant_id: str
    actor: str | None = None
    methods: tuple[str, ...] = ()
    operation: str | None = None
    path: str | None = None
    target: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None
    limit: int = 50
    after: tuple[datetime, int] | None = None


def _conditions(q: AuditQuery) -> tuple[list[str], list[Any]]:
    where, args = ["tenant_id = $1"], [q.tenant_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if q.actor is not None:
        actor = arg(uuid.UUID(q.actor))
        where.append(f"(user_id = {actor} OR key_id = {actor} OR session_id = {actor})")
    if q.methods:
        where.append(f"method = ANY({arg(list(q.methods))}::text[])")
    if q.operation:
        where.append(f"operation = {arg(q.operation)}")
    if q.path:
        where.append(f"starts_with(path, {arg(q.path)})")
    if q.target:
        where.append(f"target_id = {arg(q.target)}")
    if q.at_from:
        where.append(f"at >= {arg(q.at_from)}")
    if q.at_to:
        where.append(f"at < {arg(q.at_to)}")
    if q.after:
        at = arg(q.after[0])
        where.append(f"(at, id) < ({at}, {arg(q.after[1])})")
    return where, args


async def list_events(pool: asyncpg.Pool, q: AuditQuery) -> tuple[list[dict[str, Any]], bool]:
    """One page, newest first; whether more follow."""
    where, args = _conditions(q)
    rows = await pool.fetch(
        f"SELECT id, {', '.join(COLUMNS)} FROM audit_events WHERE {' AND '.join(where)}"
        f" ORDER BY at DESC, id DESC LIMIT {q.limit + 1}", *args)
    events = [{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dict(r).items()}
              for r in rows[: q.limit]]
    return events, len(rows) > q.limit


PURGE_SQL = oldest_first_delete(
    "audit_events", f"at < now() - interval '{RETENTION_DAYS} days'", "at", "$1")
