"""At-least-once consumption with exactly-once effects.

Each event runs its handler in one database transaction together with a
tracking row keyed by the event id; a duplicate hits that key and is skipped.
Offsets are committed only after the transaction, and those of every fetch before it
(a replay after a crash or a rebalance only meets tracking rows). A handler that keeps failing
on the same event (a poison message) goes to the dead-letter topic after a
bounded number of retries; infrastructure outages are waited out instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from .db import TRANSIENT_DB_ERRORS, PoolKey
from .events import EVENT_TYPES, CloudEvent, EventData
from .kafka import ensure_topics, new_producer
from .logs import request_id_var, tenant_id_var
from .metrics import CONSUMED, CONSUMER_LAG, DEAD_LETTERED, EVENT_AGE
from .outbox import PUBLISHED_CHANNEL, TOPIC_SEPARATOR
from .settings import Settings
from .worker import Repeating, Waker, Worker, alongside, background_ctx, listen

log = logging.getLogger(__name__)

E = TypeVar("E", bound=EventData)

# A handler gets the envelope (tenant, ids, time) and its payload, already of its class.
Handler = Callable[[asyncpg.Connection, CloudEvent, E], Awaitable[None]]
# A record as the loop applies it: the record, its event, the event's handler.
Parsed = tuple[ConsumerRecord, CloudEvent, Handler[Any]]
BatchFn = Callable[[asyncpg.Connection, list[tuple[CloudEvent, E]]], Awaitable[None]]


class Batched(Generic[E]):
    """A handler that takes all of a transaction's events of its kinds at once, in order,
    so it can write set-based (one statement per table instead of one per event)."""

    def __init__(self, fn: BatchFn[E]) -> None:
        self.fn = fn

    async def __call__(self, conn: asyncpg.Connection, event: CloudEvent, data: E) -> None:
        await self.fn(conn, [(event, data)])


class Handlers:
    """A consumer's handlers by payload class. A handler registered for a base class
    (`WidgetChanged`, `FeedbackEvent`) takes every event type below it; the most specific
    registration wins. Events of other types are ignored."""

    def __init__(self) -> None:
        self._by_class: dict[type[EventData], Handler[Any]] = {}

    def on(self, model: type[E], handler: Handler[E]) -> Handlers:
        if model in self._by_class:
            raise ValueError(f"{model.__name__} has a handler already")
        self._by_class[model] = handler
        return self

    def get(self, event_type: str) -> Handler[Any] | None:
        """The handler of events of `event_type` (a CloudEvents type name), if any."""
        model = EVENT_TYPES.get(event_type)
        if model is None:
            return None
        return next((self._by_class[c] for c in model.__mro__ if c in self._by_class), None)

    def __getitem__(self, event_type: str) -> Handler[Any]:
        handler = self.get(event_type)
        if handler is None:
            raise KeyError(event_type)
        return handler

    def models(self) -> list[type[EventData]]:
        """The event types (payload classes) these handlers take."""
        return [m for m in EVENT_TYPES.values() if self.get(m.cloudevents_type())]


async def _run(handler: Handler[Any], conn: asyncpg.Connection, event: CloudEvent) -> None:
    await handler(conn, event, event.payload())


# What handlers asked to do once their transaction has committed (None: no transaction of
# the consumer loop is running).
_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "after_commit", default=None)


def after_commit(callback: Callable[[], None]) -> None:
    """Call `callback` once the consumer transaction of the running handler has committed;
    never if it rolls back (a batch replayed one by one asks again). Outside a consumer's
    transaction (a handler called directly) it is dropped: use it for what only speeds
    things up, such as handing fresh work to a worker of the same process."""
    callbacks = _after_commit.get()
    if callbacks is not None:
        callbacks.append(callback)


@contextlib.asynccontextmanager
async def _transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A consumer transaction: the handlers' `after_commit` callbacks run once it has
    committed."""
    callbacks: list[Callable[[], None]] = []
    token = _after_commit.set(callbacks)
    try:
        async with pool.acquire() as conn, conn.transaction():
            yield conn
    finally:
        _after_commit.reset(token)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # committed all the same: never replayed for a hint that failed
            log.exception("an after-commit callback failed")


TRANSIENT = (KafkaError, TimeoutError, *TRANSIENT_DB_ERRORS)


class Stopping(Exception):
    """The loop was asked to stop while waiting out an outage."""


# A consumer fetches when a relay's NOTIFY says a round for its topics is on the broker
# (shared.outbox), and rests in between with its partitions paused; DOORBELL_FALLBACK bounds
# the wait for events from any other producer, or published while the listener reconnects.
# Tansu answers a fetch at once when records are there, but holds one that waits for them
# to the end of its wait (`kafka_fetch_max_wait_ms`) even when they arrive: a consumer that
# always had a fetch waiting added up to that wait to events, and kept the broker answering
# 50 fetches a second per consumer. A consumer without a doorbell (no `dsn`) fetches until a
# window of IDLE_AFTER_MS brings nothing, then rests. With the doorbell naming its topics and
# the commits below, the broker's CPU per event at 50 entries a second went from 5.7-5.8 to
# 2.2-2.9 ms, the whole platform's from 21.4 to 16.4 ms (docs/benchmarks.md).
IDLE_AFTER_MS = 100
DOORBELL_FALLBACK = 1.0
MAX_BATCH = 500
# A busy consumer commits its offsets at most this often, and all of them once a fetch finds
# nothing, when it stops and when it gives up partitions. A commit per batch was a broker
# request per event at a moderate rate (a batch of one every fetch); what a crash leaves
# uncommitted is replayed and skipped by the tracking rows.
COMMIT_INTERVAL = 0.5
# A small batch (at a moderate rate a fetch brings a few events) is applied in a transaction
# per tenant, at most TENANT_TRANSACTIONS_AT_ONCE at a time, each after that tenant's
# earlier events only; the loop fetches on meanwhile (at most BATCHES_IN_FLIGHT batches
# ahead of the oldest unfinished one). So one tenant's costly events do not hold up
# another's: an entry fanned out to 100 webhook endpoints takes 3.5 ms of the dispatcher's
# transaction, and another tenant's webhooks fetched with it, or just after it, waited for
# it. A larger batch (load) waits for those in flight and is one transaction: a commit per
# tenant would cost more than it spares, and its events wait for the batch's volume anyway.
TENANT_TRANSACTIONS_UP_TO = 32
TENANT_TRANSACTIONS_AT_ONCE = 4
BATCHES_IN_FLIGHT = 16


Fetched = dict[TopicPartition, list[ConsumerRecord]]


class InFlight:
    """Batches being applied, in the order they were fetched, with their transactions, and
    the last transaction of each tenant: a tenant's events wait for its earlier ones only,
    and a batch counts as handled once it and every batch before it are done."""

    def __init__(self) -> None:
        self.batches: collections.deque[tuple[Fetched, list[asyncio.Task[None]]]] = \
            collections.deque()
        self.tails: dict[str, asyncio.Task[None]] = {}

    def after(self, tenant: str, apply: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """`apply` once the tenant's transactions started before have ended."""
        before = self.tails.get(tenant)

        async def in_turn() -> None:
            if before is not None:
                await asyncio.wait([before])
            await apply()

        task = asyncio.ensure_future(in_turn())
        self.tails[tenant] = task
        task.add_done_callback(lambda done: self.tails.pop(tenant, None)
                               if self.tails.get(tenant) is done else None)
        return task

    def add(self, fetched: Fetched, tasks: list[asyncio.Task[None]]) -> None:
        self.batches.append((fetched, tasks))

    def finished(self) -> list[Fetched]:
        """The leading batches that are done, taken off. A transaction that raised (the
        loop stopping while it waited out an outage) raises here, its batch not handled."""
        out = []
        while self.batches and all(task.done() for task in self.batches[0][1]):
            fetched, tasks = self.batches.popleft()
            for task in tasks:
                if not task.cancelled() and (exc := task.exception()) is not None:
                    raise exc
            out.append(fetched)
        return out

    async def wait(self, *, all_of_them: bool = True) -> None:
        """Until every batch (or the oldest) is done; `finished` takes them off."""
        batches = list(self.batches) if all_of_them else list(self.batches)[:1]
        tasks = [task for _, ts in batches for task in ts]
        if tasks:
            await asyncio.wait(tasks)

    def cancel(self) -> None:
        """Left behind by an error: what was not committed is replayed and skipped."""
        for _, tasks in self.batches:
            for task in tasks:
                task.cancel()
        self.batches.clear()


class Offsets(ConsumerRebalanceListener):
    """The offsets a consumer has handled and not yet committed, and the batches it is
    applying. A commit goes to the broker while the next fetch is handled, one at a time
    and in order."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.applying = InFlight()
        self.handled: dict[TopicPartition, int] = {}
        self.committing: asyncio.Future[None] | None = None
        self.sent_at = time.monotonic()

    def advance(self, *fetched: Fetched) -> None:
        for batches in fetched:
            self.handled.update({tp: rs[-1].offset + 1 for tp, rs in batches.items()})

    async def catch_up(self) -> None:
        """Every batch being applied is done, and handled."""
        await self.applying.wait()
        self.advance(*self.applying.finished())

    async def commit(self, *, due_only: bool = False) -> None:
        """Start committing what was handled (if COMMIT_INTERVAL has passed, `due_only`)."""
        if not self.handled or (due_only and time.monotonic() - self.sent_at < COMMIT_INTERVAL):
            return
        if self.committing is not None:
            await self.committing
        if not self.handled:  # committed meanwhile (a rebalance)
            return
        offsets, self.handled = self.handled, {}
        self.sent_at = time.monotonic()
        self.committing = asyncio.ensure_future(self.consumer.commit(offsets))

    async def settle(self) -> None:
        """Everything handled is committed."""
        await self.commit()
        if self.committing is not None:
            await self.committing

    def abandon(self) -> None:
        """Left behind by an error: what is not committed is replayed and skipped."""
        if self.committing is not None and not self.committing.cancel() \
                and not self.committing.cancelled():
            self.committing.exception()  # seen, whatever it was

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # The next owner starts where this one left off.
        with contextlib.suppress(KafkaError, Stopping):
            await self.catch_up()
            await self.settle()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


class ConsumerLoop:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, *, group: str, topics: list[str],
        handlers: Handlers, max_retries: int | None = None, dsn: str | None = None,
    ) -> None:
        """`dsn`: where to LISTEN for the relays' doorbell; without it, an idle consumer
        looks again every DOORBELL_FALLBACK."""
        self.pool, self.settings, self.dsn = pool, settings, dsn
        self.group = settings.consumer_group_prefix + group
        self.topics, self.handlers = topics, handlers
        self._topic_set = frozenset(topics)
        self.max_retries = settings.consumer_max_retries if max_retries is None else max_retries
        self.waker = Waker()
        self._consumer: AIOKafkaConsumer | None = None
        self._lanes = asyncio.Semaphore(TENANT_TRANSACTIONS_AT_ONCE)

    def stop(self) -> None:
        self.waker.stop()

    async def run(self) -> None:
        doorbell = ([listen(self.dsn, PUBLISHED_CHANNEL, self.waker.wake,
                            f"{self.group} doorbell", wanted=self.rung_for)]
                    if self.dsn else [])
        async with alongside(*doorbell):
            while not self.waker.stopping:
                try:
                    await self._consume()
                except Stopping:
                    return
                except KafkaError as exc:
                    log.warning("consumer %s lost the broker: %r", self.group, exc)
                    await self._pause(2.0)

    def rung_for(self, topics: str) -> bool:
        """Whether a relay's round (its topics, as the doorbell names them) is for us."""
        return not topics or not self._topic_set.isdisjoint(topics.split(TOPIC_SEPARATOR))

    async def _consume(self) -> None:
        # A subscription to a topic that does not exist yet would wait for the next
        # metadata refresh; create what is missing first.
        await ensure_topics(self.settings.kafka_bootstrap_servers, self.topics)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group, enable_auto_commit=False, auto_offset_reset="earliest",
            metadata_max_age_ms=10_000,
            # How long a fetch that finds nothing waits (see DOORBELL_FALLBACK).
            fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
        )
        offsets = Offsets(consumer)
        consumer.subscribe(self.topics, listener=offsets)
        self._consumer = consumer
        try:
            await consumer.start()
            while not self.waker.stopping:
                # A ring from here on may be for records this fetch comes too early for.
                self.waker.forget()
                consumer.resume(*consumer.assignment())
                batches = await consumer.getmany(timeout_ms=IDLE_AFTER_MS,
                                                 max_records=MAX_BATCH)
                records = [r for rs in batches.values() for r in rs]
                rest = len(records) < MAX_BATCH and (self.dsn is not None or not records)
                if rest:  # before any await: the fetcher must not send a fetch to be held
                    consumer.pause(*consumer.assignment())
                if records:
                    await self._process_batch(batches, records, offsets.applying)
                    offsets.advance(*offsets.applying.finished())
                    await offsets.commit(due_only=True)
                else:
                    await offsets.catch_up()
                    await offsets.settle()
                await self._report_lag(consumer)
                if rest:  # at once if a ring came meanwhile
                    await self.waker.sleep(DOORBELL_FALLBACK)
            await offsets.catch_up()
            await offsets.settle()
        finally:
            self._consumer = None
            offsets.applying.cancel()
            offsets.abandon()
            await consumer.stop()

    async def _process_batch(self, fetched: Fetched, records: list[ConsumerRecord],
                             applying: InFlight) -> None:
        """Start applying a fetch's records: a small batch in a transaction per tenant
        (see TENANT_TRANSACTIONS_UP_TO), a large one, once everything before it is done,
        in one transaction (one commit for many events), waited for."""
        items = [item for record in records if (item := await self._parse(record))]
        if len(items) > TENANT_TRANSACTIONS_UP_TO:
            await applying.wait()
            await self._apply_items(items)
            applying.add(fetched, [])
            return
        by_tenant: dict[str, list[Parsed]] = {}
        for item in items:
            by_tenant.setdefault(item[1].tenantid, []).append(item)
        applying.add(fetched, [applying.after(tenant, partial(self._apply_in_lane, group))
                               for tenant, group in by_tenant.items()])
        if len(applying.batches) > BATCHES_IN_FLIGHT:
            await applying.wait(all_of_them=False)

    async def _apply_in_lane(self, items: list[Parsed]) -> None:
        async with self._lanes:
            await self._apply_items(items)

    async def _apply_items(self, items: list[Parsed]) -> None:
        """Events in one transaction. If any fails, the transaction is rolled back and the
        events replayed one by one, where retries and the dead-letter topic isolate the bad
        one."""
        try:
            outcomes = await self.apply_batch([(event, handler) for _, event, handler in items])
        except Stopping:
            raise
        except Exception as exc:
            log.warning("consumer %s replays a batch of %d one by one: %r", self.group,
                        len(items), exc)
            for record, event, handler in items:
                await self._apply_with_retries(record, event, handler)
        else:
            for (_, event, _), outcome in zip(items, outcomes, strict=True):
                CONSUMED.labels(self.group, event.type, outcome).inc()
        now = datetime.now(UTC)
        for _, event, _ in items:
            EVENT_AGE.labels(self.group).observe(max(0.0, (now - event.time).total_seconds()))

    async def _parse(self, record: ConsumerRecord) -> Parsed | None:
        try:
            event = CloudEvent.from_bytes(record.value)
        except ValidationError as exc:
            await self._dead_letter(record, f"not a CloudEvent: {exc}")
            return None
        handler = self.handlers.get(event.type)
        if handler is None:
            CONSUMED.labels(self.group, event.type, "ignored").inc()
            return None
        return record, event, handler

    async def apply_batch(self, items: Sequence[tuple[CloudEvent, Handler[Any]]]
                          ) -> list[str]:
        """Tracking rows and effects of several events in one transaction."""
        async with _transaction(self.pool) as conn:
            fresh = {str(row["event_id"]) for row in await conn.fetch(
                "INSERT INTO processed_events (event_id, consumer)"
                " SELECT unnest($1::uuid[]), $2 ON CONFLICT DO NOTHING RETURNING event_id",
                [event.id for event, _ in items], self.group)}
            outcomes = []
            batched: dict[Batched[Any], list[tuple[CloudEvent, Any]]] = {}
            for event, handler in items:
                if event.id not in fresh:
                    outcomes.append("duplicate")
                    continue
                fresh.discard(event.id)  # a second copy in the same batch is a duplicate
                outcomes.append("processed")
                if isinstance(handler, Batched):
                    batched.setdefault(handler, []).append((event, event.payload()))
                    continue
                request_id_var.set(event.requestid)
                tenant_id_var.set(event.tenantid)
                await _run(handler, conn, event)
            for batch_handler, events in batched.items():
                await batch_handler.fn(conn, events)
        return outcomes

    async def _apply_with_retries(
        self, record: ConsumerRecord, event: CloudEvent, handler: Handler[Any]
    ) -> None:
        request_id_var.set(event.requestid)
        tenant_id_var.set(event.tenantid)
        failures = 0
        while True:
            try:
                outcome = await self.apply_once(event, handler)
                CONSUMED.labels(self.group, event.type, outcome).inc()
                return
            except TRANSIENT as exc:
                log.warning("consumer %s waiting out %r", self.group, exc)
                await self._pause(1.0)
            except Exception as exc:
                failures += 1
                log.exception("consumer %s failed on %s (%d)", self.group, event.id, failures)
                if failures > self.max_retries:
                    await self._dead_letter(record, repr(exc))
                    CONSUMED.labels(self.group, event.type, "dead_lettered").inc()
                    return
                await self._pause(min(5.0, 0.1 * 2**failures))

    async def apply_once(self, event: CloudEvent, handler: Handler[Any]) -> str:
        """The handler's effect and the tracking row in one transaction."""
        async with _transaction(self.pool) as conn:
            fresh = await conn.fetchval(
                "INSERT INTO processed_events (event_id, consumer) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING true",
                event.id, self.group,
            )
            if not fresh:
                return "duplicate"
            await _run(handler, conn, event)
        return "processed"

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        # The original content type keeps the dead letter a structured-mode CloudEvent.
        headers = [(k, v) for k, v in record.headers or () if k.lower() == "content-type"]
        headers += [
            ("dlq_group", self.group.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_reason", reason[:1000].encode()),
        ]
        while True:
            producer = new_producer(self.settings.kafka_bootstrap_servers)
            try:
                await producer.start()
                await producer.send_and_wait(
                    self.settings.topic_dead_letter, record.value, key=record.key, headers=headers
                )
                break
            except KafkaError as exc:
                log.warning("dead-letter publish failed, retrying: %r", exc)
                await self._pause(1.0)
            finally:
                await producer.stop()
        DEAD_LETTERED.labels(self.group).inc()
        log.error("dead-lettered %s/%d@%d: %s", record.topic, record.partition,
                  record.offset, reason)

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = await consumer.position(tp)
            CONSUMER_LAG.labels(self.group, tp.topic, tp.partition).set(max(0, end - position))

    async def _pause(self, seconds: float) -> None:
        await self.waker.sleep(seconds)
        if self.waker.stopping:
            raise Stopping


PRUNE_INTERVAL = 3600.0
PRUNE_BATCH = 10_000


async def forget_processed(pool: asyncpg.Pool, group: str, older_than: timedelta,
                           limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` of the group's tracking rows older than `older_than` (small
    batches: no transaction holds many locks); returns how many went."""
    status = await pool.execute(
        "DELETE FROM processed_events WHERE ctid = ANY(ARRAY(SELECT ctid FROM"
        " processed_events WHERE consumer = $1 AND processed_at < now() - $2::interval"
        " LIMIT $3))", group, older_than, limit)
    return int(status.split()[-1])


def consumer_ctx(
    settings: Settings, *, service: str, group: str, topics: list[str], handlers: Handlers
) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: consume while the app runs, forgetting tracking rows older than the
    retention; on shutdown finish the batch and commit."""

    retention = timedelta(days=settings.processed_events_retention_days)

    def start(app: web.Application) -> list[Worker]:
        pool = app[PoolKey]
        loop = ConsumerLoop(pool, settings, group=group, topics=topics, handlers=handlers,
                            dsn=settings.service_dsn(service))
        pruner = Repeating(lambda: forget_processed(pool, loop.group, retention),
                           batch=PRUNE_BATCH, poll_interval=PRUNE_INTERVAL,
                           what=f"{group} pruning")
        return [pruner, loop]

    return background_ctx(start)


__all__ = ["Batched", "ConsumerLoop", "Handler", "Handlers", "TopicPartition", "after_commit",
           "consumer_ctx", "forget_processed"]
