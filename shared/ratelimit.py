"""Sliding-window rate limits: exact counts over the last `window` seconds.

Two policies behind one interface: `MemoryRateLimiter` for a single process and
`RedisRateLimiter` for several replicas sharing one count (atomic via a Lua
script, timed by the Redis server's clock). When Redis is unreachable the
limiter fails open or closed, as configured.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from .errors import DomainError
from .settings import Settings


@dataclass(frozen=True)
class Quota:
    name: str
    limit: int
    window: float = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the oldest counted request leaves the window

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_after))


class LimiterUnavailable(DomainError):
    status, code = 503, "rate_limiter_unavailable"


class RateLimiter(Protocol):
    async def hit(self, key: str, quota: Quota) -> Decision: ...

    async def close(self) -> None: ...


def limit_headers(quota: Quota, decision: Decision) -> dict[str, str]:
    """IETF RateLimit-Policy / RateLimit fields, plus Retry-After when refused."""
    reset = max(0, math.ceil(decision.reset_after))
    headers = {
        "RateLimit-Policy": f'"{quota.name}";q={quota.limit};w={int(quota.window)}',
        "RateLimit": f'"{quota.name}";r={decision.remaining};t={reset}',
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


class MemoryRateLimiter:
    """One process's view: a log of hit times per key."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, quota: Quota) -> Decision:
        now = time.monotonic()
        log = self._hits.get(key)
        if log is None:
            self._evict_if_full(now, quota.window)
            log = self._hits[key] = deque()
        while log and log[0] <= now - quota.window:
            log.popleft()
        if len(log) >= quota.limit:
            return Decision(False, quota.limit, 0, log[0] + quota.window - now)
        log.append(now)
        return Decision(True, quota.limit, quota.limit - len(log), log[0] + quota.window - now)

    def _evict_if_full(self, now: float, window: float) -> None:
        if len(self._hits) < self._max_keys:
            return
        stale = [k for k, log in self._hits.items() if not log or log[-1] <= now - window]
        for key in stale:
            del self._hits[key]

    async def close(self) -> None:
        self._hits.clear()


# KEYS[1] = the key; ARGV = limit, window in ms, a unique member.
_SLIDING_LOG = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {1, limit - count - 1, tonumber(first[2]) + window - now}
"""


class RedisRateLimiter:
    """Replicas share one exact count per key in Redis."""

    def __init__(self, url: str, *, fail_open: bool = False, prefix: str = "resonanz:rl:",
                 timeout: float = 0.5) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=2 * timeout, socket_timeout=timeout,
            socket_connect_timeout=2 * timeout,
        )
        self._redis = Redis(connection_pool=pool)
        self._script = self._redis.register_script(_SLIDING_LOG)
        self._fail_open, self._prefix = fail_open, prefix

    async def hit(self, key: str, quota: Quota) -> Decision:
        from redis.exceptions import RedisError

        try:
            allowed, remaining, reset_ms = await self._script(
                keys=[self._prefix + key],
                args=[quota.limit, int(quota.window * 1000), uuid.uuid4().hex],
            )
        except (RedisError, OSError) as exc:
            if self._fail_open:
                return Decision(True, quota.limit, quota.limit, quota.window)
            raise LimiterUnavailable("rate limiter unavailable, retry shortly") from exc
        return Decision(bool(allowed), quota.limit, int(remaining), int(reset_ms) / 1000)

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)


def create_limiter(backend: str, redis_url: str, fail_open: bool) -> RateLimiter:
    if backend == "redis":
        return RedisRateLimiter(redis_url, fail_open=fail_open)
    return MemoryRateLimiter()


LimiterKey = web.AppKey("limiter", RateLimiter)


def limiter_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx owning the app's limiter, as the settings choose it."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[LimiterKey] = create_limiter(settings.rate_limit_backend, settings.redis_url,
                                         settings.rate_limit_fail_open)
        yield
        await app[LimiterKey].close()

    return ctx
