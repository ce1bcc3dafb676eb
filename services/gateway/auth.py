"""Who is calling: API key authentication without a write per request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web
from prometheus_client import Counter

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import Forbidden, Unauthenticated
from resonanz.shared.worker import listen

from . import keys, store

log = logging.getLogger(__name__)

KEY_LOOKUPS = Counter("resonanz_gateway_key_lookups_total",
                      "API keys looked up in the database (well-formed keys only)")
KEY_CHANGES_CHANNEL = "resonanz_gateway_keys"  # see migration 0004
CACHE_SECONDS = 1.0
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

    @property
    def actor_id(self) -> str:
        return self.user_id or f"key:{self.key_id}"

    def require_write(self) -> None:
        if self.role == "viewer":
            raise Forbidden("viewer keys cannot change anything",
                            details=[{"field": "role", "message": "viewer"}])

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden("only admins may do this",
                            details=[{"field": "role", "message": self.role}])


def presented_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


class Authenticator:
    """Checks every request's key against a record at most a second old, and no older
    than the last change to any key: a trigger NOTIFYs every gateway of each revocation,
    rotation, role or rate-limit change at commit, and the listener empties the cache,
    so revocation holds from the next request while most requests skip the lookup.

    Key use is remembered in memory and flushed in batches: `last_used_at` stays
    current without one write per request.
    """

    def __init__(self, pool: asyncpg.Pool, pepper: bytes,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.pool, self.pepper, self.cache_seconds = pool, pepper, cache_seconds
        self._used: dict[str, datetime] = {}
        self._cache: dict[bytes, tuple[float, store.KeyRecord]] = {}
        self._generation = 0

    def forget_keys(self) -> None:
        """A key changed somewhere (or the listener reconnected): look every key up again."""
        self._generation += 1
        self._cache.clear()

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
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
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


AuthenticatorKey = web.AppKey("authenticator", Authenticator)


def authenticator_ctx(pepper: bytes, dsn: str
                      ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        auth = Authenticator(app[PoolKey], pepper)
        app[AuthenticatorKey] = auth
        tasks = [asyncio.create_task(auth.flush_periodically()),
                 asyncio.create_task(listen(dsn, KEY_CHANGES_CHANNEL, auth.forget_keys,
                                            "api key changes"))]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await auth.flush()

    return ctx
