"""Rate limits: exact sliding windows, in memory and shared through a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from resonanz.shared.ratelimit import (
    LimiterUnavailable,
    MemoryRateLimiter,
    Quota,
    RedisRateLimiter,
    limit_headers,
)


async def test_memory_limiter_refuses_the_61st_request_in_a_minute() -> None:
    limiter = MemoryRateLimiter()
    quota = Quota("reads", 60)
    decisions = [await limiter.hit("tenant-a", quota) for _ in range(61)]
    assert all(d.allowed for d in decisions[:60])
    assert not decisions[60].allowed
    assert 59 <= decisions[60].retry_after <= 60
    assert decisions[59].remaining == 0


async def test_memory_limiter_counts_keys_separately() -> None:
    limiter = MemoryRateLimiter()
    quota = Quota("writes", 1)
    assert (await limiter.hit("a", quota)).allowed
    assert (await limiter.hit("b", quota)).allowed
    assert not (await limiter.hit("a", quota)).allowed


async def test_window_slides_so_capacity_returns_after_the_window() -> None:
    limiter = MemoryRateLimiter()
    quota = Quota("tiny", 2, window=0.2)
    assert (await limiter.hit("k", quota)).allowed
    assert (await limiter.hit("k", quota)).allowed
    refused = await limiter.hit("k", quota)
    assert not refused.allowed
    await asyncio.sleep(refused.reset_after + 0.01)  # waiting out the window is the behaviour
    assert (await limiter.hit("k", quota)).allowed


def test_headers_follow_the_ietf_ratelimit_fields() -> None:
    from resonanz.shared.ratelimit import Decision

    headers = limit_headers(Quota("reads", 60), Decision(False, 60, 0, 11.2))
    assert headers["RateLimit-Policy"] == '"reads";q=60;w=60'
    assert headers["RateLimit"] == '"reads";r=0;t=12'
    assert headers["Retry-After"] == "12"


@pytest.fixture
async def redis_limiters(redis: str) -> AsyncIterator[list[RedisRateLimiter]]:
    limiters = [RedisRateLimiter(f"{redis}/15") for _ in range(2)]
    yield limiters
    for limiter in limiters:
        await limiter.close()


async def test_two_redis_limiters_share_one_exact_count(
    redis_limiters: list[RedisRateLimiter],
) -> None:
    key, quota = f"t-{uuid.uuid4().hex}", Quota("reads", 60)
    results = await asyncio.gather(
        *(redis_limiters[i % 2].hit(key, quota) for i in range(200))
    )
    assert sum(d.allowed for d in results) == 60
    refused = next(d for d in results if not d.allowed)
    assert 1 <= refused.retry_after <= 60


async def test_unreachable_redis_fails_closed_by_default() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(LimiterUnavailable):
            await limiter.hit("k", Quota("reads", 60))
    finally:
        await limiter.close()


async def test_unreachable_redis_can_be_configured_to_fail_open() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", fail_open=True)
    try:
        assert (await limiter.hit("k", Quota("reads", 60))).allowed
    finally:
        await limiter.close()
