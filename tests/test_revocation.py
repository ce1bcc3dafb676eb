"""Revocation is exact: once a revoke has returned, no gateway accepts the key.

Two gateways on one database, both holding the key in their caches; the revoke returns;
a request goes to each gateway at that moment. Failed authentications are limited per
client address, so the requests after a revoke come from addresses of their own
(127.0.x.y): a 429 there would hide whether the key was refused.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest

from resonanz.devstack.supervisor import ServiceProcess, Stack, free_port
from resonanz.gateway import commands, key_changes, store
from resonanz.shared.db import create_pool
from resonanz.shared.settings import Settings

from .conftest import Infra, running_stack
from .helpers import GENEROUS, admin, bearer, metric_value
from .support import eventually

IDENTITY_TOPIC = Settings.model_fields["topic_identity"].default

ROUNDS = 200
ADDRESSES_PER_TEST = 20  # 200 rounds: 10 refusals per address and gateway (limit 30/min)
LOOKUPS = "resonanz_gateway_key_lookups_total"
_address_blocks = itertools.count(1)


@dataclass
class Platform:
    stack: Stack
    gateways: list[ServiceProcess]
    pool: asyncpg.Pool  # the gateway's role, as the operator CLI connects
    http: aiohttp.ClientSession

    @property
    def urls(self) -> list[str]:
        return [g.url for g in self.gateways]

    @property
    def pepper(self) -> bytes:
        return self.stack.env()["RESONANZ_API_KEY_PEPPER"].encode()


@dataclass(frozen=True)
class Shop:
    tenant: str
    owner_key: str


@dataclass(frozen=True)
class Holder:
    user_id: str
    key_id: str
    key: str


@pytest.fixture(scope="module")
async def platform(infra: Infra, tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[Platform]:
    async with running_stack(infra, tmp_path_factory.mktemp("revocation")) as stack:
        first = stack.services["gateway"]
        second = ServiceProcess("gateway", free_port(), stack.run_dir / "gateway-2.log",
                                env={**first.env})
        second.start()
        dsn = Settings(database_url=stack.database_url).service_dsn("gateway")
        try:
            await eventually(lambda: asyncio.to_thread(second.ready), bool, within=30,
                             interval=0.1, what="second gateway ready")
            async with aiohttp.ClientSession() as http:
                pool = await create_pool(dsn, min_size=1, max_size=4)
                try:
                    yield Platform(stack, [first, second], pool, http)
                finally:
                    await pool.close()
        finally:
            second.stop()


@pytest.fixture(scope="module")
async def shop(platform: Platform) -> Shop:
    """A tenant without rate limits in the way, made in process (the CLI is slow)."""
    async with platform.pool.acquire() as conn, conn.transaction():
        tenant = await store.create_tenant(conn, "Revocation", "owner@revocation.example", {})
        _, owner_key = await store.insert_key(conn, platform.pepper, tenant["id"], "admin",
                                              "owner", tenant["owner_id"])
    for quota in ("feedbackpro.reads", "feedbackpro.writes", "feedbackpro.users",
                  "pay4feedback.api"):
        await store.set_rate_limit(platform.pool, tenant["id"], quota, GENEROUS)
    return Shop(tenant["id"], owner_key)


@pytest.fixture
async def clients() -> AsyncIterator[list[aiohttp.ClientSession]]:
    """Sessions sending from addresses no other test uses."""
    block = next(_address_blocks)
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        local_addr=(f"127.0.{block}.{host}", 0))) for host in range(1, ADDRESSES_PER_TEST + 1)]
    yield sessions
    for session in sessions:
        await session.close()


async def members_with_keys(platform: Platform, shop: Shop, count: int,
                            role: str = "editor") -> list[Holder]:
    """Team members with a key each, written in one transaction."""
    holders = []
    async with platform.pool.acquire() as conn, conn.transaction():
        for _ in range(count):
            user_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, tenant_id, email, role, status, email_verified)"
                " VALUES ($1, $2, $3, $4, 'active', true)",
                user_id, uuid.UUID(shop.tenant), f"{user_id.hex[:12]}@shop.example", role)
            key, plaintext = await store.insert_key(conn, platform.pepper, shop.tenant, role,
                                                    user_id=str(user_id))
            holders.append(Holder(str(user_id), key["id"], plaintext))
    return holders


async def status_of(http: aiohttp.ClientSession, url: str, key: str,
                    method: str = "GET", path: str = "/api/v1/me") -> int:
    async with http.request(method, url + path, headers={"X-API-Key": key}) as response:
        await response.read()
        return response.status


async def warm(platform: Platform, key: str) -> None:
    """Both gateways hold the key in their caches now (looked up moments ago)."""
    for url in platform.urls:
        assert await status_of(platform.http, url, key) == 200


async def at_each_gateway(platform: Platform, client: aiohttp.ClientSession, key: str,
                          method: str = "GET", path: str = "/api/v1/me") -> list[int]:
    return list(await asyncio.gather(*(status_of(client, url, key, method, path)
                                       for url in platform.urls)))


# --- the guarantee ---------------------------------------------------------------------


Revoke = Callable[[Platform, Shop, Holder, int], Awaitable[None]]


async def remove_the_member(platform: Platform, shop: Shop, holder: Holder,
                            round_no: int) -> None:
    url = platform.urls[round_no % 2]  # either gateway takes the removal
    async with platform.http.delete(f"{url}/v1/users/{holder.user_id}",
                                    headers={**bearer(shop.owner_key), "X-Confirm": "true"}
                                    ) as response:
        assert response.status == 200, await response.text()


async def revoke_as_the_operator(platform: Platform, shop: Shop, holder: Holder,
                                 round_no: int) -> None:
    """What `admin revoke-key` runs, in process: 200 subprocesses would take minutes."""
    await commands.revoke_key(platform.pool, IDENTITY_TOPIC, holder.key_id)


@pytest.mark.parametrize("revoke", [remove_the_member, revoke_as_the_operator])
async def test_no_gateway_accepts_a_key_the_moment_its_revocation_returned(
    platform: Platform, shop: Shop, clients: list[aiohttp.ClientSession], revoke: Revoke,
) -> None:
    holders = await members_with_keys(platform, shop, ROUNDS)
    answers: list[list[int]] = []
    for round_no, holder in enumerate(holders):
        await warm(platform, holder.key)
        await revoke(platform, shop, holder, round_no)
        answers.append(await at_each_gateway(platform, clients[round_no % len(clients)],
                                             holder.key))
    accepted = [(n, a) for n, a in enumerate(answers) if 200 in a]
    print(f"{revoke.__name__}: {len(accepted)} of {ROUNDS} rounds accepted the key")
    assert accepted == []
    assert all(a == [401, 401] for a in answers), answers


async def test_a_key_revoked_with_the_cli_fails_at_every_gateway_at_once(
    platform: Platform, shop: Shop, clients: list[aiohttp.ClientSession],
) -> None:
    for round_no, holder in enumerate(await members_with_keys(platform, shop, 1)):
        await warm(platform, holder.key)
        await admin(platform.stack, "revoke-key", "--id", holder.key_id)
        assert await at_each_gateway(platform, clients[round_no], holder.key) == [401, 401]


async def test_a_role_change_with_the_cli_holds_at_every_gateway_at_once(
    platform: Platform, shop: Shop, clients: list[aiohttp.ClientSession],
) -> None:
    entry = f"/v1/feedback/{uuid.uuid4()}"  # an editor gets 404 here, a viewer 403
    for round_no, holder in enumerate(await members_with_keys(platform, shop, 1)):
        await warm(platform, holder.key)
        client = clients[round_no]
        assert await at_each_gateway(platform, client, holder.key, "DELETE", entry) == [404] * 2
        await admin(platform.stack, "set-key-role", "--id", holder.key_id, "--role", "viewer")
        assert await at_each_gateway(platform, client, holder.key, "DELETE", entry) == [403] * 2


async def test_a_rate_limit_change_holds_at_every_gateway_at_once(
    platform: Platform, clients: list[aiohttp.ClientSession],
) -> None:
    """What `admin set-rate-limit` runs, in process: the CLI's start-up alone would outlast
    the gateways' one-second key cache and hide a change that was never announced."""
    async with platform.pool.acquire() as conn, conn.transaction():
        tenant = await store.create_tenant(conn, "Limits", "owner@limits.example", {})
        _, key = await store.insert_key(conn, platform.pepper, tenant["id"], "admin",
                                        "owner", tenant["owner_id"])
    await warm(platform, key)  # one request at each gateway, cached, under the default 60
    await commands.set_rate_limit(platform.pool, str(tenant["id"]), "pay4feedback.api", 1)
    assert await at_each_gateway(platform, clients[0], key) == [429, 429]
    await commands.set_rate_limit(platform.pool, str(tenant["id"]), "pay4feedback.api", None)
    assert await at_each_gateway(platform, clients[0], key) == [200, 200]


async def test_a_plain_sql_revocation_holds_within_the_cache_lifetime(
    platform: Platform, shop: Shop, clients: list[aiohttp.ClientSession],
) -> None:
    (holder,) = await members_with_keys(platform, shop, 1)
    await warm(platform, holder.key)
    conn = await asyncpg.connect(platform.stack.database_url)
    try:
        await conn.execute("UPDATE gateway.api_keys SET revoked_at = now() WHERE id = $1",
                           uuid.UUID(holder.key_id))
    finally:
        await conn.close()
    committed = time.monotonic()  # nobody waits for plain SQL: only the bound holds
    accepted_late = []
    while (sent := time.monotonic()) < committed + key_changes.CACHE_SECONDS + 0.5:
        answers = await at_each_gateway(platform, clients[0], holder.key)
        if 200 in answers and sent >= committed + key_changes.CACHE_SECONDS:
            accepted_late.append(sent - committed)
        if answers == [401, 401]:
            break
    assert answers == [401, 401] and accepted_late == []


# --- gateways that do not answer ---------------------------------------------------------


@pytest.fixture
async def superuser(platform: Platform) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(platform.stack.database_url)
    yield conn
    await conn.close()


async def revoke_and_settle(platform: Platform, holder: Holder) -> tuple[bool, float]:
    """Whether every live gateway confirmed (else the cache lifetime ran out), and when."""
    await store.revoke_key(platform.pool, holder.key_id)
    started = time.monotonic()
    confirmed = await key_changes.settle(platform.pool)
    return confirmed, time.monotonic() - started


async def test_a_gateway_that_never_confirms_holds_a_revoke_back_for_the_cache_lifetime_only(
    platform: Platform, shop: Shop, superuser: asyncpg.Connection,
) -> None:
    silent = uuid.uuid4()  # registered, heartbeating, deaf
    await superuser.execute("INSERT INTO gateway.gateway_instances (id, seen_generation)"
                            " VALUES ($1, 0)", silent)
    try:
        (holder,) = await members_with_keys(platform, shop, 1)
        confirmed, waited = await revoke_and_settle(platform, holder)
    finally:
        await superuser.execute("DELETE FROM gateway.gateway_instances WHERE id = $1", silent)
    assert not confirmed
    assert key_changes.CACHE_SECONDS <= waited < key_changes.CACHE_SECONDS + 1


async def test_a_stale_gateway_is_not_waited_for_and_is_pruned(
    platform: Platform, shop: Shop, superuser: asyncpg.Connection,
) -> None:
    gone = uuid.uuid4()  # died without deregistering a minute ago
    await superuser.execute(
        "INSERT INTO gateway.gateway_instances (id, seen_generation, heartbeat_at)"
        " VALUES ($1, 0, now() - interval '1 minute')", gone)
    (holder,) = await members_with_keys(platform, shop, 1)
    confirmed, _ = await revoke_and_settle(platform, holder)
    assert confirmed

    async def rows() -> set[uuid.UUID]:
        return {r["id"] for r in await superuser.fetch("SELECT id FROM gateway.gateway_instances")}
    await eventually(rows, lambda ids: gone not in ids and len(ids) == 2,
                     within=3 * key_changes.HEARTBEAT_INTERVAL, what="stale row pruned")


async def test_a_gateway_that_cannot_heartbeat_stops_answering_from_its_cache(
    platform: Platform, shop: Shop, superuser: asyncpg.Connection,
    clients: list[aiohttp.ClientSession],
) -> None:
    """Its row goes stale, so revokes stop waiting for it: from then on it must look every
    key up. Here its registration connection is cut and cannot come back while its pool
    still works (the role's connection limit), the way a full server would do it."""
    holders = await members_with_keys(platform, shop, 2)
    await superuser.execute("ALTER ROLE resonanz_gateway CONNECTION LIMIT 0")
    try:
        await superuser.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = 'resonanz_gateway' AND (query LIKE '%INTO gateway_instances%'"
            " OR query LIKE '%UPDATE gateway_instances%')")
        await eventually(lambda: superuser.fetchval(
            "SELECT count(*) FROM gateway.gateway_instances"
            " WHERE heartbeat_at >= now() - make_interval(secs => $1)",
            key_changes.STALE_AFTER), lambda live: live == 0,
            within=3 * key_changes.STALE_AFTER, what="both registrations stale")
        await assert_uncached(platform, holders[0].key)
        await warm(platform, holders[1].key)
        # waits for no one:
        await commands.revoke_key(platform.pool, IDENTITY_TOPIC, holders[1].key_id)
        assert await at_each_gateway(platform, clients[0], holders[1].key) == [401, 401]
    finally:
        await superuser.execute("ALTER ROLE resonanz_gateway CONNECTION LIMIT -1")
    await eventually(lambda: superuser.fetchval(
        "SELECT count(*) FROM gateway.gateway_instances WHERE heartbeat_at > now() - "
        "make_interval(secs => $1)", key_changes.HEARTBEAT_INTERVAL),
        lambda live: live == 2, within=3 * key_changes.STALE_AFTER, what="re-registered")
    await assert_cached(platform, holders[0].key)


async def lookups(platform: Platform) -> list[float]:
    return [await metric_value(platform.http, g.ops_url, LOOKUPS) for g in platform.gateways]


async def assert_uncached(platform: Platform, key: str) -> None:
    before = await lookups(platform)
    for _ in range(3):
        await warm(platform, key)
    assert [a - b for a, b in zip(await lookups(platform), before, strict=True)] == [3, 3]


async def assert_cached(platform: Platform, key: str) -> None:
    """Soon after registering anew, a key looked up a moment ago is not looked up again."""
    async def lookups_of_a_second_request() -> list[float]:
        await warm(platform, key)
        before = await lookups(platform)
        await warm(platform, key)
        return [a - b for a, b in zip(await lookups(platform), before, strict=True)]
    await eventually(lookups_of_a_second_request, lambda fresh: fresh == [0, 0], within=5,
                     what="answers from the cache again")
