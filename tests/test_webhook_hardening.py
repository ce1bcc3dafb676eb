"""Hardening of the webhook dispatcher, each test named for the attack it stops: ids parsed
at the edge (a NUL byte is a 404, never a 500), subscription URLs refused at creation when
their host is loopback or private by name or in a non-canonical IPv4 spelling, signing
secrets sealed at rest (and sealed later when an older release left them in plaintext),
key rotation with `reencrypt`, and dead letters that stay structured-mode CloudEvents.

Real processes, real PostgreSQL and a real broker; the stack here has no allow-list, so
every loopback and private destination is forbidden, as in production.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from yarl import URL

from resonanz.devstack.supervisor import Stack
from resonanz.shared.consumer import ConsumerLoop, Handlers
from resonanz.shared.crypto import KeyRing
from resonanz.shared.events import (
    STRUCTURED_CONTENT_TYPE,
    CloudEvent,
    EntrySnapshot,
    EventData,
    FeedbackCreated,
    new_event,
)
from resonanz.shared.kafka import ensure_topics
from resonanz.shared.settings import Settings
from resonanz.webhook_dispatcher import commands
from resonanz.webhook_dispatcher.consumers import fan_out
from resonanz.webhook_dispatcher.delivery import DeliveryWorker, guarded_session, post_webhook
from resonanz.webhook_dispatcher.destinations import destination_problem, system_lookup
from resonanz.webhook_dispatcher.domain import NetworkPolicy, Outcome, generate_secret, url_problem
from resonanz.webhook_dispatcher.sealing import CURRENT, PREVIOUS, SecretBox

from .conftest import Infra, running_stack
from .helpers import bearer, new_tenant
from .support import places_holding, topic_records
from .test_ssrf import claim_for
from .test_webhooks_support import FakeClock, Receiver, dispatcher_pool, receiving

CLOSED = NetworkPolicy()
LOOPBACK_ALLOWED = NetworkPolicy.from_setting("127.0.0.0/8")


@pytest.fixture(scope="module")
async def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    """The platform without any webhook allow-list."""
    async with running_stack(infra, tmp_path_factory.mktemp("hardening")) as running:
        assert "RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS" not in running.env()
        yield running


class Client:
    """An admin key of a new tenant against the gateway; paths are sent as written, so
    a `%00` reaches the gateway as a percent-escape."""

    def __init__(self, http: aiohttp.ClientSession, stack: Stack, key: str) -> None:
        self.http, self.key = http, key
        self.base = stack.services["gateway"].url

    async def call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        url = URL(self.base + path, encoded=True)
        async with self.http.request(method, url, json=json,
                                     headers=bearer(self.key)) as response:
            return response.status, await response.json(content_type=None)

    async def subscribe(self, url: str, **extra: Any) -> tuple[int, Any]:
        return await self.call("POST", "/api/v1/webhooks",
                               {"url": url, "events": ["feedback_created"], **extra})


@pytest.fixture(scope="module")
async def admin_key(stack: Stack) -> str:
    """One tenant for the module: making one costs several CLI runs."""
    _, key = await new_tenant(stack)
    return key


@pytest.fixture
async def client(stack: Stack, admin_key: str) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(http, stack, admin_key)


async def a_subscription(client: Client) -> str:
    status, body = await client.subscribe("https://93.184.216.34/hook")
    assert status == 201, body
    return str(body["data"]["id"])


# --- ids parsed at the edge ------------------------------------------------------------------


async def test_a_nul_byte_in_a_delivery_id_is_a_404_not_a_500(client: Client) -> None:
    sub = await a_subscription(client)
    for method, path in [
        ("GET", f"/api/v1/webhooks/{sub}/deliveries/%00/attempts"),
        ("POST", f"/v1/webhooks/{sub}/deliveries/%00/resend"),
        ("GET", f"/v1/webhooks/{sub}/deliveries/msg_%00/attempts"),
        ("POST", f"/api/v1/webhooks/{sub}/deliveries/msg_{'0' * 31}%00/resend"),
    ]:
        status, body = await client.call(method, path)
        assert status == 404, (method, path, body)


async def test_a_nul_byte_in_a_subscription_or_event_id_is_a_404(client: Client) -> None:
    for method, path in [
        ("GET", "/api/v1/webhooks/%00"), ("DELETE", "/v1/webhooks/%00"),
        ("POST", "/api/v1/webhooks/%00/rotate-secret"), ("POST", "/v1/webhooks/%00/enable"),
        ("GET", "/api/v1/webhooks/%00/deliveries"),
        ("GET", "/api/v1/webhooks/%00/deliveries/%00/attempts"),
        ("GET", "/api/v1/webhooks/events/%00/deliveries"),
    ]:
        status, body = await client.call(method, path)
        assert status == 404, (method, path, body)
    status, body = await client.call("POST", "/v1/webhooks/%00/recover",
                                     {"since": "2024-01-01T00:00:00Z"})
    assert status == 404, body


async def test_over_long_and_malformed_delivery_ids_are_404s(client: Client) -> None:
    sub = await a_subscription(client)
    for delivery in (f"msg_{'a' * 4000}", f"msg_{'a' * 33}", f"msg_{'g' * 32}",
                     f"{'a' * 32}", f"msg_{'a' * 32}%0A", "msg_%E2%80%8B"):
        for method, path in [("GET", f"/api/v1/webhooks/{sub}/deliveries/{delivery}/attempts"),
                             ("POST", f"/v1/webhooks/{sub}/deliveries/{delivery}/resend")]:
            status, body = await client.call(method, path)
            assert status == 404, (method, path, body)
    # A well-formed id of no delivery of this subscription: the same answer.
    status, _ = await client.call("GET", f"/v1/webhooks/{sub}/deliveries/msg_{'a' * 32}"
                                         "/attempts")
    assert status == 404


async def test_delivery_log_filters_with_nul_bytes_are_400s_naming_the_filter(
    client: Client,
) -> None:
    sub = await a_subscription(client)
    for query, field in (("event_id=%00", "event_id"), ("status=%00", "status"),
                         ("limit=%00", "limit"), (f"event_id={'1' * 5000}", "event_id")):
        status, body = await client.call("GET", f"/api/v1/webhooks/{sub}/deliveries?{query}")
        assert status == 400, (query, body)
        assert body["details"][0]["field"] == field
    status, body = await client.call("GET", f"/api/v1/webhooks/{sub}/deliveries?junk=%00")
    # Only the log's own filters are passed on, and this one has no deliveries.
    assert (status, body["data"]) == (200, [])


async def test_nul_bytes_and_over_long_strings_in_a_subscription_are_400s(
    client: Client,
) -> None:
    for extra in ({"url": "https://93.184.216.34/ho\u0000ok"},
                  {"description": "bad\u0000"},
                  {"events": ["feedback_created\u0000"]},
                  {"secret": "whsec_" + "\u0000" * 20},
                  {"url": "https://93.184.216.34/" + "a" * 3000},
                  {"description": "d" * 501}):
        status, body = await client.call("POST", "/v1/webhooks", {
            "url": "https://93.184.216.34/hook", "events": ["feedback_created"], **extra})
        assert status == 400, (extra, body)


async def test_an_id_in_another_spelling_is_answered_in_its_canonical_form(
    client: Client,
) -> None:
    sub = await a_subscription(client)
    status, body = await client.call("GET", f"/api/v1/webhooks/{sub.upper()}")
    assert (status, body["data"]["id"]) == (200, sub)
    status, body = await client.call("DELETE", f"/api/v1/webhooks/{sub.upper()}")
    assert (status, body["data"]["id"]) == (200, sub)


# --- SSRF refused at creation --------------------------------------------------------------


async def refused_at_creation(client: Client, url: str, reason: str) -> None:
    status, body = await client.subscribe(url)
    assert status == 400, body
    [detail] = body["details"]
    assert detail["field"] == "url" and reason in detail["message"], detail
    # The message itself says why (a client reads `error`, not only `details`).
    assert body["error"].startswith("url ") and reason in body["error"], body
    status, listed = await client.call("GET", "/api/v1/webhooks")
    assert url not in [s["url"] for s in listed["data"]], "nothing was created"


async def test_subscription_to_localhost_by_name_is_refused(client: Client) -> None:
    await refused_at_creation(client, "http://localhost:8083/subscriptions", "loopback")


async def test_subscription_to_localhost_with_a_trailing_dot_or_capitals_is_refused(
    client: Client,
) -> None:
    await refused_at_creation(client, "http://LocalHost./hook", "loopback")


def _names_in_etc_hosts_pointing_inside() -> list[str]:
    """Names /etc/hosts gives a loopback or private address (the machine's own name
    usually), localhost aside: it has its own test."""
    try:
        lines = Path("/etc/hosts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    names: set[str] = set()
    for line in lines:
        address, *aliases = line.split("#", 1)[0].split() or [""]
        if url_problem(f"http://[{address}]/" if ":" in address else f"http://{address}/",
                       CLOSED) is not None:
            names.update(a for a in aliases if not a.lower().startswith("localhost"))
    return sorted(names)


@pytest.mark.parametrize("name", _names_in_etc_hosts_pointing_inside())
async def test_subscription_to_a_name_from_etc_hosts_pointing_inside_is_refused(
    client: Client, name: str,
) -> None:
    await refused_at_creation(client, f"https://{name}/hook", "resolves to a forbidden address")


async def test_decimal_ipv4_loopback_is_refused_at_creation(client: Client) -> None:
    await refused_at_creation(client, "http://2130706433:8083/", "non-canonical")


async def test_hex_ipv4_loopback_is_refused_at_creation(client: Client) -> None:
    await refused_at_creation(client, "http://0x7f000001/", "non-canonical")


async def test_shortened_ipv4_loopback_is_refused_at_creation(client: Client) -> None:
    await refused_at_creation(client, "http://127.1/", "non-canonical")


async def test_octal_ipv4_loopback_is_refused_at_creation(client: Client) -> None:
    await refused_at_creation(client, "http://0177.0.0.1/", "non-canonical")


async def test_ipv4_mapped_ipv6_loopback_is_refused_at_creation(client: Client) -> None:
    await refused_at_creation(client, "http://[::ffff:127.0.0.1]/", "loopback")


async def test_a_name_that_does_not_resolve_is_accepted_and_left_to_dial_time(
    client: Client,
) -> None:
    status, body = await client.subscribe("https://hooks.my-shop.invalid/resonanz")
    assert status == 201, body


@pytest.mark.parametrize("host", [
    "2130706433", "0x7f000001", "0X7F000001", "127.1", "127.0.1", "0177.0.0.1", "127.0.0.01",
    "0x7f.0.0.1", "017700000001", "127.0.0.1.", "10.1", "0xa9fea9fe", "2852039166",
    "1.2.3.4.5", "shop.example.0x1",
])
def test_non_canonical_ipv4_is_refused_even_where_the_allow_list_opens_loopback(
    host: str,
) -> None:
    problem = url_problem(f"http://{host}/hook", LOOPBACK_ALLOWED)
    assert problem is not None and "non-canonical" in problem


@pytest.mark.parametrize("url", [
    "https://93.184.216.34/hook", "https://hooks.example.com/in", "https://hooks.example.com./in",
    "https://1password.example/x", "https://shop.example.com2/x", "https://[2606:4700::1111]/",
])
def test_canonical_addresses_and_names_are_not_mistaken_for_ipv4(url: str) -> None:
    assert url_problem(url, CLOSED) is None


def answering(*addresses: str) -> Any:
    async def lookup(host: str) -> list[str]:
        return list(addresses)
    return lookup


async def test_a_name_with_one_private_answer_among_public_ones_is_refused() -> None:
    problem = await destination_problem("https://hooks.example.com/in", CLOSED,
                                        answering("93.184.216.34", "10.0.0.7"))
    assert problem is not None and "private" in problem
    assert await destination_problem("https://hooks.example.com/in", CLOSED,
                                     answering("93.184.216.34")) is None


async def test_a_name_rebound_to_mapped_loopback_is_refused_at_creation() -> None:
    problem = await destination_problem("https://hooks.example.com/in", CLOSED,
                                        answering("::ffff:127.0.0.1"))
    assert problem is not None and "loopback" in problem


async def test_a_dns_that_does_not_answer_in_time_does_not_hold_creation_up() -> None:
    async def hanging(host: str) -> list[str]:
        await asyncio.sleep(3600)
        return []

    problem = await asyncio.wait_for(destination_problem(
        "https://hooks.example.com/in", CLOSED, hanging, resolve_seconds=0.2), timeout=10)
    assert problem is None


async def test_a_name_that_does_not_exist_is_accepted() -> None:
    async def nxdomain(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert await destination_problem("https://typo.example.com/in", CLOSED, nxdomain) is None


async def test_a_host_name_no_resolver_can_encode_is_refused() -> None:
    problem = await destination_problem(f"https://{'a' * 64}.example.com/in", CLOSED,
                                        system_lookup)
    assert problem is not None and "not a valid host name" in problem


async def test_an_allow_listed_host_is_not_looked_up() -> None:
    async def must_not_be_called(host: str) -> list[str]:
        raise AssertionError(f"looked up {host}")

    policy = NetworkPolicy.from_setting("receivers.internal")
    assert await destination_problem("http://receivers.internal/hook", policy,
                                     must_not_be_called) is None


async def test_a_name_allowed_by_its_network_passes_at_creation() -> None:
    assert await destination_problem("http://localhost/hook", LOOPBACK_ALLOWED,
                                     answering("127.0.0.1")) is None


async def test_decimal_ipv4_loopback_is_blocked_at_dial_time_too() -> None:
    target = Receiver()
    async with receiving(target), guarded_session(LOOPBACK_ALLOWED, 3.0) as session:
        for host in ("2130706433", "0x7f000001", "127.1"):
            claim = claim_for(f"http://{host}:{target.port}/hook")
            result = await post_webhook(session, LOOPBACK_ALLOWED, claim, datetime.now(UTC))
            assert result.outcome is Outcome.BLOCKED, (host, result)
    assert target.received == []


# --- signing secrets at rest -------------------------------------------------------------------

def key_part(secret: str) -> str:
    """What identifies a `whsec_` secret, with or without its prefix."""
    return secret.removeprefix("whsec_")


async def test_signing_secrets_are_stored_nowhere_in_plaintext_after_creation_and_rotation(
    stack: Stack, client: Client,
) -> None:
    chosen = generate_secret()
    marker = f"marker-{uuid.uuid4().hex}"
    status, given = await client.subscribe("https://93.184.216.34/a", secret=chosen,
                                           description=marker)
    assert status == 201 and given["data"]["secret"] == chosen
    status, generated = await client.subscribe("https://93.184.216.34/b")
    assert status == 201
    sub = generated["data"]["id"]
    status, rotated = await client.call("POST", f"/api/v1/webhooks/{sub}/rotate-secret")
    assert status == 200 and rotated["data"]["previous_secret_valid_until"]

    # The scan finds what is stored in plaintext: the description is.
    assert await places_holding(stack.database_url, marker) == [
        "webhooks.subscriptions.description"]
    for secret in (chosen, generated["data"]["secret"], rotated["data"]["secret"]):
        assert await places_holding(stack.database_url, key_part(secret)) == [], secret

    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, secret, secret_sealed, previous_secret, previous_secret_sealed,"
            " previous_secrets_sealed FROM webhooks.subscriptions WHERE id = ANY($1::uuid[])"
            " ORDER BY created_at",
            [given["data"]["id"], sub])
    finally:
        await conn.close()
    assert [(r["secret"], r["previous_secret"]) for r in rows] == [(None, None)] * 2
    assert rows[0]["secret_sealed"].startswith("v1:") and rows[0]["previous_secret_sealed"] is None
    assert rows[1]["previous_secrets_sealed"].startswith("v1:")


TENANT = uuid.uuid4()


def a_box() -> SecretBox:
    return SecretBox(KeyRing([os.urandom(32)]))


async def legacy_subscription(pool: asyncpg.Pool, url: str, secret: str,
                              previous: str | None = None) -> uuid.UUID:
    """A row as the release before sealing wrote it."""
    sub = uuid.uuid4()
    await pool.execute(
        "INSERT INTO subscriptions (id, tenant_id, url, events, secret, previous_secret,"
        " previous_until) VALUES ($1, $2, $3, '{feedback_created}', $4, $5, $6)",
        sub, TENANT, url, secret, previous,
        datetime.now(UTC) + timedelta(hours=1) if previous else None)
    return sub


async def emit(pool: asyncpg.Pool) -> str:
    now = datetime.now(UTC)
    entry = EntrySnapshot(id=str(uuid.uuid4()), version=1, widget_id=None, status="new",
                          rating=5, category=None, assignee=None, created_at=now,
                          updated_at=now)
    event = new_event(source="tests", tenant_id=str(TENANT),
                      subject=entry.id, data=FeedbackCreated(entry=entry, body="Top"))
    async with pool.acquire() as conn, conn.transaction():
        await fan_out(conn, event, event.payload())
    return event.id


def worker(pool: asyncpg.Pool, session: aiohttp.ClientSession, box: SecretBox,
           clock: FakeClock) -> DeliveryWorker:
    return DeliveryWorker(pool, session, LOOPBACK_ALLOWED, box, topic_webhooks="webhooks.events",
                          lease=timedelta(seconds=30), clock=clock, unit_random=lambda: 0.5)


async def one_round(dispatcher: DeliveryWorker) -> int:
    started = await dispatcher.dispatch_due()
    await dispatcher.drain()
    return started


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with dispatcher_pool(database_url) as migrated:
        yield migrated


async def test_plaintext_secrets_left_by_an_older_release_are_sealed_and_still_sign(
    pool: asyncpg.Pool,
) -> None:
    box, receiver = a_box(), Receiver()
    current, previous = generate_secret(), generate_secret()
    receiver.secrets += [current, previous]
    async with receiving(receiver), guarded_session(LOOPBACK_ALLOWED, 3.0) as session:
        sub = await legacy_subscription(pool, receiver.url, current, previous)
        dispatcher = worker(pool, session, box, FakeClock())
        await emit(pool)
        assert await one_round(dispatcher) == 1, "a plaintext row signs before it is sealed"

        assert await commands.seal_plaintext(pool, box) == 1
        assert await commands.seal_plaintext(pool, box) == 0, "idempotent"
        row = await pool.fetchrow("SELECT * FROM subscriptions WHERE id = $1", sub)
        assert (row["secret"], row["previous_secret"]) == (None, None)
        assert box.open(CURRENT, sub, row["secret_sealed"]) == current
        assert box.open(PREVIOUS, sub, row["previous_secret_sealed"]) == previous

        await emit(pool)
        assert await one_round(dispatcher) == 1
    assert [r.verified_with for r in receiver.received] == [[current, previous]] * 2


async def test_a_sealed_secret_copied_to_another_subscription_does_not_open_there(
    pool: asyncpg.Pool,
) -> None:
    box, receiver, clock = a_box(), Receiver(), FakeClock()
    async with receiving(receiver), guarded_session(LOOPBACK_ALLOWED, 3.0) as session:
        victim = await commands.create_subscription(pool, box, TENANT, "https://93.184.216.34/v",
                                                 ["widget_created"], None, generate_secret())
        mine = await commands.create_subscription(pool, box, TENANT, receiver.url,
                                               ["feedback_created"], None, generate_secret())
        await pool.execute(
            "UPDATE subscriptions SET secret_sealed = (SELECT secret_sealed FROM subscriptions"
            " WHERE id = $1) WHERE id = $2", uuid.UUID(victim.id), uuid.UUID(mine.id))
        event_id = await emit(pool)
        dispatcher = worker(pool, session, box, clock)
        assert await one_round(dispatcher) == 0, "held, not sent"
        clock.advance(timedelta(seconds=31))
        assert await one_round(dispatcher) == 0, "still held after its lease ran out"
    assert receiver.received == []
    row = await pool.fetchrow("SELECT status, attempts FROM deliveries WHERE event_id = $1",
                              uuid.UUID(event_id))
    assert (row["status"], row["attempts"]) == ("pending", 0), "no retry spent on our fault"


async def test_deliveries_wait_for_a_missing_key_and_go_out_once_it_is_back(
    pool: asyncpg.Pool,
) -> None:
    box, receiver, clock = a_box(), Receiver(), FakeClock()
    secret = generate_secret()
    receiver.secrets.append(secret)
    async with receiving(receiver), guarded_session(LOOPBACK_ALLOWED, 3.0) as session:
        await commands.create_subscription(pool, box, TENANT, receiver.url, ["feedback_created"],
                                        None, secret)
        await emit(pool)
        assert await one_round(worker(pool, session, a_box(), clock)) == 0
        clock.advance(timedelta(seconds=31))
        assert await one_round(worker(pool, session, box, clock)) == 1
    assert [r.verified_with for r in receiver.received] == [[secret]]


async def test_a_secret_whose_key_was_lost_is_rotated_without_an_overlap(
    pool: asyncpg.Pool,
) -> None:
    lost, box, receiver = a_box(), a_box(), Receiver()
    async with receiving(receiver), guarded_session(LOOPBACK_ALLOWED, 3.0) as session:
        sub = await commands.create_subscription(pool, lost, TENANT, receiver.url,
                                              ["feedback_created"], None, generate_secret())
        fresh = generate_secret()
        receiver.secrets.append(fresh)
        rotated = await commands.rotate_secret(pool, box, TENANT, uuid.UUID(sub.id), fresh,
                                            datetime.now(UTC))
        assert rotated.previous_until is None
        await emit(pool)
        assert await one_round(worker(pool, session, box, FakeClock())) == 1
    [got] = receiver.received
    assert got.verified_with == [fresh]
    assert len(got.headers["webhook-signature"].split()) == 1, "signed with one secret only"


def reencrypt(database_url: str, keys: list[bytes], cwd: Path) -> tuple[int, Any]:
    """`python -m resonanz.webhook_dispatcher reencrypt`, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESONANZ_")}
    env.update({
        "RESONANZ_ENV": "development", "RESONANZ_DATABASE_URL": database_url,
        "RESONANZ_ENCRYPTION_KEYS": ",".join(
            base64.urlsafe_b64encode(k).decode() for k in keys),
    })
    done = subprocess.run([sys.executable, "-m", "resonanz.webhook_dispatcher", "reencrypt"],
                          env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


async def test_reencrypt_rewrites_every_secret_under_the_new_first_key(
    database_url: str, pool: asyncpg.Pool, tmp_path: Path,
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    with_old = SecretBox(KeyRing([old]))
    current, previous, legacy = generate_secret(), generate_secret(), generate_secret()
    sealed = await commands.create_subscription(pool, with_old, TENANT, "https://93.184.216.34/",
                                             ["feedback_created"], None, previous)
    await commands.rotate_secret(pool, with_old, TENANT, uuid.UUID(sealed.id), current,
                              datetime.now(UTC))
    plain = await legacy_subscription(pool, "https://93.184.216.34/", legacy)

    code, report = await asyncio.to_thread(reencrypt, database_url, [new, old], tmp_path)
    assert (code, report) == (0, {"subscriptions": 2, "rewritten": 2, "undecryptable": []})
    code, report = await asyncio.to_thread(reencrypt, database_url, [new, old], tmp_path)
    assert (code, report["rewritten"]) == (0, 0), "a second run has nothing left to do"

    only_new = SecretBox(KeyRing([new]))
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM subscriptions")}
    one, two = rows[uuid.UUID(sealed.id)], rows[plain]
    assert only_new.open(CURRENT, one["id"], one["secret_sealed"]) == current
    assert [secret for secret, _ in only_new.retired(one, one["id"])] == [previous]
    assert only_new.open(CURRENT, two["id"], two["secret_sealed"]) == legacy
    assert two["secret"] is None

    code, report = await asyncio.to_thread(reencrypt, database_url, [os.urandom(32)],
                                           tmp_path)
    assert code == 1 and sorted(report["undecryptable"]) == sorted(map(str, rows))


# --- dead letters ------------------------------------------------------------------------------


async def test_a_dead_letter_is_still_a_structured_mode_cloudevent(
    infra: Infra, pool: asyncpg.Pool,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, dead = f"hardening-{suffix}", f"hardening-dead-{suffix}"
    await ensure_topics(infra.bootstrap_servers, [topic, dead])

    async def poison(conn: asyncpg.Connection, event: CloudEvent, data: EventData) -> None:
        raise ValueError("poison")

    loop = ConsumerLoop(pool, Settings(kafka_bootstrap_servers=infra.bootstrap_servers,
                                       topic_dead_letter=dead),
                        group=f"g-{suffix}", topics=[topic],
                        handlers=Handlers().on(FeedbackCreated, poison), max_retries=0)
    event = new_event(source="tests", tenant_id=str(TENANT),
                      subject=str(uuid.uuid4()), data=FeedbackCreated(
                          entry=EntrySnapshot(id=str(uuid.uuid4()), version=1, widget_id=None,
                                              status="new", rating=1, category=None,
                                              assignee=None, created_at=datetime.now(UTC),
                                              updated_at=datetime.now(UTC)), body="x"))
    task = asyncio.create_task(loop.run())
    try:
        producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                topic, event.to_bytes(), key=event.subject.encode(),
                headers=[("content-type", STRUCTURED_CONTENT_TYPE.encode())])
        finally:
            await producer.stop()
        record = (await topic_records(infra.bootstrap_servers, dead, 1))[0]
    finally:
        loop.stop()
        await task
    headers = dict(record.headers)
    assert headers["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
    assert headers["dlq_topic"] == topic.encode() and b"poison" in headers["dlq_reason"]
    message = ce_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value)
    read = ce_kafka.from_kafka(message, JSONFormat())
    assert (read.get_id(), read.get_type()) == (event.id, "feedback.created")
