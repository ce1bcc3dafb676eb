"""What every background loop needs: a wake-up call, a stop, LISTEN that survives
database restarts, and one way to run it beside the HTTP server. Used by the outbox
relay, the consumers, the payout and delivery workers, the mail worker, the resume
scheduler and the housekeeping loops.

A worker is an object with `run()` (returns once stopped) and `stop()`; `background_ctx`
starts the workers of a service with the app and stops and awaits them on shutdown;
`Repeating` turns a batch function into such a worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

import asyncpg
from aiohttp import web

from .db import TRANSIENT_DB_ERRORS
from .web import CleanupCtx

log = logging.getLogger(__name__)

RECONNECT_DELAY = 2.0


class Waker:
    """A loop sleeps until woken (NOTIFY, an in-process nudge), its timer runs out, or
    it is asked to stop; once stopped, it no longer sleeps at all. The one stop mechanism
    of every loop."""

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

    def forget(self) -> None:
        """Wake-ups so far are handled: the next sleep waits for a new one."""
        if not self.stopping:
            self._wake.clear()

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, seconds))
        if not self.stopping:
            self._wake.clear()


async def listen(dsn: str, channel: str, on_notify: Callable[[], None], what: str,
                 wanted: Callable[[str], bool] | None = None) -> None:
    """LISTEN on `channel` until cancelled, reconnecting whenever the database comes
    back; every (re)connect also calls `on_notify`, so work queued while nobody was
    listening is picked up at once. `wanted`: which notifications count, by payload
    (all, without it)."""
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
            def notified(_conn: object, _pid: int, _channel: str, payload: str) -> None:
                if wanted is None or wanted(payload):
                    on_notify()

            await conn.add_listener(channel, notified)
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


class Worker(Protocol):
    """A background loop: `run` until `stop` is called, then return."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Repeating:
    """`repeat` as a worker: `work` (returning how many items it handled) again and again
    until stopped; `wake` runs it at once."""

    def __init__(self, work: Callable[[], Awaitable[int]], *, batch: int,
                 poll_interval: float, what: str) -> None:
        self.work, self.batch, self.poll_interval, self.what = work, batch, poll_interval, what
        self.waker = Waker()

    def wake(self) -> None:
        self.waker.wake()

    def stop(self) -> None:
        self.waker.stop()

    async def run(self) -> None:
        await repeat(self.work, self.waker, batch=self.batch,
                     poll_interval=self.poll_interval, what=self.what)


@contextlib.asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    """The workers run while the body does; then each is stopped (the current batch
    finishes) and awaited."""
    tasks = [asyncio.create_task(worker.run(), name=f"{type(worker).__name__}-{n}")
             for n, worker in enumerate(workers)]
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*tasks)


@contextlib.asynccontextmanager
async def alongside(*loops: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Loops that end only when cancelled (listeners, reporters) run while the body does,
    and are cancelled after it."""
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def background_ctx(start: Callable[[web.Application], Iterable[Worker]]) -> CleanupCtx:
    """cleanup_ctx running the workers `start` builds (from the app, once the contexts
    before this one have started) beside the HTTP server; on shutdown they are stopped
    and awaited."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with running(*start(app)):
            yield

    return ctx
