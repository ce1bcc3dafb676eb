"""Shared pieces for the webhook and email tests: real local receivers that verify every
delivery with `standardwebhooks`, a clock the test advances, the dispatcher's database,
a stack with the test's own environment, and publishing events straight to a topic."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from resonanz.devstack.supervisor import Stack
from resonanz.shared.db import create_pool, migrate
from resonanz.shared.events import CloudEvent, EventData, new_event
from resonanz.shared.settings import Settings

from .conftest import Infra, running_stack

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def answer_ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="thanks")


@dataclass
class Received:
    webhook_id: str
    body: bytes
    headers: dict[str, str]
    at: float  # time.time() on arrival
    verified_with: list[str]

    @property
    def payload(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP receiver on a loopback address that checks every signature."""

    respond: Respond = answer_ok
    host: str = "127.0.0.1"
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        self.received.append(Received(headers.get("webhook-id", ""), body, headers,
                                      time.time(), self._verify(body, headers)))
        return await self.respond(request)

    def _verify(self, body: bytes, headers: dict[str, str]) -> list[str]:
        ok = []
        for secret in self.secrets:
            with contextlib.suppress(WebhookVerificationError):
                Webhook(secret).verify(body, headers)
                ok.append(secret)
        return ok


@contextlib.asynccontextmanager
async def receiving(*receivers: Receiver) -> AsyncIterator[None]:
    for receiver in receivers:
        await receiver.start()
    try:
        yield
    finally:
        for receiver in receivers:
            await receiver.stop()


class FakeClock:
    """The dispatcher's clock, moved by the test. It starts a minute ahead, so whatever the
    test queues in real time meanwhile is already due."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@contextlib.asynccontextmanager
async def dispatcher_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The dispatcher's schema, migrated, reached through its own role."""
    await migrate(database_url, "webhook_dispatcher")
    dsn = Settings(database_url=database_url).service_dsn("webhook_dispatcher")
    pool = await create_pool(dsn, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def webhook_stack(infra: Infra, run_dir: Path, **settings: str) -> AsyncIterator[Stack]:
    """All five services on a fresh database and topics, with extra `RESONANZ_*` settings
    (`webhook_timeout="2"` → `RESONANZ_WEBHOOK_TIMEOUT=2`)."""
    env = {f"RESONANZ_{k.upper()}": v for k, v in settings.items()}
    async with running_stack(infra, run_dir, env) as stack:
        yield stack


def topic(stack: Stack, name: str) -> str:
    """The stack's own topic for `name` (feedback, widgets, identity, webhooks)."""
    return stack.extra_env[f"RESONANZ_TOPIC_{name.upper()}"]


@contextlib.asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    sender = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


async def publish(sender: AIOKafkaProducer, topic: str, tenant_id: str, subject: str,
                  data: EventData) -> CloudEvent:
    event = new_event(data, source="tests", tenant_id=tenant_id, subject=subject)
    await sender.send_and_wait(topic, event.to_bytes(), key=subject.encode())
    return event
