"""Sending webhooks: claim due deliveries, POST them signed, record what happened.

Isolation: each endpoint has its own small number of slots, and a dispatcher only
claims deliveries for endpoints with a free slot, so a slow or dead endpoint holds
its own slots and nothing else. Safety across replicas: a claim is a lease
(`locked_until`) that outlives the request timeout, taken with SKIP LOCKED; a
dispatcher killed mid-attempt leaves the lease to expire and another one retries
with the same webhook-id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from resonanz.shared.db import TRANSIENT_DB_ERRORS, GroupCommit
from resonanz.shared.events import EndpointDisabled, MessageAttemptExhausted, new_event
from resonanz.shared.outbox import enqueue
from resonanz.shared.worker import Repeating, listen

from . import commands, metrics, notices, views
from .domain import (
    RESPONSE_BODY_LIMIT,
    AttemptResult,
    NetworkPolicy,
    Outcome,
    Verdict,
    answers_refusal,
    judge,
    live_secrets,
    outcome_of,
    parse_retry_after,
    signature_header,
    truncate_body,
    url_problem,
)
from .sealing import SecretBox
from .store import WAKE_CHANNEL, deliveries, outgoing_mail, subscriptions
from .store.deliveries import Attempted, Claim, Fresh
from .store.subscriptions import EndpointHealth

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SOURCE = "resonanz/webhook-dispatcher"
USER_AGENT = "Resonanz-Webhooks/1.0"


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- the guarded HTTP client (SSRF) --------------------------------------------------------


class BlockedDestination(OSError):
    """The destination resolves to an address webhooks may not reach."""


class GuardedResolver(AbstractResolver):
    """Resolves names itself and hands aiohttp only addresses the policy allows, so the
    address checked is the address dialled: DNS rebinding between the two is impossible."""

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        reason = answers_refusal(host, (a["host"] for a in answers), self.policy)
        if reason is not None:
            raise BlockedDestination(f"{host} resolves to a forbidden address ({reason})")
        return answers

    async def close(self) -> None:
        await self._inner.close()


def guarded_session(policy: NetworkPolicy, timeout: float,
                    dns: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The client for receivers: never the internal one (it would carry the internal token).

    No connection limit of its own: isolation comes from the per-endpoint slots, and a
    shared limit would let hanging endpoints starve healthy ones."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy, dns), limit=0,
                                     ttl_dns_cache=30, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT}, trust_env=False, auto_decompress=False,
    )


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    chunks = b""
    while len(chunks) < RESPONSE_BODY_LIMIT:
        chunk = await response.content.read(RESPONSE_BODY_LIMIT - len(chunks))
        if not chunk:
            break
        chunks += chunk
    return chunks


def readable(raw: bytes, headers: Mapping[str, str]) -> bytes:
    """The start of a response body as the receiver meant it: a gzip or deflate body is
    inflated (at most RESPONSE_BODY_LIMIT bytes of output, so no bomb), and what cannot be
    inflated from the captured start is kept as it came."""
    encoding = headers.get("Content-Encoding", "").strip().lower()
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
             "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None or not raw:
        return raw
    try:
        return zlib.decompressobj(wbits).decompress(raw, RESPONSE_BODY_LIMIT)
    except zlib.error:
        return raw


def _failure(outcome: Outcome, started: float, error: str) -> AttemptResult:
    return AttemptResult(outcome, (time.perf_counter() - started) * 1000, error=error)


def _blocked(exc: BaseException) -> BlockedDestination | None:
    os_error = getattr(exc, "os_error", None)
    return os_error if isinstance(os_error, BlockedDestination) else None


async def post_webhook(session: aiohttp.ClientSession, policy: NetworkPolicy, claim: Claim,
                       now: datetime) -> AttemptResult:
    """One signed POST; redirects are never followed (a 3xx is a failure)."""
    started = time.perf_counter()
    problem = url_problem(claim.url, policy)
    if problem is not None:
        return _failure(Outcome.BLOCKED, started, problem)
    # Wall clock, not the injectable one: receivers compare it with their own clocks.
    timestamp = int(time.time())
    signing = live_secrets(claim.secret, claim.previous, now)
    headers = {
        "webhook-id": claim.id, "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing, claim.id, timestamp, claim.body),
        "Content-Type": "application/json",
    }
    try:
        async with session.post(claim.url, data=claim.body, headers=headers,
                                allow_redirects=False) as response:
            raw = await _read_capped(response)
            return AttemptResult(
                outcome_of(response.status), (time.perf_counter() - started) * 1000,
                status_code=response.status,
                response_body=truncate_body(readable(raw, response.headers)),
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
                delivery_control=response.headers.get("webhook-delivery"),
            )
    except TimeoutError:
        return _failure(Outcome.TIMEOUT, started, "no response within the timeout")
    except aiohttp.ClientError as exc:
        blocked = _blocked(exc)
        if blocked is not None:
            return _failure(Outcome.BLOCKED, started, str(blocked))
        return _failure(Outcome.CONNECTION_ERROR, started, repr(exc)[:500])


# --- per-endpoint slots ----------------------------------------------------------------------


class EndpointSlots:
    """How many attempts this dispatcher has in flight per endpoint, per tenant and in total,
    and to each tenant's silent endpoints.

    The per-tenant share keeps one tenant's dead endpoints from taking every slot: with 100
    hanging endpoints a tenant holds at most `per_tenant` attempts, and the others' deliveries
    are claimed past its backlog (a saturated tenant's deliveries are not even claimed).

    A silent endpoint is one that has not answered yet (a new one) or whose last attempt got
    no answer (it timed out, or no connection could be made); an answer with any status makes
    it answering again. A tenant has at most `silent_per_tenant` attempts in flight to its
    silent endpoints, like a connection's slow start: a new endpoint that answers gets its own
    slots at once, while a tenant's 100 dead endpoints hold a few slots, not its whole share.
    Holding its whole share (64 by default), they started 64 attempts together, timed out
    together 15 s later and started 64 again, every 15 s: each time a burst of work (64
    connections opened, 64 failures recorded) that other tenants' webhooks waited behind,
    the slowest of them by 30-60 ms."""

    def __init__(self, per_endpoint: int, total: int, per_tenant: int | None = None,
                 silent_per_tenant: int | None = None) -> None:
        self.per_endpoint, self.total = per_endpoint, total
        self.per_tenant = min(total, per_tenant if per_tenant is not None else total)
        self.silent_per_tenant = min(self.per_tenant, silent_per_tenant
                                     if silent_per_tenant is not None else self.per_tenant)
        self.busy: Counter[str] = Counter()
        self.tenants: Counter[str] = Counter()
        self.silent: Counter[str] = Counter()  # by tenant
        # Endpoints whose due deliveries this process knows it left for a claim round (a
        # hand-over beyond their free slots, a round's surplus): the next slot given back
        # there starts a round, full or not.
        self.left: set[str] = set()

    def saturated(self) -> list[uuid.UUID]:
        return [uuid.UUID(s) for s, n in self.busy.items() if n >= self.per_endpoint]

    def saturated_tenants(self) -> list[uuid.UUID]:
        return [uuid.UUID(t) for t, n in self.tenants.items() if n >= self.per_tenant]

    def silent_rooms(self) -> dict[uuid.UUID, int]:
        """What the tenants with attempts in flight to silent endpoints have left for more;
        every other tenant has `silent_per_tenant`."""
        return {uuid.UUID(t): max(0, self.silent_per_tenant - n) for t, n in self.silent.items()}

    def free_total(self) -> int:
        return max(0, self.total - sum(self.busy.values()))

    def has_room(self, endpoint: str, tenant: str, silent: bool = False) -> bool:
        return (self.busy[endpoint] < self.per_endpoint and self.tenants[tenant] < self.per_tenant
                and not (silent and self.silent[tenant] >= self.silent_per_tenant)
                and self.free_total() > 0)

    def take(self, endpoint: str, tenant: str, silent: bool = False) -> bool:
        if not self.has_room(endpoint, tenant, silent):
            return False
        self.busy[endpoint] += 1
        self.tenants[tenant] += 1
        if silent:
            self.silent[tenant] += 1
        return True

    def fitting(self, fresh: list[Fresh]) -> list[str]:
        """The deliveries of `fresh` that the free slots can take, in order, each counted as
        taken: a batch's many deliveries for one endpoint (or a new tenant's to its many
        silent endpoints) are not all leased only for all but a few to be given back."""
        scratch = EndpointSlots(self.per_endpoint, self.total, self.per_tenant,
                                self.silent_per_tenant)
        scratch.busy, scratch.tenants = Counter(self.busy), Counter(self.tenants)
        scratch.silent = Counter(self.silent)
        return [f.id for f in fresh
                if scratch.take(f.subscription_id, f.tenant_id, silent=not f.answering)]

    def leave(self, endpoints: Iterable[str]) -> None:
        """Due deliveries of these endpoints were left for a claim round."""
        self.left.update(endpoints)

    def give_back(self, endpoint: str, tenant: str, silent: bool = False) -> bool:
        """Whether the slot may let waiting work go: its endpoint, its tenant (or its room for
        silent endpoints) or the whole dispatcher was at its limit, so deliveries may have
        been left for want of it, or deliveries of the endpoint were left for a round.

        The second matters when the slots emptied before what was left could fill them: of
        a hand-over of ten with one slot of four busy, three were leased; the busy one
        answered before they started, so they left the endpoint at three of four, and
        neither their slots nor any before them came back from a full endpoint. The seven
        waited for the poll (a second)."""
        frees_work = (self.busy[endpoint] >= self.per_endpoint
                      or self.tenants[tenant] >= self.per_tenant or not self.free_total()
                      or (silent and self.silent[tenant] >= self.silent_per_tenant)
                      or endpoint in self.left)
        self.left.discard(endpoint)
        counted = [(self.busy, endpoint), (self.tenants, tenant)]
        if silent:
            counted.append((self.silent, tenant))
        for counter, key in counted:
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
        return frees_work


class Slot:
    """One attempt's hold on its endpoint's slot, given back exactly once."""

    def __init__(self, worker: DeliveryWorker, endpoint: str, tenant: str,
                 silent: bool = False) -> None:
        self.worker, self.endpoint, self.tenant, self.held = worker, endpoint, tenant, True
        self.silent = silent

    def give_back(self) -> None:
        """A claim round follows only if the slot was one that work may be waiting for.
        Otherwise every attempt of a healthy endpoint would start one, each reading the due
        deliveries of every endpoint with a free slot: with 50 webhooks a second to a
        healthy endpoint, 50 rounds a second."""
        if self.held:
            self.held = False
            if self.worker.slots.give_back(self.endpoint, self.tenant, self.silent):
                self.worker.wake()


# --- the worker ------------------------------------------------------------------------------


class DeliveryWorker(Repeating):
    """Drains the delivery queue. Any number of replicas may run against one database.
    Stopped, it lets every attempt in flight finish and be recorded."""

    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                 policy: NetworkPolicy, box: SecretBox, *, topic_webhooks: str,
                 lease: timedelta, per_endpoint: int = 4, max_in_flight: int = 256,
                 per_tenant: int | None = None, silent_per_tenant: int | None = None,
                 batch_size: int = 100,
                 poll_interval: float = 1.0, clock: Clock = utc_now,
                 unit_random: Callable[[], float] = random.random) -> None:
        super().__init__(self.dispatch_due, batch=batch_size, poll_interval=poll_interval,
                         what="webhook dispatcher")
        self.pool, self.session, self.policy, self.box = pool, session, policy, box
        self.topic_webhooks, self.lease = topic_webhooks, lease
        self.batch_size = batch_size
        self.clock, self.unit_random = clock, unit_random
        self.slots = EndpointSlots(per_endpoint, max_in_flight, per_tenant, silent_per_tenant)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._tasks: set[asyncio.Task[None]] = set()
        self._offered: list[str] = []
        self._taking: asyncio.Task[None] | None = None
        # Successful attempts are recorded together (everything that succeeded while the
        # previous statement was written goes into the next): by one statement for endpoints
        # that were healthy and answering when claimed, in a transaction that makes them so
        # for the others.
        self.successes: GroupCommit[Attempted] = GroupCommit(
            pool, lambda conn, settled: deliveries.record_successes(conn, settled, clock()),
            one_statement=True)
        self.recoveries: GroupCommit[Attempted] = GroupCommit(
            pool, lambda conn, settled: deliveries.settle_successes(conn, settled, clock()))
        # Failures too, each still judged (and its endpoint perhaps disabled) under the
        # endpoint's lock. The attempts a dead tenant started together time out together (its
        # whole share of slots at once); recorded in a transaction each, they held every
        # pooled connection, so the consumer and the claims waited for one, and another
        # tenant's webhooks with them (p99 30 -> 160 ms beside 100 hanging endpoints).
        self.failures: GroupCommit[Attempted] = GroupCommit(pool, self._settle_failures)

    async def run(self) -> None:
        await super().run()
        await self.drain()

    async def dispatch_due(self) -> int:
        """Claim what is due for endpoints with free slots and start sending it."""
        limit = min(self.batch_size, self.slots.free_total())
        if not limit:
            return 0
        now = self.clock()
        claims = await deliveries.claim_due(
            self.pool, self.box, now=now, lease_until=now + self.lease, limit=limit,
            per_endpoint=self.slots.per_endpoint, saturated=self.slots.saturated(),
            saturated_tenants=self.slots.saturated_tenants(),
            silent_rooms=self.slots.silent_rooms(), silent_room=self.slots.silent_per_tenant,
            worker=self.worker_id,
        )
        return await self._start_all(claims)

    async def _start_all(self, claims: list[Claim]) -> int:
        """Start sending each claim that gets a slot; give back the leases of the others.
        Returns how many were started.

        The event loop gets a turn after each start. A dead tenant's whole share of slots
        comes back at once (its attempts time out together), and a round claims as many
        again: their first steps (signing, the request, the connection) ran back to back,
        and every other tenant's webhooks in this process waited for all of them (the
        loop's lag 12-14 ms at that moment)."""
        surplus = []
        for claim in claims:
            if self._start(claim):
                await asyncio.sleep(0)
            else:
                surplus.append(claim)
        if surplus:
            await deliveries.release(self.pool, [claim.id for claim in surplus],
                                     self.worker_id)
            self.slots.leave(claim.subscription_id for claim in surplus)
        return len(claims) - len(surplus)

    def offer(self, fresh: list[Fresh]) -> None:
        """Deliveries this process's consumer has just committed: those the free slots here
        can take are leased by id and sent at once, without waiting for a claim round. The
        others wait for a slot: their endpoint's next slot given back starts a claim round
        (`EndpointSlots.leave`); any offered one that could not be leased starts a claim
        round too."""
        if self.waker.stopping:
            return
        fitting = self.slots.fitting(fresh)
        taken = set(fitting)
        self.slots.leave(f.subscription_id for f in fresh if f.id not in taken)
        self._offered += fitting
        if self._offered and (self._taking is None or self._taking.done()):
            self._taking = asyncio.create_task(self._take_offered())
            self._tasks.add(self._taking)
            self._taking.add_done_callback(self._tasks.discard)

    async def _take_offered(self) -> None:
        while self._offered:
            ids, self._offered = self._offered[:self.batch_size], self._offered[self.batch_size:]
            now = self.clock()
            try:
                claims = await deliveries.claim_ids(self.pool, self.box, ids, now=now,
                                                    lease_until=now + self.lease,
                                                    worker=self.worker_id)
            except TRANSIENT_DB_ERRORS as exc:
                log.info("offered deliveries left to the next claim round: %r", exc)
                continue
            if await self._start_all(claims) < len(ids):  # left or not leased: a round
                self.wake()

    async def drain(self) -> None:
        """Wait for every attempt in flight to be sent and recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, claim: Claim) -> bool:
        silent = not claim.answering
        if not self.slots.take(claim.subscription_id, claim.tenant_id, silent):
            return False
        slot = Slot(self, claim.subscription_id, claim.tenant_id, silent)
        task = asyncio.create_task(self._deliver(claim, slot), name=f"webhook-{claim.id}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, slot))
        return True

    def _finished(self, task: asyncio.Task[None], slot: Slot) -> None:
        self._tasks.discard(task)
        slot.give_back()

    async def _deliver(self, claim: Claim, slot: Slot) -> None:
        now = self.clock()
        result = await post_webhook(self.session, self.policy, claim, now)
        # The endpoint is free once it has answered: recording the attempt is our work,
        # and the lease keeps the delivery ours until it is recorded.
        slot.give_back()
        metrics.ATTEMPTS.labels(str(result.outcome)).inc()
        metrics.ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
        try:
            if result.outcome is Outcome.SUCCESS:
                recorder = (self.recoveries if claim.failing or not claim.answering
                            else self.successes)
                await recorder.submit((claim, result, now))
                if (verdict := judge(result, claim.attempts + 1, None, now, 0.0)).disable_reason:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await self._disable(conn, claim, verdict, now)
            else:
                await self.failures.submit((claim, result, now))
        except (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError) as exc:
            # The lease runs out and the delivery is attempted again, same webhook-id.
            log.warning("could not record attempt of %s: %r", claim.id, exc)
            return
        if result.outcome is Outcome.SUCCESS:
            metrics.DELIVERY_SECONDS.observe(max(0.0, (utc_now() - claim.event_time)
                                                 .total_seconds()))

    async def _settle_failures(self, conn: asyncpg.Connection, failed: list[Attempted]) -> None:
        """Failures that came together, in one transaction of four statements: their
        endpoints locked at once, each failure judged in turn against its endpoint's health
        as the failures before it left it, then the attempts, the deliveries and the
        endpoints written by one statement each; a disable or an exhausted message adds its
        own. A dead tenant's share of slots times out together: judged one at a time, with
        four round trips each, its 64 failures held a connection for 31 ms on an idle
        machine (8 ms now) and spent 256 round trips' CPU in one burst, beside every other
        tenant's webhooks."""
        now = self.clock()
        health = await subscriptions.lock_endpoints_health(
            conn, (claim.subscription_id for claim, _, _ in failed))
        judged, disabling, exhausted = [], [], []
        for claim, result, attempted_at in sorted(failed, key=lambda f: f[0].subscription_id):
            before = health.get(claim.subscription_id, EndpointHealth(False, None, None, False))
            verdict = judge(result, claim.attempts + 1, before.failing_since, now,
                            self.unit_random(), before.last_failed_at)
            if not before.active:
                verdict = replace(verdict, status="failed", next_attempt_at=None)
            elif verdict.disable_reason:
                disabling.append((claim, verdict))
            elif verdict.exhausted:
                exhausted.append((claim, result))
            health[claim.subscription_id] = EndpointHealth(
                before.active and not verdict.disable_reason, verdict.failing_since, now,
                answering=result.status_code is not None)
            judged.append((claim, result, attempted_at, verdict))
        await deliveries.settle_failures(conn, judged)
        await subscriptions.mark_endpoints_failing(
            conn, {claim.subscription_id: health[claim.subscription_id] for claim, *_ in judged})
        for claim, verdict in disabling:
            await self._disable(conn, claim, verdict, now)
        for claim, result in exhausted:
            await self._exhausted(conn, claim, result, now)

    async def _disable(self, conn: asyncpg.Connection, claim: Claim, verdict: Verdict,
                       now: datetime) -> None:
        """Stop the endpoint and tell the tenant: an event and an email to its admins."""
        assert verdict.disable_reason is not None
        disabled = await commands.disable_endpoint(conn, claim.subscription_id,
                                                verdict.disable_reason, now)
        if disabled is None:
            return
        data = EndpointDisabled(subscription_id=disabled.id, url=disabled.url,
                                reason=verdict.disable_reason)
        event = new_event(source=SOURCE,
                          tenant_id=disabled.tenant_id, subject=disabled.id, data=data)
        await enqueue(conn, event, self.topic_webhooks)
        await outgoing_mail.queue_notice(conn, self.box, disabled.tenant_id,
                                 f"{event.id}:endpoint_disabled", notices.endpoint_disabled(data))
        log.warning("disabled webhook subscription %s: %s", disabled.id, verdict.disable_reason)


    async def _exhausted(self, conn: asyncpg.Connection, claim: Claim,
                         result: AttemptResult, now: datetime) -> None:
        """Every attempt of the schedule failed: an event (the `message_attempt_exhausted`
        webhook to the tenant's other endpoints) and, once a day per endpoint, an email."""
        data = MessageAttemptExhausted(
            subscription_id=claim.subscription_id, url=claim.url, message_id=claim.id,
            message_event_id=claim.event_id, event_type=claim.webhook_type,
            attempts=claim.total_attempts + 1, last_status=result.status_code,
            last_outcome=str(result.outcome))
        event = new_event(source=SOURCE,
                          tenant_id=claim.tenant_id, subject=claim.subscription_id, data=data)
        await enqueue(conn, event, self.topic_webhooks)
        await outgoing_mail.queue_notice(conn, self.box, claim.tenant_id,
                                 f"exhausted:{claim.subscription_id}:{now.date().isoformat()}",
                                 notices.message_exhausted(data))
        log.warning("webhook %s to subscription %s failed every attempt", claim.id,
                    claim.subscription_id)


class HandOff:
    """From the consumer to the delivery worker of the same process: the deliveries an
    event fanned out, once that transaction has committed. The worker binds itself when it
    starts; before that (and in a process without one) offers are dropped, and the claim
    rounds find the deliveries."""

    def __init__(self) -> None:
        self.worker: DeliveryWorker | None = None

    def __call__(self, fresh: list[Fresh]) -> None:
        if self.worker is not None and fresh:
            self.worker.offer(fresh)


async def report_queue(pool: asyncpg.Pool, clock: Clock, interval: float = 5.0) -> None:
    """Keep the queue gauges current (depth, oldest pending, disabled endpoints)."""
    while True:
        try:
            stats = await views.queue_stats(pool, clock())
        except TRANSIENT_DB_ERRORS as exc:
            log.info("queue gauges not updated: %r", exc)
        else:
            metrics.QUEUE_DEPTH.set(stats.depth)
            metrics.OLDEST_PENDING_AGE.set(stats.oldest_age_seconds)
            metrics.DISABLED_ENDPOINTS.set(stats.disabled_endpoints)
        await asyncio.sleep(interval)


async def listen_for_work(dsn: str, wake: Callable[[], None]) -> None:
    """Wake the workers on NOTIFY; polling covers whatever is missed while disconnected."""
    await listen(dsn, WAKE_CHANNEL, wake, "webhook")
