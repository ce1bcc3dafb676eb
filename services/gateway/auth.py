"""Who is calling: API key authentication without a write per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web
from prometheus_client import Counter

from resonanz.shared.db import PoolKey
from resonanz.shared.errors import Forbidden, Unauthenticated

from . import keys, store

log = logging.getLogger(__name__)

KEY_LOOKUPS = Counter("resonanz_gateway_key_lookups_total",
                      "API keys looked up in the database (well-formed keys only)")
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
    """Checks every request against the database, so revocation is immediate.

    Key use is remembered in memory and flushed in batches: `last_used_at` stays
    current without one write per request.
    """

    def __init__(self, pool: asyncpg.Pool, pepper: bytes) -> None:
        self.pool, self.pepper = pool, pepper
        self._used: dict[str, datetime] = {}

    async def authenticate(self, request: web.Request) -> Principal:
        key = presented_key(request)
        if key is None:
            raise Unauthenticated("API key missing: send Authorization: Bearer <key>"
                                  " or X-API-Key")
        if not keys.is_well_formed(key):
            raise Unauthenticated("API key is malformed")
        KEY_LOOKUPS.inc()
        record = await store.find_key(self.pool, keys.digest(key, self.pepper))
        now = datetime.now(UTC)
        if record is None or not self._usable(record, now):
            raise Unauthenticated("API key is invalid, expired or revoked")
        self._used[record.id] = now
        return Principal(record.tenant_id, record.id, record.role, record.user_id,
                         record.rate_limits)

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


def authenticator_ctx(pepper: bytes) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        auth = Authenticator(app[PoolKey], pepper)
        app[AuthenticatorKey] = auth
        task = asyncio.create_task(auth.flush_periodically())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await auth.flush()

    return ctx
