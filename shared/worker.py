"""What every background loop needs: a wake-up call, a stop, and LISTEN that survives
database restarts. Used by the outbox relay, the payout and delivery workers, the
mail worker and the resume scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from .db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)

RECONNECT_DELAY = 2.0


class Waker:
    """A loop sleeps until woken (NOTIFY, an in-process nudge), its timer runs out, or
    it is asked to stop."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, seconds))
        self._wake.clear()


async def listen(dsn: str, channel: str, on_notify: Callable[[], None], what: str) -> None:
    """LISTEN on `channel` until cancelled, reconnecting whenever the database comes
    back; every (re)connect also calls `on_notify`, so work queued while nobody was
    listening is picked up at once."""
    while True:
        try:
            conn = await asyncpg.connect(dsn)
        except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError) as exc:
            log.info("%s listener waiting for the database: %r", what, exc)
            await asyncio.sleep(RECONNECT_DELAY)
            continue
        closed = asyncio.Event()
        try:
            conn.add_termination_listener(lambda *_, done=closed: done.set())
            await conn.add_listener(channel, lambda *_: on_notify())
            on_notify()
            await closed.wait()
        finally:
            with contextlib.suppress(*TRANSIENT_DB_ERRORS, asyncpg.PostgresError):
                await conn.close()


async def repeat(work: Callable[[], Awaitable[int]], waker: Waker, *, batch: int,
                 poll_interval: float, what: str) -> None:
    """Call `work` (it returns how many items it handled) until stopped: again at once
    while batches come back full, else after a wake-up or `poll_interval`. Database
    outages are waited out, never fatal."""
    while not waker.stopping:
        try:
            handled = await work()
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("%s waiting for the database: %r", what, exc)
            handled = 0
        if handled < batch:
            await waker.sleep(poll_interval)
