"""Who is calling: API key authentication from a short-lived cache that every key change
empties before it is reported done (see `key_changes`), with no write per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web
from prometheus_client import Counter

from resonanz.shared.db import TRANSIENT_DB_ERRORS, PoolKey
from resonanz.shared.errors import Forbidden, Unauthenticated
from resonanz.shared.worker import RECONNECT_DELAY, alongside

from . import key_changes, keys, store
from .key_changes import CACHE_SECONDS, HEARTBEAT_INTERVAL, LAPSE_AFTER

log = logging.getLogger(__name__)

KEY_LOOKUPS = Counter("resonanz_gateway_key_lookups_total",
                      "API keys looked up in the database (well-formed keys only)")
REGISTER_TIMEOUT = 10.0
MAX_CACHED_KEYS = 10_000
INACTIVITY_EXPIRY = timedelta(days=365)
FLUSH_INTERVAL = 30.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str
    role: str
    user_id: str | None
    rate_limits: Mapping[str, int] = field(default_factory=dict)
    # Set when a signed-in member's browser session, not an API key, authenticated.
    session_id: str | None = None

    @property
    def actor_id(self) -> str:
        return self.user_id or f"key:{self.key_id}"

    def require_write(self) -> None:
        if self.role == "viewer":
            raise Forbidden("viewers cannot change anything",
                            details=[{"field": "role", "message": "viewer"}])

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden("only admins may do this",
                            details=[{"field": "role", "message": self.role}])


PrincipalKey = web.RequestKey("principal", Principal)


def presented_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


class Authenticator:
    """Checks every request's key against a record at most CACHE_SECONDS old (its age
    counted from before the lookup started), and no older than the last key change this
    gateway has seen: hearing of one empties the cache, and an answer that a change
    overtook on its way is used once but not kept. The cache is trusted only while this
    gateway's registration is current (`GatewayInstance`), so whoever revokes a key can
    wait until no gateway can still accept it (see `key_changes`).

    Key use is remembered in memory and flushed in batches: `last_used_at` stays
    current without one write per request.
    """

    def __init__(self, pool: asyncpg.Pool, pepper: bytes) -> None:
        self.pool, self.pepper, self.cache_seconds = pool, pepper, CACHE_SECONDS
        self._used: dict[str, datetime] = {}
        self._cache: dict[bytes, tuple[float, store.KeyRecord]] = {}
        self._generation = 0
        # When the last heartbeat that found this gateway registered was sent; None:
        # not registered (yet, or any more).
        self._registered_at: float | None = None

    def forget_keys(self) -> None:
        """A key changed somewhere, or changes may have gone unheard: look every key up again."""
        self._generation += 1
        self._cache.clear()

    def trust_cache(self, heartbeat_sent_at: float) -> None:
        self._registered_at = heartbeat_sent_at

    def distrust_cache(self) -> None:
        self._registered_at = None

    def cache_lapsed(self, now: float) -> bool:
        """True once the registration may have been taken for stale: revokers no longer
        wait for this gateway, so it must not answer from its cache."""
        return self._registered_at is None or now - self._registered_at >= LAPSE_AFTER

    async def authenticate(self, request: web.Request) -> Principal:
        key = presented_key(request)
        if key is None:
            raise Unauthenticated("API key missing: send Authorization: Bearer <key>"
                                  " or X-API-Key")
        if not keys.is_well_formed(key):
            raise Unauthenticated("API key is malformed")
        record = await self._lookup(keys.digest(key, self.pepper))
        now = datetime.now(UTC)
        if record is None or not self._usable(record, now):
            raise Unauthenticated("API key is invalid, expired or revoked")
        self._used[record.id] = now
        return Principal(record.tenant_id, record.id, record.role, record.user_id,
                         record.rate_limits)

    async def _lookup(self, digest: bytes) -> store.KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(digest)
        if (cached is not None and now - cached[0] < self.cache_seconds
                and not self.cache_lapsed(now)):
            return cached[1]
        generation, fetched_at = self._generation, time.monotonic()
        KEY_LOOKUPS.inc()
        record = await store.find_key(self.pool, digest)
        # Unknown keys are not remembered (a new key works at once), and neither is an
        # answer that a change notice overtook while it was on its way.
        if record is not None and generation == self._generation:
            if len(self._cache) >= MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[digest] = (fetched_at, record)
        return record

    def _usable(self, record: store.KeyRecord, now: datetime) -> bool:
        if record.revoked_at is not None:
            return False
        if record.expires_at is not None and record.expires_at <= now:
            return False
        last = self._used.get(record.id) or record.last_used_at or record.created_at
        return now - last < INACTIVITY_EXPIRY

    async def flush(self) -> None:
        used, self._used = self._used, {}
        if used:
            try:
                await store.record_key_use(self.pool, used)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("could not record key use: %r", exc)
                self._used = {**used, **self._used}

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()


class GatewayInstance:
    """This gateway process's row in `gateway_instances`, kept on a connection of its own
    that also LISTENs for key changes: on each change it empties the cache, then records
    the generation as seen; every HEARTBEAT_INTERVAL it heartbeats. Whenever it
    (re)connects, its row was pruned or its heartbeat lapsed, it registers anew and
    empties the cache after that, since changes may have gone unheard meanwhile."""

    def __init__(self, auth: Authenticator, dsn: str) -> None:
        self.auth, self.dsn, self.id = auth, dsn, uuid.uuid4()
        self.registered = asyncio.Event()
        self._heard = 0
        self._news = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
            except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError) as exc:
                log.info("gateway registration waiting for the database: %r", exc)
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            try:
                await self._keep(conn)
            except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("gateway registration lost the database: %r", exc)
                await asyncio.sleep(RECONNECT_DELAY)
            finally:
                with contextlib.suppress(*TRANSIENT_DB_ERRORS, asyncpg.PostgresError):
                    await conn.close()

    async def _keep(self, conn: asyncpg.Connection) -> None:
        conn.add_termination_listener(lambda *_: self._news.set())
        await conn.add_listener(key_changes.CHANNEL, self._heard_of)
        # Listening first: every change after the registration is heard.
        await self._register(conn)
        while not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), HEARTBEAT_INTERVAL)
            self._news.clear()
            if not conn.is_closed():
                await self._heartbeat(conn)

    def _heard_of(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.auth.forget_keys()
        # Recorded only after the cache was emptied; '' is 0004's trigger, mid-upgrade.
        self._heard = max(self._heard, int(payload) if payload.isdigit() else 0)
        self._news.set()

    async def _register(self, conn: asyncpg.Connection) -> None:
        sent = time.monotonic()
        await key_changes.register(conn, self.id)
        self.auth.forget_keys()
        self.auth.trust_cache(sent)
        self.registered.set()

    async def _heartbeat(self, conn: asyncpg.Connection) -> None:
        sent = time.monotonic()
        found = await key_changes.heartbeat(conn, self.id, self._heard)
        if found and not self.auth.cache_lapsed(time.monotonic()):
            self.auth.trust_cache(sent)
        else:
            await self._register(conn)

    async def deregister(self, pool: asyncpg.Pool) -> None:
        self.auth.distrust_cache()
        try:
            await key_changes.deregister(pool, self.id)
        except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("could not deregister; the row is pruned once stale: %r", exc)


AuthenticatorKey = web.AppKey("authenticator", Authenticator)


def authenticator_ctx(pepper: bytes, dsn: str
                      ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        auth = Authenticator(app[PoolKey], pepper)
        app[AuthenticatorKey] = auth
        instance = GatewayInstance(auth, dsn)
        async with alongside(auth.flush_periodically(), instance.run()):
            # Until registered every request looks its key up: correct, only slower.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(instance.registered.wait(), REGISTER_TIMEOUT)
            yield
        await instance.deregister(app[PoolKey])
        await auth.flush()

    return ctx
