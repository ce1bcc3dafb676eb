"""Helpers for tests that wait on asynchronous effects: poll with a deadline, never sleep blind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
