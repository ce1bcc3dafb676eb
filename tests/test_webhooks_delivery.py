"""The delivery worker against real PostgreSQL and real local receivers, with a clock the
test advances: the retry schedule, 410, Retry-After, redirects, endpoint health, leases."""

from __future__ import annotations

import asyncio
import gzip
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from resonanz.shared.consumer import ConsumerLoop
from resonanz.shared.crypto import KeyRing
from resonanz.shared.events import (
    CloudEvent,
    EntrySnapshot,
    EventData,
    FeedbackCreated,
    FeedbackDeleted,
    FeedbackRestored,
    new_event,
)
from resonanz.shared.settings import Settings
from resonanz.shared.worker import running
from resonanz.webhook_dispatcher import commands, views
from resonanz.webhook_dispatcher.consumers import build_handlers, fan_out, outgoing
from resonanz.webhook_dispatcher.delivery import DeliveryWorker, HandOff, guarded_session
from resonanz.webhook_dispatcher.domain import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    AttemptResult,
    NetworkPolicy,
    Outcome,
    generate_secret,
)
from resonanz.webhook_dispatcher.sealing import SecretBox
from resonanz.webhook_dispatcher.store import deliveries, subscriptions
from resonanz.webhook_dispatcher.store.subscriptions import Subscription

from .support import eventually, plan_of, query
from .test_webhooks_support import FakeClock, Receiver, Respond, dispatcher_pool, receiving

POLICY = NetworkPolicy.from_setting("127.0.0.0/8")
TENANT = str(uuid.uuid4())
BOX = SecretBox(KeyRing([os.urandom(32)]))


@dataclass
class Harness:
    pool: asyncpg.Pool
    clock: FakeClock
    session: aiohttp.ClientSession

    def worker(self, **kwargs: Any) -> DeliveryWorker:
        return DeliveryWorker(self.pool, self.session, POLICY, BOX,
                              topic_webhooks="webhooks.events", lease=timedelta(seconds=30),
                              clock=self.clock, unit_random=lambda: 0.5, **kwargs)

    async def subscribe(self, receiver: Receiver, events: tuple[str, ...] = ("feedback_created",),
                        tenant: str = TENANT) -> Subscription:
        secret = generate_secret()
        receiver.secrets.append(secret)
        return await commands.create_subscription(self.pool, BOX, uuid.UUID(tenant), receiver.url,
                                               list(events), None, secret)

    async def endpoints_of_tenant_a(self, receiver: Receiver, count: int) -> None:
        """`count` subscriptions of TENANT, all at `receiver` (told apart by their query)."""
        for n in range(count):
            await commands.create_subscription(self.pool, BOX, uuid.UUID(TENANT),
                                               f"{receiver.url}?endpoint={n}",
                                               ["feedback_created"], None, generate_secret())

    async def subscription(self, sub: Subscription) -> Subscription:
        return await views.get_subscription(self.pool, uuid.UUID(TENANT), uuid.UUID(sub.id))

    async def emit(self, tenant: str = TENANT, fresh: list[deliveries.Fresh] | None = None
                   ) -> str:
        """An entry's event fanned out; the deliveries due at once added to `fresh`."""
        entry = snapshot()
        event = new_event(source="tests", tenant_id=tenant,
                          subject=entry.id, data=FeedbackCreated(entry=entry, body="Great"))
        async with self.pool.acquire() as conn, conn.transaction():
            due = await fan_out(conn, event, event.payload())
        if fresh is not None:
            fresh += due
        return event.id

    async def delivery(self, event_id: str) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM deliveries WHERE event_id = $1", event_id)
        assert row is not None
        return row

    async def round(self, worker: DeliveryWorker) -> int:
        claimed = await worker.dispatch_due()
        await worker.drain()
        return claimed


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async with dispatcher_pool(database_url) as pool, guarded_session(POLICY, 3.0) as session:
        yield Harness(pool, FakeClock(), session)


def answer(status: int, headers: dict[str, str] | None = None) -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers=headers, text="x" * 10_000)

    return respond


async def test_a_delivery_is_signed_and_verifies_with_standardwebhooks(harness: Harness) -> None:
    receiver = Receiver()
    async with receiving(receiver):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        assert await harness.round(harness.worker()) == 1
    [got] = receiver.received
    assert got.verified_with == receiver.secrets
    assert got.webhook_id.startswith("msg_")
    assert got.payload["type"] == "feedback_created"
    assert got.payload["data"]["event_id"] == event_id
    row = await harness.delivery(event_id)
    assert (row["status"], row["attempts"], row["id"]) == ("delivered", 1, got.webhook_id)


async def test_failures_follow_the_retry_schedule_as_the_clock_advances(
    harness: Harness,
) -> None:
    receiver = Receiver(answer(500))
    worker = harness.worker()
    async with receiving(receiver):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        assert await harness.round(worker) == 1
        for attempt, delay in enumerate(RETRY_DELAYS, start=1):
            row = await harness.delivery(event_id)
            assert row["attempts"] == attempt
            assert row["next_attempt_at"] - harness.clock.now == delay
            harness.clock.advance(delay - timedelta(seconds=1))
            assert await harness.round(worker) == 0, f"attempt {attempt + 1} came early"
            harness.clock.advance(timedelta(seconds=1))
            assert await harness.round(worker) == 1
    row = await harness.delivery(event_id)
    assert (row["status"], row["attempts"]) == ("failed", 8)
    assert len(receiver.received) == 8
    assert {r.webhook_id for r in receiver.received} == {row["id"]}
    attempts = await harness.pool.fetch("SELECT * FROM attempts WHERE delivery_id = $1",
                                        row["id"])
    assert {(a["outcome"], a["status_code"]) for a in attempts} == {("http_5xx", 500)}
    assert all(len(a["response_body"]) == 4096 for a in attempts)

    # The tenant learns it: an event (the message_attempt_exhausted webhook) and an email.
    [exhausted] = [CloudEvent.from_bytes(r["payload"]) for r in
                   await harness.pool.fetch("SELECT payload FROM outbox")]
    assert exhausted.type == "webhook.message_attempt_exhausted"
    assert exhausted.payload().model_dump()["message_id"] == row["id"]
    assert exhausted.payload().model_dump()["message_event_id"] == str(event_id)
    mail = await harness.pool.fetchrow("SELECT kind, audience FROM outgoing_mail")
    assert tuple(mail) == ("message_attempt_exhausted", "tenant_admins")

    # A resend starts a new retry cycle; the log keeps counting every attempt.
    await commands.resend(harness.pool, uuid.UUID(TENANT), row["subscription_id"],
                       uuid.UUID(hex=row["id"][4:]), harness.clock.now)
    async with receiving(receiver):
        assert await harness.round(worker) == 1
    again = await harness.delivery(event_id)
    assert (again["status"], again["attempts"], again["cycle_attempts"]) == ("pending", 9, 1)
    assert again["next_attempt_at"] - harness.clock.now == RETRY_DELAYS[0]


async def test_a_receiver_may_abort_a_message_and_its_gzip_answer_is_logged_readable(
        harness: Harness) -> None:
    async def abort(request: web.Request) -> web.StreamResponse:
        body = gzip.compress(b"not today: " + b"x" * 20_000)
        return web.Response(status=500, body=body, headers={
            "Content-Encoding": "gzip", "webhook-delivery": "abort-message"})

    receiver = Receiver(abort)
    async with receiving(receiver):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        assert await harness.round(harness.worker()) == 1
    row = await harness.delivery(event_id)
    assert (row["status"], row["attempts"]) == ("failed", 1), "no retry after abort-message"
    logged = await harness.pool.fetchval(
        "SELECT response_body FROM attempts WHERE delivery_id = $1", row["id"])
    assert logged.startswith("not today: xxx") and len(logged) == 4096
    assert await harness.pool.fetchval("SELECT count(*) FROM outbox") == 0, \
        "an aborted message is not reported as exhausted"


async def test_410_gone_disables_the_endpoint_and_tells_the_tenant(harness: Harness) -> None:
    receiver = Receiver(answer(410))
    async with receiving(receiver):
        sub = await harness.subscribe(receiver)
        first = await harness.emit()
        await harness.round(harness.worker())
        second = await harness.emit()
        assert await harness.round(harness.worker()) == 0
    assert len(receiver.received) == 1
    disabled = await harness.subscription(sub)
    assert not disabled.enabled
    assert disabled.disabled_reason == "endpoint answered 410 Gone"
    assert (await harness.delivery(first))["status"] == "failed"
    # Recorded, not attempted: enable + recover sends it (see the test below).
    later = await harness.delivery(second)
    assert (later["status"], later["last_outcome"], later["attempts"]) == ("failed", "disabled", 0)
    outbox = await harness.pool.fetch("SELECT payload FROM outbox")
    assert [CloudEvent.from_bytes(r["payload"]).type for r in outbox] == [
        "webhook.endpoint_disabled"]
    mail = await harness.pool.fetchrow("SELECT * FROM outgoing_mail")
    assert (mail["kind"], mail["audience"]) == ("endpoint_disabled", "tenant_admins")


async def test_failures_recorded_together_are_judged_in_turn(harness: Harness) -> None:
    """A batch of failures is written by a few statements, but each is judged against its
    endpoint as the ones before it left it: a 410 disables its endpoint, whose later
    failures in the batch fail without a retry, a second notice or an exhaustion notice,
    and another
    endpoint's failures in the same batch are due again."""
    gone, failing = await harness.subscribe(Receiver()), await harness.subscribe(Receiver())
    for _ in range(3):
        await harness.emit()
    # Each of `gone`'s is on its last attempt: a failure would exhaust it, but not once the
    # endpoint is disabled.
    await harness.pool.execute("UPDATE deliveries SET cycle_attempts = $2"
                               " WHERE subscription_id = $1", uuid.UUID(gone.id),
                               MAX_ATTEMPTS - 1)
    now = harness.clock.now
    claims = await deliveries.claim_due(
        harness.pool, BOX, now=now, lease_until=now + timedelta(seconds=30), limit=10,
        per_endpoint=4, saturated=[], worker="test")
    assert len(claims) == 6
    first_to_gone = next(claim for claim in claims if claim.subscription_id == gone.id)
    failed = [(claim, AttemptResult(Outcome.GONE, 3.0, status_code=410)
               if claim is first_to_gone
               else AttemptResult(Outcome.HTTP_5XX, 3.0, status_code=500), now)
              for claim in claims]
    async with harness.pool.acquire() as conn, conn.transaction():
        await harness.worker()._settle_failures(conn, failed)
    rows = await harness.pool.fetch(
        "SELECT subscription_id, status, attempts, last_status, next_attempt_at, locked_until"
        " FROM deliveries")
    by_endpoint = {sub.id: sorted((r["status"], r["attempts"], r["last_status"]) for r in rows
                                  if str(r["subscription_id"]) == sub.id)
                   for sub in (gone, failing)}
    assert by_endpoint == {gone.id: [("failed", 1, 410), ("failed", 1, 500), ("failed", 1, 500)],
                           failing.id: [("pending", 1, 500)] * 3}
    assert all(r["locked_until"] is None for r in rows)
    assert {r["next_attempt_at"] - now for r in rows if r["status"] == "pending"} == {
        RETRY_DELAYS[0]}
    assert not (await harness.subscription(gone)).enabled
    still = await harness.subscription(failing)
    assert still.enabled and still.failing_since == now
    assert await harness.pool.fetchval("SELECT count(*) FROM attempts") == 6
    outbox = await harness.pool.fetch("SELECT payload FROM outbox")
    assert [CloudEvent.from_bytes(r["payload"]).type for r in outbox] == [
        "webhook.endpoint_disabled"]
    assert await harness.pool.fetchval("SELECT array_agg(kind) FROM outgoing_mail") == [
        "endpoint_disabled"]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(harness: Harness, status: int) -> None:
    receiver = Receiver(answer(status, {"Retry-After": "120"}))
    worker = harness.worker()
    async with receiving(receiver):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        await harness.round(worker)
        row = await harness.delivery(event_id)
        assert row["next_attempt_at"] - harness.clock.now == timedelta(seconds=120)
        harness.clock.advance(timedelta(seconds=119))
        assert await harness.round(worker) == 0
        harness.clock.advance(timedelta(seconds=1))
        assert await harness.round(worker) == 1
    assert len(receiver.received) == 2


async def test_a_retry_after_too_large_for_a_timedelta_is_capped_and_the_attempt_recorded(
    harness: Harness,
) -> None:
    """`Retry-After: 100000000000000` raised OverflowError in the attempt's task: nothing was
    recorded, and the receiver got the message again each time its lease ran out."""
    receiver = Receiver(answer(429, {"Retry-After": "100000000000000"}))
    async with receiving(receiver):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        await harness.round(harness.worker())
    row = await harness.delivery(event_id)
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 429)
    assert row["locked_until"] is None
    assert row["next_attempt_at"] - harness.clock.now == timedelta(hours=24)


async def test_a_redirect_is_a_failure_and_is_not_followed(harness: Harness) -> None:
    elsewhere = Receiver()

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(elsewhere.url)

    receiver = Receiver(redirect)
    async with receiving(receiver, elsewhere):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        await harness.round(harness.worker())
    row = await harness.delivery(event_id)
    assert (row["status"], row["last_status"], row["last_outcome"]) == (
        "pending", 301, "redirect")
    assert elsewhere.received == []


async def test_an_endpoint_failing_for_five_days_is_disabled(harness: Harness) -> None:
    """Failures at least daily (an event every 12 hours, each failing) for five days; a
    single failure after a quiet week does not count (see the domain tests)."""
    receiver = Receiver(answer(500))
    worker = harness.worker()
    async with receiving(receiver):
        sub = await harness.subscribe(receiver)
        for _ in range(10):  # 0 h … 4 d 12 h
            await harness.emit()
            await harness.round(worker)
            harness.clock.advance(timedelta(hours=12))
        harness.clock.advance(timedelta(hours=-1))  # 4 d 23 h
        await harness.emit()
        await harness.round(worker)
        assert (await harness.subscription(sub)).enabled
        harness.clock.advance(timedelta(hours=1))
        await harness.emit()
        await harness.round(worker)
    disabled = await harness.subscription(sub)
    assert not disabled.enabled
    assert disabled.disabled_reason == "endpoint failing continuously for 5 days"
    pending = await harness.pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE status = 'pending'")
    assert pending == 0


async def test_a_success_ends_the_failing_run(harness: Harness) -> None:
    failing = True

    async def flaky(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500 if failing else 200)

    receiver = Receiver(flaky)
    worker = harness.worker()
    async with receiving(receiver):
        sub = await harness.subscribe(receiver)
        await harness.emit()
        await harness.round(worker)
        assert (await harness.subscription(sub)).failing_since
        failing = False
        harness.clock.advance(timedelta(seconds=6))
        await harness.round(worker)
    assert (await harness.subscription(sub)).failing_since is None


async def test_two_dispatchers_never_send_the_same_attempt(harness: Harness) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        return web.Response()

    receiver = Receiver(slow)
    async with receiving(receiver):
        await harness.subscribe(receiver)
        for _ in range(20):
            await harness.emit()
        first, second = harness.worker(), harness.worker()
        while await harness.pool.fetchval(
                "SELECT count(*) FROM deliveries WHERE status = 'pending'"):
            await asyncio.gather(harness.round(first), harness.round(second))
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == len(set(ids)) == 20


async def test_a_lease_left_by_a_dead_dispatcher_expires_and_the_retry_keeps_the_webhook_id(
    harness: Harness,
) -> None:
    receiver = Receiver()
    async with receiving(receiver):
        await harness.subscribe(receiver)
        event_id = await harness.emit()
        now = harness.clock.now
        # A dispatcher claims the delivery and dies before sending it.
        [lost] = await deliveries.claim_due(harness.pool, BOX, now=now, lease_until=now
                                       + timedelta(seconds=30), limit=10, per_endpoint=4,
                                       saturated=[], worker="dead")
        survivor = harness.worker()
        assert await harness.round(survivor) == 0
        harness.clock.advance(timedelta(seconds=31))
        assert await harness.round(survivor) == 1
    assert [r.webhook_id for r in receiver.received] == [lost.id]
    assert (await harness.delivery(event_id))["status"] == "delivered"


async def test_a_second_rotation_within_the_overlap_keeps_the_first_ones_promise(
        harness: Harness) -> None:
    """Rotated at 0 h and again at 1 h: the original secret signs until 24 h as the first
    rotation promised, the second secret until 25 h, the newest always."""
    receiver = Receiver()
    async with receiving(receiver):
        sub = await harness.subscribe(receiver)
        first, second, third = receiver.secrets[0], generate_secret(), generate_secret()
        receiver.secrets.extend([second, third])
        tenant, sid, start = uuid.UUID(TENANT), uuid.UUID(sub.id), harness.clock.now
        await commands.rotate_secret(harness.pool, BOX, tenant, sid, second, harness.clock.now)
        harness.clock.advance(timedelta(hours=1))
        rotated = await commands.rotate_secret(harness.pool, BOX, tenant, sid, third,
                                            harness.clock.now)
        assert rotated.previous_until == start + timedelta(hours=25)
        for at, signing in ((timedelta(hours=23, minutes=59), [first, second, third]),
                            (timedelta(hours=24, minutes=1), [second, third]),
                            (timedelta(hours=25, minutes=1), [third])):
            harness.clock.now = start + at
            await harness.emit()
            assert await harness.round(harness.worker()) == 1
            assert receiver.received[-1].verified_with == signing, at


async def test_events_while_an_endpoint_is_disabled_are_delivered_after_enable_and_recover(
        harness: Harness) -> None:
    receiver = Receiver()
    async with receiving(receiver):
        sub = await harness.subscribe(receiver)
        async with harness.pool.acquire() as conn:
            disabled_at = harness.clock.now
            assert await commands.disable_endpoint(conn, sub.id, "gone", disabled_at)
        events = [await harness.emit() for _ in range(3)]
        assert await harness.round(harness.worker()) == 0, "a disabled endpoint is not called"
        assert {(await harness.delivery(e))["status"] for e in events} == {"failed"}

        await commands.enable_subscription(harness.pool, uuid.UUID(TENANT), uuid.UUID(sub.id))
        recovered = await commands.recover(harness.pool, uuid.UUID(TENANT), uuid.UUID(sub.id),
                                        disabled_at - timedelta(minutes=1), harness.clock.now)
        assert recovered == 3
        assert await harness.round(harness.worker()) == 3
    assert len(receiver.received) == 3
    assert {(await harness.delivery(e))["status"] for e in events} == {"delivered"}


async def test_the_delivery_log_is_purged_after_its_retention_but_pending_work_never(
        harness: Harness) -> None:
    receiver = Receiver()
    async with receiving(receiver):
        await harness.subscribe(receiver)
        delivered = await harness.emit()
        assert await harness.round(harness.worker()) == 1
        waiting = await harness.emit()
    old = datetime.now(UTC) - timedelta(days=31)
    await harness.pool.execute("UPDATE deliveries SET created_at = $1", old)
    assert await commands.purge_log(harness.pool, datetime.now(UTC) - timedelta(days=30), 100) == 1
    assert await harness.pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE event_id = $1", delivered) == 0
    assert await harness.pool.fetchval("SELECT count(*) FROM attempts") == 0
    assert (await harness.delivery(waiting))["status"] == "pending"
    assert await commands.purge_log(harness.pool, datetime.now(UTC), 100) == 0


async def test_one_tenants_hanging_endpoints_leave_other_tenants_their_slots(
        harness: Harness) -> None:
    """Tenant A's 100 hanging endpoints want 200 attempts, far more than the 16 slots in all;
    A gets its share (8) and tenant B's healthy endpoint is delivered past A's backlog."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response()

    other = str(uuid.uuid4())
    stuck, healthy = Receiver(hang), Receiver()
    worker = harness.worker(per_endpoint=2, max_in_flight=16, per_tenant=8)

    async def healthy_deliveries() -> int:
        await worker.dispatch_due()
        return len(healthy.received)

    async with receiving(stuck, healthy):
        await harness.endpoints_of_tenant_a(stuck, 100)
        await harness.subscribe(healthy, tenant=other)
        for _ in range(3):
            await harness.emit()
        await harness.emit(tenant=other)
        await eventually(healthy_deliveries, lambda n: n == 1, within=2.5,
                         what="tenant B's delivery past tenant A's hanging endpoints")
        assert len(stuck.received) == 8, "tenant A holds exactly its share"
        release.set()
        await worker.drain()


async def test_a_tenants_silent_endpoints_hold_a_few_slots_until_they_answer(
        harness: Harness) -> None:
    """Tenant A's 20 new endpoints hang: they get 3 attempts in flight (their room), not A's
    whole share, and A's endpoint that has answered before is delivered beside them. Once
    they answer they are answering endpoints: everything waiting for them goes, through the
    room a few at a time and then on their own slots. Holding A's whole share, they had
    started 16 attempts at once (64 by default), timed out together and started as many
    again, a burst each time that other tenants' webhooks waited behind."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response()

    stuck, live = Receiver(hang), Receiver()
    worker = harness.worker(per_endpoint=2, max_in_flight=64, per_tenant=16, silent_per_tenant=3)

    async def arrived() -> tuple[int, int]:
        await worker.dispatch_due()
        return len(live.received), len(stuck.received)

    async with receiving(stuck, live):
        await harness.subscribe(live)
        await harness.emit()
        assert await harness.round(worker) == 1, "a new endpoint answers through the room"
        await harness.endpoints_of_tenant_a(stuck, 20)
        for _ in range(2):
            await harness.emit()
        await eventually(arrived, lambda n: n == (3, 3), within=2.5,
                         what="A's answering endpoint delivered, 3 attempts at the silent ones")
        for _ in range(5):  # rounds while the silent ones hang start no more
            await worker.dispatch_due()
        assert len(stuck.received) == 3
        assert await harness.pool.fetchval(
            "SELECT count(*) FROM subscriptions WHERE answering") == 1
        release.set()
        await eventually(arrived, lambda n: n == (3, 40), within=10,
                         what="all 40 deliveries once the silent endpoints answer")
        await worker.drain()
    assert await harness.pool.fetchval(
        "SELECT count(*) FROM subscriptions WHERE answering") == 21


async def test_an_endpoint_is_silent_while_its_attempts_get_no_answer(harness: Harness) -> None:
    """A new endpoint is silent; any HTTP answer, an error status too, makes it answering; an
    attempt that gets no answer (no connection here) makes it silent again."""
    failing = Receiver(answer(500))
    worker = harness.worker()

    async def answering() -> bool:
        return bool(await harness.pool.fetchval(
            "SELECT answering FROM subscriptions WHERE id = $1", uuid.UUID(sub.id)))

    async with receiving(failing):
        sub = await harness.subscribe(failing)
        assert not await answering(), "new"
        await harness.emit()
        assert await harness.round(worker) == 1
        assert await answering(), "a 500 is an answer"
    harness.clock.advance(timedelta(hours=1))  # the retry is due; nothing listens now
    assert await harness.round(worker) == 1
    assert not await answering(), "no connection"


async def test_handed_over_deliveries_are_leased_only_as_far_as_the_slots_go(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six fresh deliveries for an endpoint with two slots: two are leased at once, the rest
    by the claim rounds that the endpoint's full slots start. All six were leased, and four
    released again: a wasted lease and release per delivery under load, when a fetch brings
    several entries for one endpoint."""
    leased_by_id: list[int] = []
    claim_ids = deliveries.claim_ids

    async def counting(pool: asyncpg.Pool, box: SecretBox, ids: list[str],
                       **kwargs: Any) -> list[deliveries.Claim]:
        leased_by_id.append(len(ids))
        return await claim_ids(pool, box, ids, **kwargs)

    monkeypatch.setattr(deliveries, "claim_ids", counting)
    receiver, fresh = Receiver(), list[deliveries.Fresh]()
    # No poll round while the six are written (a loaded machine took over its 1 s once, and
    # the round took two before the hand-over): the rounds here are the slots' own. The
    # worker's first round, at its start, is over before anything is written (on a loaded
    # machine it once ran late and took two, so the hand-over leased none).
    worker = harness.worker(per_endpoint=2, poll_interval=30.0)
    first_round_over = asyncio.Event()
    dispatch_due = worker.work

    async def watched() -> int:
        try:
            return await dispatch_due()
        finally:
            first_round_over.set()

    worker.work = watched

    async def arrived() -> int:
        return len(receiver.received)

    async with receiving(receiver), running(worker):
        await asyncio.wait_for(first_round_over.wait(), timeout=10)
        await harness.subscribe(receiver)
        for _ in range(6):
            await harness.emit(fresh=fresh)
        worker.offer(fresh)
        await eventually(arrived, lambda n: n == 6, what="all six delivered")
    assert leased_by_id == [2]


async def test_deliveries_left_by_a_hand_over_go_when_its_slots_empty_before_filling(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint with two slots, one busy: of six handed over, one is leased. The busy
    attempt answers before that one starts, so the endpoint never reaches both slots busy
    again, and no slot given back is one that work waited for by that measure. The five
    left must not wait for the poll (here 30 s; it failed CI once at 1 s per delivery)."""
    first_in, let_go = asyncio.Event(), asyncio.Event()

    async def first_waits(request: web.Request) -> web.StreamResponse:
        if not first_in.is_set():
            first_in.set()
            await let_go.wait()
        return web.Response()

    claim_ids = deliveries.claim_ids
    worker = harness.worker(per_endpoint=2, poll_interval=30.0)

    async def after_the_busy_one_answered(pool: asyncpg.Pool, box: SecretBox, ids: list[str],
                                          **kwargs: Any) -> list[deliveries.Claim]:
        if first_in.is_set() and not let_go.is_set():
            let_go.set()
            await eventually(lambda: _busy(worker), lambda busy: not busy,
                             what="the busy attempt answered", within=5)
        return await claim_ids(pool, box, ids, **kwargs)

    monkeypatch.setattr(deliveries, "claim_ids", after_the_busy_one_answered)
    receiver = Receiver(first_waits)

    async def arrived() -> int:
        return len(receiver.received)

    async with receiving(receiver), running(worker):
        await harness.subscribe(receiver)
        first = list[deliveries.Fresh]()
        await harness.emit(fresh=first)
        worker.offer(first)
        await first_in.wait()
        fresh = list[deliveries.Fresh]()
        for _ in range(6):
            await harness.emit(fresh=fresh)
        worker.offer(fresh)
        await eventually(arrived, lambda n: n == 7, what="all seven delivered", within=5)


async def _busy(worker: DeliveryWorker) -> int:
    return sum(worker.slots.busy.values())


async def test_a_delivery_due_amid_a_saturated_tenants_backlog_is_claimed(
        harness: Harness) -> None:
    """Tenant B's delivery that comes due amid tenant A's backlog (a retry, or one that
    waited for its endpoint's slots), with A's waiting deliveries both older and newer than
    it, is claimed in the next round while A has no free slot. A round that read only a
    stretch at each end of one line of every endpoint's due deliveries never reached it."""
    other = str(uuid.uuid4())
    stuck, healthy = Receiver(), Receiver()
    async with receiving(stuck, healthy):
        await harness.endpoints_of_tenant_a(stuck, 100)
        await harness.subscribe(healthy, tenant=other)
        for _ in range(3):
            await harness.emit()
        amid = (await harness.delivery(await harness.emit(tenant=other)))["id"]
        for _ in range(3):
            await harness.emit()
        assert await harness.pool.fetchval(
            "SELECT count(DISTINCT next_attempt_at) FROM deliveries") == 7
        now = datetime.now(UTC)
        claims = await deliveries.claim_due(
            harness.pool, BOX, now=now, lease_until=now + timedelta(seconds=30), limit=10,
            per_endpoint=4, saturated=[], saturated_tenants=[uuid.UUID(TENANT)], worker="w")
    assert [claim.id for claim in claims] == [amid]


async def test_attempts_started_together_leave_the_event_loop_to_others_between_them(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead tenant's whole share of slots comes back at once (its attempts time out
    together) and a claim round starts as many again: their first steps (signing, the
    request, the connection) ran back to back in one turn of the event loop, and another
    tenant's webhooks in the same process waited for all of them (the dispatcher's loop lag
    12-14 ms at that moment, once a run). Another task must get a turn between them."""
    turns = 0
    started_at_turn: list[int] = []
    release = asyncio.Event()

    async def counting() -> None:
        nonlocal turns
        while not release.is_set():
            turns += 1
            await asyncio.sleep(0)

    async def first_step_then_hang(session: Any, policy: Any, claim: Any,
                                   now: datetime) -> AttemptResult:
        started_at_turn.append(turns)
        await release.wait()
        return AttemptResult(Outcome.TIMEOUT, 15_000.0, error="timed out")

    async def first_steps() -> int:
        return len(started_at_turn)

    monkeypatch.setattr("resonanz.webhook_dispatcher.delivery.post_webhook",
                        first_step_then_hang)
    worker = harness.worker(per_endpoint=1, per_tenant=64)
    async with receiving(stuck := Receiver()):
        await harness.endpoints_of_tenant_a(stuck, 64)
        await harness.emit()
        counter = asyncio.create_task(counting())
        try:
            assert await worker.dispatch_due() == 64
            await eventually(first_steps, lambda n: n == 64,
                             what="the 64 attempts' first steps")
        finally:
            release.set()
            await counter
            await worker.drain()
    assert len(set(started_at_turn)) >= 32, sorted(set(started_at_turn))


async def test_failures_that_come_together_leave_the_pool_connections_to_lend(
        harness: Harness, database_url: str) -> None:
    """The attempts a dead tenant started together fail together (its whole share of slots
    times out at once). Recording a failure takes its endpoint's lock, held here by another
    session, so the recording waits on its connection: failures that come together are
    recorded in one transaction, and the pool (10) still lends the consumer and the claims
    a connection."""
    release = asyncio.Event()

    async def fail_together(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=500)

    stuck = Receiver(fail_together)
    worker = harness.worker(per_endpoint=1, per_tenant=32)
    observer = await asyncpg.connect(database_url)

    async def attempts_arrived() -> int:
        return len(stuck.received)

    async def recordings_waiting() -> int:
        return int(await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"))

    try:
        async with receiving(stuck), harness.pool.acquire() as holder, holder.transaction():
            await harness.endpoints_of_tenant_a(stuck, 20)
            await harness.emit()
            assert await worker.dispatch_due() == 20
            await eventually(attempts_arrived, lambda n: n == 20,
                             what="the 20 attempts under way")
            await holder.execute("SELECT 1 FROM subscriptions WHERE tenant_id = $1 FOR UPDATE",
                                 uuid.UUID(TENANT))
            release.set()
            await eventually(recordings_waiting, lambda n: n >= 1, what="a recording waiting")
            async with asyncio.timeout(2):
                assert await harness.pool.fetchval("SELECT 1") == 1, "the pool lends one"
            assert await recordings_waiting() == 1
        await worker.drain()
    finally:
        await observer.close()
    assert await harness.pool.fetchval(
        "SELECT count(*) FROM attempts WHERE outcome <> 'success'") == 20


async def test_recording_an_endpoints_failure_does_not_hold_up_the_fan_out_to_it(
        harness: Harness) -> None:
    """A failure is judged under its endpoint's lock; the consumer meanwhile goes on
    writing deliveries for that endpoint (and, in the same batch, for other tenants)."""
    sub = await harness.subscribe(Receiver())
    async with harness.pool.acquire() as judging, judging.transaction():
        await subscriptions.lock_endpoints_health(judging, [sub.id])
        async with asyncio.timeout(2):
            event_id = await harness.emit()
    assert (await harness.delivery(event_id))["subscription_id"] == uuid.UUID(sub.id)


async def test_a_hanging_endpoint_only_holds_its_own_slots(harness: Harness) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response()

    stuck, healthy = Receiver(hang), Receiver()
    worker = harness.worker(per_endpoint=2)

    async def healthy_deliveries() -> int:
        await worker.dispatch_due()
        return len(healthy.received)

    async with receiving(stuck, healthy):
        await harness.subscribe(stuck)
        await harness.subscribe(healthy)
        for _ in range(5):
            await harness.emit()
        await eventually(healthy_deliveries, lambda n: n == 5, within=2.5,
                         what="deliveries to the healthy endpoint past the hanging one")
        assert len(stuck.received) == 2, "the hanging endpoint holds exactly its own slots"
        release.set()
        await worker.drain()


def snapshot() -> EntrySnapshot:
    now = datetime.now(UTC)
    return EntrySnapshot(id=str(uuid.uuid4()), version=1, widget_id=None, status="new",
                         rating=4, category=None, assignee=None, created_at=now,
                         updated_at=now)


def deleted_event(tenant: str = TENANT) -> CloudEvent:
    entry = snapshot()
    return new_event(source="tests", tenant_id=tenant, subject=entry.id,
                     data=FeedbackDeleted(entry=entry))


async def test_the_consumer_hands_fresh_deliveries_to_its_worker_once_committed(
        harness: Harness) -> None:
    """Deliveries an event fanned out go to the delivery worker of the same process once the
    consumer's transaction has committed, leased by id: sent although no claim round runs
    (the worker's loop is not even started). A batch that rolls back hands over nothing."""
    receiver = Receiver()
    worker = harness.worker()
    handoff = HandOff()
    handoff.worker = worker

    async def boom(conn: asyncpg.Connection, event: CloudEvent, data: EventData) -> None:
        raise ValueError("a later event of the batch fails")

    handlers = build_handlers(BOX, handoff=handoff).on(FeedbackRestored, boom)
    loop = ConsumerLoop(harness.pool, Settings(), group=f"handoff-{uuid.uuid4().hex[:6]}",
                        topics=[], handlers=handlers)
    async with receiving(receiver):
        await harness.subscribe(receiver, events=("feedback_deleted",))
        rolled_back, failing = deleted_event(), deleted_event()
        failing = failing.model_copy(update={"type": FeedbackRestored.cloudevents_type()})
        with pytest.raises(ValueError):
            await loop.apply_batch([(rolled_back, handlers[rolled_back.type]),
                                    (failing, handlers[failing.type])])
        event = deleted_event()
        assert await loop.apply_batch([(event, handlers[event.type])]) == ["processed"]
        await eventually(lambda: asyncio.sleep(0, len(receiver.received)), lambda n: n >= 1,
                         within=10, what="the handed-over delivery")
        await worker.drain()
    assert (await harness.delivery(event.id))["status"] == "delivered"
    assert len(receiver.received) == 1
    assert await harness.pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE event_id = $1", rolled_back.id) == 0


async def test_one_statement_fans_out_a_batch_across_tenants(harness: Harness) -> None:
    """A consumer's batch of new entries becomes its deliveries in one statement: each
    event to every subscription of its own tenant only, a disabled endpoint's recorded as
    failed and not handed over, and the same batch again adds nothing."""
    other, silent = str(uuid.uuid4()), str(uuid.uuid4())
    first, second, third = Receiver(), Receiver(), Receiver()
    subs = [await harness.subscribe(first), await harness.subscribe(second),
            await harness.subscribe(third, tenant=other)]
    async with harness.pool.acquire() as conn:
        assert await commands.disable_endpoint(conn, subs[1].id, "gone", harness.clock.now)
    tenants = [TENANT, other, silent, TENANT]
    events = [new_event(source="tests", tenant_id=tenant, subject=str(uuid.uuid4()),
                        data=FeedbackCreated(entry=snapshot(), body=f"entry {n}"))
              for n, tenant in enumerate(tenants)]
    batch = [outgoing(event, event.payload()) for event in events]
    async with harness.pool.acquire() as conn, conn.transaction():
        fresh = await deliveries.fan_out(conn, ("feedback_created",), batch)
    assert sorted((f.tenant_id, f.subscription_id) for f in fresh) == sorted(
        [(TENANT, subs[0].id), (other, subs[2].id), (TENANT, subs[0].id)])
    rows = await harness.pool.fetch(
        "SELECT event_id, subscription_id, tenant_id, status, body FROM deliveries"
        " WHERE event_id = ANY($1::uuid[])", [e.id for e in events])
    got = sorted((str(r["event_id"]), str(r["subscription_id"]), r["status"]) for r in rows)
    assert got == sorted([(events[0].id, subs[0].id, "pending"),
                          (events[0].id, subs[1].id, "failed"),
                          (events[1].id, subs[2].id, "pending"),
                          (events[3].id, subs[0].id, "pending"),
                          (events[3].id, subs[1].id, "failed")])
    assert {str(r["event_id"]): r["body"] for r in rows if r["status"] == "pending"} == {
        o.event_id: o.body for o in batch if o.tenant_id != silent}
    async with harness.pool.acquire() as conn, conn.transaction():
        assert await deliveries.fan_out(conn, ("feedback_created",), batch) == []


def pages_read(explained: Any) -> int:
    """Shared buffers an EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) says its statement read."""
    top = plan_of(explained)
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


async def test_a_claim_reads_a_few_pages_however_long_a_backlog_the_statistics_missed(
        harness: Harness, database_url: str) -> None:
    """A healthy queue is near empty when its statistics are taken; a tenant whose 100
    endpoints hang fills it with thousands of waiting deliveries before they are taken again.
    Claiming tenant B's fresh delivery, by id (the hand-off) or in a claim round that leaves
    out the saturated tenant A, must still reach it through a few pages: it did read
    every waiting delivery once per candidate (20-110 ms a claim by id, 0.8-1.4 s a round
    beside 5,000 waiting)."""
    other = str(uuid.uuid4())
    stuck, healthy = Receiver(), Receiver()
    async with receiving(stuck, healthy):
        await harness.endpoints_of_tenant_a(stuck, 100)
        await harness.subscribe(healthy, tenant=other)
        for _ in range(100):  # a history of delivered webhooks, nothing waiting
            await harness.emit(tenant=other)
        await harness.pool.execute("UPDATE deliveries SET status = 'delivered'")
        schema = await harness.pool.fetchval("SELECT current_schema()")
        await query(database_url, f"ALTER TABLE {schema}.deliveries"
                                  " SET (autovacuum_enabled = false)")
        await query(database_url, f"ANALYZE {schema}.deliveries")
        for _ in range(30):  # 3,000 waiting for tenant A's hanging endpoints
            await harness.emit()
        fresh = (await harness.delivery(await harness.emit(tenant=other)))["id"]
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=30)
        async with harness.pool.acquire() as conn:
            for statement, args, bound in (
                    (deliveries.CLAIM_IDS_SQL, (now, lease, [fresh], "w"), 30),
                    # A round reads the endpoints of tenants with free slots only.
                    (deliveries.CLAIM_SQL,
                     (now, lease, 10, 4, [], "w", [uuid.UUID(TENANT)], [], [], 8), 100)):
                tr = conn.transaction()
                await tr.start()
                try:
                    plan = await conn.fetchval(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, *args)
                    claimed = await conn.fetch(
                        "SELECT id FROM deliveries WHERE locked_by = 'w'")
                finally:
                    await tr.rollback()
                assert [r["id"] for r in claimed] == [fresh]
                # Measured: 12 and 34 pages (61 when a round read both ends of one due index);
                # 276 and 301 when the due index was walked.
                assert pages_read(plan) < bound, (statement[:40], pages_read(plan))


async def test_the_queue_gauges_read_the_waiting_deliveries_not_the_log(
        harness: Harness, database_url: str) -> None:
    """Depth and oldest age are taken every 5 s from the waiting deliveries alone: the log of
    delivered ones, kept for days, is no part of their cost. The oldest age alone was planned
    as a walk of the created_at index from the oldest delivered row to the first waiting one
    (it read every page of 3,000 delivered rows here; 100 ms beside 200,000)."""
    stuck = Receiver()
    async with receiving(stuck):
        await harness.endpoints_of_tenant_a(stuck, 100)
        for _ in range(30):  # 3,000 delivered, older than anything waiting
            await harness.emit()
        await harness.pool.execute("UPDATE deliveries SET status = 'delivered'")
        waiting = [await harness.emit(), await harness.emit()]  # 200 waiting
        schema = await harness.pool.fetchval("SELECT current_schema()")
        await query(database_url, f"VACUUM ANALYZE {schema}.deliveries")
        now = datetime.now(UTC)
        stats = await views.queue_stats(harness.pool, now)
        oldest = await harness.delivery(waiting[0])
        assert stats.depth == 200
        assert stats.oldest_age_seconds == pytest.approx(
            (now - oldest["created_at"]).total_seconds(), abs=0.01)
        plan = await harness.pool.fetchval(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + views.QUEUE_STATS_SQL, now)
        # Measured: 42 pages (286 when the oldest age walked the created_at index).
        assert pages_read(plan) < 100, pages_read(plan)
