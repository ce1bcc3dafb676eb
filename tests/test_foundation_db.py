"""Migrations, schema ownership, the outbox relay and the consumer loop, on real
PostgreSQL and a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from resonanz.devstack.supervisor import SERVICES
from resonanz.shared import consumer as consumer_module
from resonanz.shared import outbox as outbox_module
from resonanz.shared.consumer import ConsumerLoop, Handlers, forget_processed
from resonanz.shared.db import create_pool, migrate, migration_files
from resonanz.shared.events import (
    CloudEvent,
    EventData,
    FeedbackDeleted,
    UserRemoved,
    new_event,
)
from resonanz.shared.kafka import ensure_topics
from resonanz.shared.outbox import PUBLISHED_CHANNEL, OutboxRelay, enqueue
from resonanz.shared.settings import Settings

from .conftest import Infra
from .support import eventually, plan_of, scans, topic_records


async def test_every_migration_applies_from_empty_and_again_changes_nothing(
    database_url: str,
) -> None:
    for service in SERVICES:
        applied = await migrate(database_url, service)
        assert applied == [version for version, _ in migration_files(service)]
        assert await migrate(database_url, service) == []


async def test_a_service_role_cannot_read_or_write_another_services_schema(
    database_url: str,
) -> None:
    for service in SERVICES:
        await migrate(database_url, service)
    conn = await asyncpg.connect(Settings(database_url=database_url).service_dsn("feedback"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM entries") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM widgets.widgets")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM gateway.api_keys")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.sneaky (id int)")
    finally:
        await conn.close()


@pytest.fixture
async def analytics_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database_url, "analytics")
    pool = await create_pool(Settings(database_url=database_url).service_dsn("analytics"))
    yield pool
    await pool.close()


def removal_event(tenant: str) -> CloudEvent:
    user = str(uuid.uuid4())
    return new_event(source="test", tenant_id=tenant, subject=user,
                     data=UserRemoved(user_id=user, owner_id=None))


async def test_an_event_enqueued_in_a_rolled_back_transaction_never_exists(
    analytics_pool: asyncpg.Pool,
) -> None:
    async with analytics_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await enqueue(conn, removal_event(str(uuid.uuid4())), "t")
        await tx.rollback()
    assert await analytics_pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_published_rows_past_the_retention_are_purged_through_the_index(
    analytics_pool: asyncpg.Pool,
) -> None:
    """The relay's purge, once a second, reads the published_at index from its old end: on
    a table autoanalyze has not seen yet it was planned as a scan of every row (45 ms a
    second at 47,000 rows in the bench) that found none old enough."""
    await analytics_pool.execute(
        "INSERT INTO outbox (event_id, topic, key, payload, published_at)"
        " SELECT gen_random_uuid(), 't', 'k', '\\x00', now() - make_interval(secs => g)"
        " FROM generate_series(1, 20000) g")
    await analytics_pool.execute(
        "UPDATE outbox SET published_at = now() - interval '2 days' WHERE id <= 3")
    await analytics_pool.execute(
        "INSERT INTO outbox (event_id, topic, key, payload) VALUES (gen_random_uuid(), 't',"
        " 'k', '\\x00')")  # unpublished: kept, however old
    async with analytics_pool.acquire() as conn:
        explaining = conn.transaction()
        await explaining.start()
        plan = plan_of(await conn.fetchval(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + outbox_module.PURGE_SQL, 1000))
        await explaining.rollback()  # EXPLAIN ANALYZE deletes too
    assert "Seq Scan" not in {node["Node Type"] for node in scans(plan, "outbox")}
    assert plan["Shared Hit Blocks"] + plan["Shared Read Blocks"] < 100
    await analytics_pool.execute(outbox_module.PURGE_SQL, outbox_module.PURGE_BATCH)
    assert await analytics_pool.fetchval("SELECT count(*) FROM outbox") == 20000 - 3 + 1
    assert await analytics_pool.fetchval("SELECT min(id) FROM outbox") == 4


async def test_two_relay_replicas_publish_every_row_exactly_once(
    infra: Infra, database_url: str, analytics_pool: asyncpg.Pool,
) -> None:
    topic = f"relay-test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.bootstrap_servers, [topic])
    events = [removal_event(str(uuid.uuid4())) for _ in range(600)]
    async with analytics_pool.acquire() as conn, conn.transaction():
        for event in events:
            await enqueue(conn, event, topic)
    dsn = Settings(database_url=database_url).service_dsn("analytics")
    relays = [OutboxRelay(analytics_pool, dsn, infra.bootstrap_servers, "analytics",
                          batch_size=50) for _ in range(2)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        published = [r.value for r in await topic_records(infra.bootstrap_servers, topic,
                                                              len(events))]
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
    ids = [CloudEvent.from_bytes(raw).id for raw in published]
    assert sorted(ids) == sorted(e.id for e in events)
    assert await analytics_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_relay_keeps_rows_while_the_broker_is_unreachable(
    database_url: str, analytics_pool: asyncpg.Pool,
) -> None:
    async with analytics_pool.acquire() as conn, conn.transaction():
        await enqueue(conn, removal_event(str(uuid.uuid4())), "nowhere")
    dsn = Settings(database_url=database_url).service_dsn("analytics")
    relay = OutboxRelay(analytics_pool, dsn, "127.0.0.1:1", "analytics")
    with pytest.raises(KafkaConnectionError):
        await relay.publish_batch()
    assert await analytics_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1


# --- consumer loop ---------------------------------------------------------------------


class Recorder:
    """A handler that writes its effect in the consumer's transaction."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.fail_on = fail_on or set()
        self.calls: dict[str, int] = {}

    async def __call__(self, conn: asyncpg.Connection, event: CloudEvent,
                       data: EventData) -> None:
        self.calls[event.subject] = self.calls.get(event.subject, 0) + 1
        if event.subject in self.fail_on:
            raise ValueError("poison")
        await conn.execute("INSERT INTO entry_state (entry_id, tenant_id, version, snapshot)"
                           " VALUES ($1, $2, 1, '{}')", event.subject, event.tenantid)


async def publish(bootstrap: str, topic: str, events: list[CloudEvent],
                  key: str | None = None) -> None:
    """Keyed by subject, or all by `key` (one partition, in this order)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, event.to_bytes(),
                                         key=(key or event.subject).encode())
    finally:
        await producer.stop()


def deleted(tenant: str) -> CloudEvent:
    from datetime import UTC, datetime

    from resonanz.shared.events import EntrySnapshot

    now = datetime.now(UTC)
    entry_id = str(uuid.uuid4())
    snap = EntrySnapshot(id=entry_id, version=1, widget_id=None, status="new", rating=None,
                         category=None, assignee=None, created_at=now, updated_at=now)
    return new_event(source="test", tenant_id=tenant, subject=entry_id,
                     data=FeedbackDeleted(entry=snap))


async def test_consumer_applies_each_event_once_and_dead_letters_poison(
    infra: Infra, analytics_pool: asyncpg.Pool,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, dead = f"consumer-test-{suffix}", f"dead-{suffix}"
    await ensure_topics(infra.bootstrap_servers, [topic, dead])
    tenant = str(uuid.uuid4())
    good, poison = deleted(tenant), deleted(tenant)
    handler = Recorder(fail_on={poison.subject})
    settings = Settings(kafka_bootstrap_servers=infra.bootstrap_servers,
                        topic_dead_letter=dead)
    loop = ConsumerLoop(analytics_pool, settings, group=f"g-{suffix}", topics=[topic],
                        handlers=Handlers().on(FeedbackDeleted, handler), max_retries=2)
    task = asyncio.create_task(loop.run())
    marker = deleted(tenant)
    try:
        # The duplicate, then a marker behind it in its partition: once the marker is
        # applied, the duplicate has been consumed too.
        await publish(infra.bootstrap_servers, topic, [good, good, marker], key=good.subject)
        await eventually(lambda: asyncio.sleep(0, handler.calls.get(marker.subject, 0)),
                         lambda n: n == 1, within=30, what="the marker applied")
        await publish(infra.bootstrap_servers, topic, [poison])
        dead_lettered = [r.value for r in await topic_records(infra.bootstrap_servers, dead, 1)]
    finally:
        loop.stop()
        await task
    assert handler.calls[good.subject] == 1  # the duplicate never reached the handler
    assert [CloudEvent.from_bytes(raw).id for raw in dead_lettered] == [poison.id]
    # Replayed alone after failing its batch, the poison event gets 1 + 2 retries there
    # (and maybe one try inside a batch before that).
    assert handler.calls[poison.subject] in (3, 4)
    rows = await analytics_pool.fetch("SELECT entry_id FROM entry_state")
    assert sorted(str(r["entry_id"]) for r in rows) == sorted([good.subject, marker.subject])
    assert await analytics_pool.fetchval("SELECT count(*) FROM processed_events") == 2


class JudgingLoop(ConsumerLoop):
    """A consumer loop that records how it judged each ring of the doorbell, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.judged: list[tuple[str, bool]] = []

    def rung_for(self, topics: str) -> bool:
        verdict = super().rung_for(topics)
        self.judged.append((topics, verdict))
        return verdict


@dataclass
class Resting:
    """A consumer of a topic of its own, woken only by the relays' doorbell (its fallback
    set out of reach), running and paused."""

    loop: JudgingLoop
    handler: Recorder
    topic: str

    async def ring(self, topics: str) -> None:
        await self.loop.pool.execute("SELECT pg_notify($1, $2)", PUBLISHED_CHANNEL, topics)


@contextlib.asynccontextmanager
async def resting_consumer(infra: Infra, pool: asyncpg.Pool, database_url: str,
                           monkeypatch: pytest.MonkeyPatch, handler: Recorder | None = None
                           ) -> AsyncIterator[Resting]:
    monkeypatch.setattr(consumer_module, "DOORBELL_FALLBACK", 600.0)
    topic = f"doorbell-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.bootstrap_servers, [topic])
    handler = handler or Recorder()
    dsn = Settings(database_url=database_url).service_dsn("analytics")
    loop = JudgingLoop(pool, Settings(kafka_bootstrap_servers=infra.bootstrap_servers),
                       group=f"g-{topic}", topics=[topic],
                       handlers=Handlers().on(FeedbackDeleted, handler), dsn=dsn)
    task = asyncio.create_task(loop.run())
    try:
        await eventually(resting(loop), bool, within=30, what="the idle consumer paused")
        yield Resting(loop, handler, topic)
    finally:
        loop.stop()
        await task


def handled(handler: Recorder, event: CloudEvent) -> Callable[[], Awaitable[int | None]]:
    async def calls() -> int | None:
        return handler.calls.get(event.subject)
    return calls


def resting(loop: ConsumerLoop) -> Callable[[], Awaitable[bool]]:
    async def paused() -> bool:
        consumer = loop._consumer
        return (consumer is not None and bool(consumer.assignment())
                and consumer.paused() == consumer.assignment())
    return paused


async def test_an_idle_consumer_stops_fetching_until_a_relay_rings_the_doorbell(
    infra: Infra, analytics_pool: asyncpg.Pool, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle, a consumer pauses its partitions (no fetches: the broker rests) and is woken by
    the relays' NOTIFY; the fallback is set out of reach here, so only the NOTIFY can."""
    tenant = str(uuid.uuid4())
    dsn = Settings(database_url=database_url).service_dsn("analytics")
    async with resting_consumer(infra, analytics_pool, database_url, monkeypatch) as c:
        first, second = deleted(tenant), deleted(tenant)
        await publish(infra.bootstrap_servers, c.topic, [first])
        await asyncio.sleep(3)
        assert c.handler.calls.get(first.subject) is None, "an idle consumer kept fetching"
        await c.ring("")
        await eventually(handled(c.handler, first), lambda n: n == 1, within=10,
                         what="the event after the doorbell")
        # Idle again: an event through the outbox relay rings the bell itself.
        await eventually(resting(c.loop), bool, within=30, what="paused again")
        relay = OutboxRelay(analytics_pool, dsn, infra.bootstrap_servers, "analytics")
        relaying = asyncio.create_task(relay.run())
        try:
            async with analytics_pool.acquire() as conn, conn.transaction():
                await enqueue(conn, second, c.topic)
            await eventually(handled(c.handler, second), lambda n: n == 1, within=30,
                             what="the relayed event")
        finally:
            relay.stop()
            await relaying


async def test_a_consumer_is_woken_only_by_rounds_for_its_topics(
    infra: Infra, analytics_pool: asyncpg.Pool, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The doorbell names the round's topics: a consumer rests through rounds for others
    (the feedback service's consumer through every entry written) and wakes for its own."""
    event = deleted(str(uuid.uuid4()))
    async with resting_consumer(infra, analytics_pool, database_url, monkeypatch) as c:
        await publish(infra.bootstrap_servers, c.topic, [event])
        others = f"{c.topic}-other widgets.events"
        await c.ring(others)

        async def judged() -> list[bool]:  # other tests' stacks may ring too
            return [verdict for topics, verdict in c.loop.judged if topics == others]

        assert await eventually(judged, bool, within=10, what="the ring judged") == [False]
        assert await resting(c.loop)(), "woken by another topic's round"
        assert c.handler.calls.get(event.subject) is None, "woken by another topic's round"
        await c.ring(f"identity.events {c.topic}")
        await eventually(handled(c.handler, event), lambda n: n == 1, within=10,
                         what="the event after its round")


async def test_a_busy_consumer_commits_its_offsets_together_and_all_once_it_rests(
    infra: Infra, analytics_pool: asyncpg.Pool, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit is a broker request: one per batch was one per event at a moderate rate.
    Within COMMIT_INTERVAL the batches' offsets wait; a fetch that finds nothing commits
    them all (so do stopping and a rebalance)."""
    monkeypatch.setattr(consumer_module, "COMMIT_INTERVAL", 600.0)
    commits: list[dict[TopicPartition, int]] = []
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        commits.append(dict(offsets))
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    events = [deleted(str(uuid.uuid4())) for _ in range(4)]
    async with resting_consumer(infra, analytics_pool, database_url, monkeypatch) as c:
        for event in events:  # a batch each: one rings after the last is handled
            await publish(infra.bootstrap_servers, c.topic, [event], key="one")
            await c.ring(c.topic)
            await eventually(handled(c.handler, event), lambda n: n == 1, within=10,
                             what="the event handled")
        assert commits == [], "a commit per batch"
        # Nothing new: the fetch finds nothing, and everything handled is committed at once.
        await c.ring(c.topic)
        await eventually(lambda: asyncio.sleep(0, commits), bool, within=10,
                         what="the offsets committed")
    assert len(commits) == 1
    [(partition, offset)] = commits[0].items()
    reader = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap_servers, group_id=c.loop.group)
    await reader.start()
    try:
        assert await reader.committed(partition) == offset == len(events)
    finally:
        await reader.stop()


class Holding(Recorder):
    """Holds the event of `subject` in its handler until released."""

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject, self.holding, self.release = subject, asyncio.Event(), asyncio.Event()

    async def __call__(self, conn: asyncpg.Connection, event: CloudEvent,
                       data: EventData) -> None:
        if event.subject == self.subject:
            self.holding.set()
            await self.release.wait()
        await super().__call__(conn, event, data)


def committed(pool: asyncpg.Pool, event: CloudEvent) -> Callable[[], Awaitable[bool]]:
    async def written() -> bool:
        return bool(await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM entry_state WHERE entry_id = $1)", event.subject))
    return written


async def test_a_small_batchs_tenants_are_committed_apart(
    infra: Infra, analytics_pool: asyncpg.Pool, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two tenants' events fetched together, the first one slow to handle (an entry fanned
    out to many endpoints): the other tenant's event is committed meanwhile, not after it."""
    slow, quick = deleted(str(uuid.uuid4())), deleted(str(uuid.uuid4()))
    handler = Holding(slow.subject)
    async with resting_consumer(infra, analytics_pool, database_url, monkeypatch,
                                handler) as consumer:
        await publish(infra.bootstrap_servers, consumer.topic, [slow, quick], key="one")
        await consumer.ring(consumer.topic)
        try:
            async with asyncio.timeout(30):
                await handler.holding.wait()
            await eventually(committed(analytics_pool, quick), bool, within=10,
                             what="the other tenant's event committed while the slow one runs")
            assert not await committed(analytics_pool, slow)()
        finally:
            handler.release.set()
        await eventually(committed(analytics_pool, slow), bool, within=10,
                         what="the slow one committed once its handler is done")


async def test_another_tenants_later_events_are_applied_while_a_slow_one_runs(
    infra: Infra, analytics_pool: asyncpg.Pool, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tenant's slow event does not hold up the fetches after it: another tenant's event
    published later is applied and committed meanwhile, while the slow tenant's next event
    waits for its first (each tenant's events in order), and the offsets are committed only
    once both are done."""
    tenant = str(uuid.uuid4())
    slow, same_tenant_later = deleted(tenant), deleted(tenant)
    other = deleted(str(uuid.uuid4()))
    handler = Holding(slow.subject)
    async with resting_consumer(infra, analytics_pool, database_url, monkeypatch,
                                handler) as consumer:
        await publish(infra.bootstrap_servers, consumer.topic, [slow], key="one")
        await consumer.ring(consumer.topic)
        try:
            async with asyncio.timeout(30):
                await handler.holding.wait()
            await publish(infra.bootstrap_servers, consumer.topic, [other], key="one")
            await consumer.ring(consumer.topic)
            await eventually(committed(analytics_pool, other), bool, within=10,
                             what="the other tenant's later event committed meanwhile")
            await publish(infra.bootstrap_servers, consumer.topic, [same_tenant_later],
                          key="one")
            await consumer.ring(consumer.topic)
            kafka = consumer.loop._consumer
            assert kafka is not None

            async def fetched() -> int:
                assert kafka is not None
                return sum([await kafka.position(tp) for tp in kafka.assignment()])

            await eventually(fetched, lambda n: n == 3, within=10, what="all three fetched")
            assert not await committed(analytics_pool, same_tenant_later)(), \
                "a tenant's events are applied in order"
            assert [await kafka.committed(tp) for tp in kafka.assignment()] == [None] * len(
                kafka.assignment()), "nothing committed while the first batch is applied"
        finally:
            handler.release.set()
        await eventually(committed(analytics_pool, same_tenant_later), bool, within=10,
                         what="the slow tenant's next event, after its first")


async def test_tracking_rows_are_forgotten_after_the_retention_only_for_their_group(
    analytics_pool: asyncpg.Pool,
) -> None:
    rows = [(uuid.uuid4(), group, timedelta(days=days)) for group in ("analytics", "other")
            for days in (20, 15, 1, 0)]
    await analytics_pool.executemany(
        "INSERT INTO processed_events (event_id, consumer, processed_at)"
        " VALUES ($1, $2, now() - $3::interval)", rows)

    # In batches: the first takes one old row, the next the other, then none is left.
    assert await forget_processed(analytics_pool, "analytics", timedelta(days=14), 1) == 1
    assert await forget_processed(analytics_pool, "analytics", timedelta(days=14)) == 1

    kept = await analytics_pool.fetch(
        "SELECT consumer, count(*) AS n FROM processed_events GROUP BY consumer ORDER BY 1")
    assert [(r["consumer"], r["n"]) for r in kept] == [("analytics", 2), ("other", 4)]
    assert await forget_processed(analytics_pool, "analytics", timedelta(days=14)) == 0
