"""Scheduled resume: paused widgets come back at their `resume_at`.

The schedule lives in PostgreSQL, so it survives restarts. Each replica sleeps
until the nearest resume time (woken early by NOTIFY when a pause sets a new
one, polling as the fallback) and then claims due rows with SKIP LOCKED, so
every widget is resumed exactly once however many replicas run.
"""

from __future__ import annotations

import logging

import asyncpg

from resonanz.shared.db import TRANSIENT_DB_ERRORS, PoolKey
from resonanz.shared.settings import Settings
from resonanz.shared.web import CleanupCtx
from resonanz.shared.worker import Waker, alongside, background_ctx, listen

from . import store
from .commands import resume_due_widgets

log = logging.getLogger(__name__)

# A hair past the due time, so the claim's now() is never a microsecond early.
LATE_BY = 0.002


class ResumeScheduler:
    def __init__(self, pool: asyncpg.Pool, dsn: str, topic: str, *,
                 poll_interval: float = 5.0) -> None:
        self.pool, self.dsn, self.topic = pool, dsn, topic
        self.poll_interval = poll_interval
        self.waker = Waker()

    def stop(self) -> None:
        self.waker.stop()

    async def run(self) -> None:
        async with alongside(listen(self.dsn, store.SCHEDULE_CHANNEL, self.waker.wake,
                                    "resume scheduler")):
            while not self.waker.stopping:
                await self.waker.sleep(await self._round())

    async def _round(self) -> float:
        """Resume what is due; return how long to sleep until the next resume time."""
        try:
            while await resume_due_widgets(self.pool, self.topic):
                pass
            until_next = await store.seconds_to_next_resume(self.pool)
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("resume scheduler waiting for the database: %r", exc)
            return 1.0
        except asyncpg.PostgresError:
            # Keep the schedule alive: the next round retries whatever failed.
            log.exception("resume scheduler round failed")
            return 1.0
        if until_next is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.0, until_next) + LATE_BY)


def scheduler_ctx(service: str, settings: Settings) -> CleanupCtx:
    """cleanup_ctx running the resume scheduler beside the HTTP server."""
    return background_ctx(lambda app: [ResumeScheduler(
        app[PoolKey], settings.service_dsn(service), settings.topic_widgets)])
