"""Use cases: each is one transaction holding the state change, its audit rows and events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg

from resonanz.shared.caller import Caller
from resonanz.shared.contracts import EntryIn
from resonanz.shared.db import GroupCommit, Grouped
from resonanz.shared.errors import DomainError, NotFound
from resonanz.shared.events import (
    EventData,
    FeedbackAssigned,
    FeedbackCreated,
    FeedbackDeleted,
    FeedbackRestored,
    PayoutCompleted,
    PayoutFailed,
    new_event,
)
from resonanz.shared.outbox import enqueue
from resonanz.shared.params import parse_uuid

from . import payouts, reward_limits, store
from .claims import language_for_entry
from .domain import (
    REVIEW_EVENTS,
    Entry,
    Patch,
    RewardLimitReached,
    automatic_review,
    check_reviewable,
    check_settlement,
    plan_update,
    reward_of,
)
from .scoring import DUPLICATE_MAX_DISTANCE, Fingerprint, fingerprint, score_feedback

SOURCE = "resonanz/feedback"
AUTO_REVIEWER = "system:quality-rules"


async def emit(conn: asyncpg.Connection, topic: str, entry: Entry, data: EventData,
               request_id: str | None) -> None:
    await enqueue(conn, new_event(data, source=SOURCE, tenant_id=entry.tenant_id,
                                  subject=entry.id, request_id=request_id), topic)


# --- create ----------------------------------------------------------------------------


class Intake:
    """How new entries reach the database: concurrent requests' lookups in one statement,
    their inserts in one transaction (each request still answered once its own row is
    durable). Two round trips per group of requests instead of several per request."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.lookups: Grouped[store.Lookup, store.Looked] = Grouped(
            pool, partial(store.look_up, max_distance=DUPLICATE_MAX_DISTANCE),
            transaction=False)
        self.writes: GroupCommit[store.NewEntry] = GroupCommit(pool, store.insert_entries,
                                                               one_statement=True)


async def create_entry(intake: Intake, topic: str, actor: Caller, body: EntryIn) -> Entry:
    """Score the entry, then store it with its audit row and event: with other requests'
    entries in one transaction (the intake's group commit), or, when the campaign reviews
    it at once, in a transaction of its own with the review."""
    entry_id = str(uuid.uuid4())
    text = body.body or ""
    own = fingerprint(entry_id, text)
    found = await intake.lookups.submit(store.Lookup(actor.tenant_id, body.widget_id,
                                                     own.signed))
    _refuse_foreign_widget(actor.tenant_id, body.widget_id, found.widget_owner)
    quality = score_feedback(text, body.rating, body.answers,
                             [Fingerprint.from_signed(i, h) for i, h in found.near])
    entry = Entry.fresh(
        entry_id, actor.tenant_id, datetime.now(UTC), widget_id=body.widget_id,
        body=body.body, rating=body.rating, category=body.category, metadata=body.metadata,
        customer_email=body.customer_email, answers=body.answers,
        quality=quality.as_dict(), quality_score=quality.score)
    campaign = found.campaign
    if campaign is not None and reward_of(campaign).kind == "none":
        # Nothing to pay, so nothing to review: kept out of the rewards queue.
        entry = replace(entry, reward_status="none")
    verdict = (None if entry.reward_status == "none"
               else automatic_review(campaign, entry.quality_score,
                                    quality.label == "spam"))
    # The text and the email stay here (docs/privacy.md): whoever needs them asks.
    event = new_event(FeedbackCreated(entry=entry.snapshot()),
                      source=SOURCE, tenant_id=entry.tenant_id, subject=entry.id,
                      request_id=actor.request_id)
    new = store.NewEntry(entry, own.signed, actor.actor_id, event, topic)
    if verdict is None:
        await intake.writes.submit(new)
        return entry
    async with intake.pool.acquire() as conn, conn.transaction():
        await store.insert_entries(conn, [new])
        try:
            async with conn.transaction():  # a savepoint: a refusal keeps the entry
                return await _review(conn, topic, entry, verdict, AUTO_REVIEWER,
                                     "automatic: quality score threshold", actor.request_id)
        except RewardLimitReached:
            # Over the campaign's budget or the shopper's limit: a person decides (the
            # shop may raise the budget); the shopper's submission is not refused.
            return entry


def _refuse_foreign_widget(tenant_id: str, widget_id: str | None,
                           owner: uuid.UUID | None) -> None:
    """Another tenant's widget is refused like any id outside the caller's tenant. A
    widget we have not heard of yet passes: the gateway asked the widgets service, and
    one created a moment ago may still be on its way to us."""
    if widget_id is not None and owner is not None and owner != parse_uuid(tenant_id):
        raise NotFound("widget not found", details=[
            {"field": "widget_id", "message": "no such widget in this organization",
             "value": widget_id}])


# --- triage ----------------------------------------------------------------------------


async def update_entry(pool: asyncpg.Pool, topic: str, actor: Caller, entry_id: str,
                       patch: Patch) -> Entry:
    async with pool.acquire() as conn, conn.transaction():
        entry = await store.get_entry(conn, actor.tenant_id, entry_id, for_update=True)
        plan = plan_update(entry, patch, datetime.now(UTC))
        if not plan.changes_anything:
            return entry
        before = entry
        entry = await store.update_entry(conn, entry, plan.columns)
        note_id = None
        if patch.note:
            note_id = await store.insert_note(conn, entry, actor.actor_id, patch.note)
        await store.record_audit(conn, entry, actor.actor_id, "updated",
                                 store.audited(before), {**store.audited(entry),
                                                        **({"note": patch.note} if note_id
                                                           else {})})
        for data in plan.events(before, entry, note_id, actor.actor_id):
            await emit(conn, topic, entry, data, actor.request_id)
    return entry


async def delete_entry(pool: asyncpg.Pool, topic: str, actor: Caller, entry_id: str) -> None:
    """Soft delete: gone from every read, kept for the audit trail."""
    async with pool.acquire() as conn, conn.transaction():
        entry = await store.get_entry(conn, actor.tenant_id, entry_id, for_update=True)
        deleted = await store.update_entry(conn, entry, {"deleted_at": datetime.now(UTC)})
        await store.record_audit(conn, deleted, actor.actor_id, "deleted",
                                 store.audited(entry), store.audited(deleted))
        await emit(conn, topic, deleted,
                   FeedbackDeleted(entry=deleted.snapshot()), actor.request_id)


async def restore_entry(pool: asyncpg.Pool, topic: str, actor: Caller, entry_id: str
                        ) -> Entry:
    """Undo a soft delete: the entry is back in every read, with its audit row and a
    `feedback.restored` event (analytics counts it again) in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        entry = await store.get_deleted_entry(conn, actor.tenant_id, entry_id)
        restored = await store.update_entry(conn, entry, {"deleted_at": None})
        await store.record_audit(conn, restored, actor.actor_id, "restored",
                                 store.audited(entry), store.audited(restored))
        await emit(conn, topic, restored,
                   FeedbackRestored(entry=restored.snapshot()), actor.request_id)
    return restored


async def reassign_open_entries(conn: asyncpg.Connection, topic: str, tenant_id: str,
                                user_id: str, owner_id: str | None, request_id: str | None
                                ) -> int:
    """A removed member's open entries go to the organization owner."""
    entries = await store.open_entries_of(conn, tenant_id, user_id)
    for entry in entries:
        after = await store.update_entry(conn, entry, {"assignee": owner_id})
        await store.record_audit(conn, after, "system:user-removed", "reassigned",
                                 store.audited(entry), store.audited(after))
        await emit(conn, topic, after,
                   FeedbackAssigned(entry=after.snapshot(), from_assignee=user_id,
                                    to_assignee=owner_id), request_id)
    return len(entries)


# --- rewards ---------------------------------------------------------------------------


async def review_reward(pool: asyncpg.Pool, topic: str, actor: Caller, entry_id: str,
                        verdict: str, reason: str | None, widgets: payouts.VoucherPools
                        ) -> Entry:
    """Approve or reject an entry's reward, once: a second review is a 409. The widget's
    reward is asked of the widgets service first when this service has not heard of it yet
    (`payouts.learn_campaign`), so an approval never pays nothing for that."""
    await payouts.learn_campaign(pool, widgets, actor.tenant_id, entry_id)
    async with pool.acquire() as conn, conn.transaction():
        entry = await store.get_entry(conn, actor.tenant_id, entry_id, for_update=True)
        return await _review(conn, topic, entry, verdict, actor.actor_id, reason,
                             actor.request_id)


async def _review(conn: asyncpg.Connection, topic: str, entry: Entry, verdict: str,
                  reviewer: str | None, reason: str | None, request_id: str | None) -> Entry:
    """One review in the caller's transaction. An approval the campaign's limits do not
    allow raises RewardLimitReached (409) before anything is written; a rejection is
    never limited."""
    check_reviewable(entry.reward_status)
    campaign = await store.campaign_of(conn, entry.tenant_id, entry.widget_id)
    if verdict == "approved":
        campaign = await reward_limits.check_approval(conn, entry, campaign)
    reward = reward_of(campaign)
    reviewed = await store.update_entry(conn, entry, {
        "reward_status": verdict, "reviewed_by": reviewer,
        "reviewed_at": datetime.now(UTC), "review_reason": reason})
    await store.record_audit(conn, reviewed, reviewer, f"reward_{verdict}",
                             store.audited(entry), store.audited(reviewed))
    if verdict == "approved" and reward.kind != "none":
        await store.insert_payout(conn, reviewed, reward)
    # The reason stays out of the event (the webhook asks for it: RewardReviewed).
    data = REVIEW_EVENTS[verdict](
        response_id=entry.id, reward_id=entry.id, widget_id=entry.widget_id,
        amount=reward.amount, currency=reward.currency, reviewed_by=reviewer)
    await emit(conn, topic, reviewed, data, request_id)
    return reviewed


async def settle_payout(pool: asyncpg.Pool, topic: str, actor: Caller, payout_id: str,
                        to: str, reference: str | None, reason: str | None
                        ) -> dict[str, Any]:
    """The shop marks a payout paid (cash it has transferred), failed or cancelled, once: a
    second or conflicting mark is a 409. `payout.completed` (the integrators' webhook and
    the shopper's "paid" email) follows only a payout marked paid, `payout.failed` the
    others; the ledger books a paid cash payout in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        payout = await store.payout_for_update(conn, actor.tenant_id, payout_id)
        check_settlement(payout["kind"], payout["status"], to)
        return await record_settlement(
            conn, topic, payout, to, "manual" if to == "paid" else None, reference, reason,
            actor.actor_id, actor.request_id)


async def record_settlement(conn: asyncpg.Connection, topic: str, payout: dict[str, Any],
                            to: str, method: str | None, reference: str | None,
                            reason: str | None, actor_id: str | None,
                            request_id: str | None = None) -> dict[str, Any]:
    """A payout (locked by the caller) paid, failed or cancelled, with its event:
    `payout.completed` only when paid, `payout.failed` otherwise."""
    settled = await store.settle_payout(conn, payout, to, method, reference, reason, actor_id)
    data: EventData
    if to == "paid":
        data = PayoutCompleted(payout_id=payout["id"], response_id=payout["entry_id"],
                               amount=payout["amount"], currency=payout["currency"],
                               language=await language_for_entry(conn, payout["entry_id"]))
    else:
        data = PayoutFailed(payout_id=payout["id"], response_id=payout["entry_id"],
                            amount=payout["amount"], currency=payout["currency"],
                            status=to, reason=reason)
    await enqueue(conn, new_event(data, source=SOURCE, tenant_id=payout["tenant_id"],
                                  subject=payout["entry_id"], request_id=request_id), topic)
    return settled


def review_json(entry: Entry) -> dict[str, Any]:
    return {"reward_status": entry.reward_status, "reviewed_by": entry.reviewed_by,
            "reviewed_at": entry.reviewed_at, "reason": entry.review_reason}


# --- many entries at once (bulk triage) -------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One entry of a bulk change: the entry as it is now, or why it was refused."""

    id: str
    entry: Entry | None = None
    changed: bool = False
    error: DomainError | None = None


# Entries changed at the same time by one bulk request (each its own transaction and
# connection): 500 one after another took 7-9 s, near the gateway's 10 s upstream timeout.
BULK_CONCURRENCY = 4


async def _each(ids: list[str], change: Callable[[str], Awaitable[Outcome]]
                ) -> list[Outcome]:
    """`change` for every id, a few at a time; the outcomes in the order of `ids`."""
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(entry_id: str) -> Outcome:
        async with gate:
            try:
                return await change(entry_id)
            except DomainError as refused:
                return Outcome(entry_id, error=refused)
    return list(await asyncio.gather(*(one(entry_id) for entry_id in ids)))


async def update_many(pool: asyncpg.Pool, topic: str, actor: Caller, ids: list[str],
                      patch: Patch) -> list[Outcome]:
    """`update_entry` for each id, each in its own transaction with its audit row and
    events: one refusal (an unknown id, an impossible move) leaves the others done."""
    async def change(entry_id: str) -> Outcome:
        before = await store.get_entry(pool, actor.tenant_id, entry_id)
        after = await update_entry(pool, topic, actor, entry_id, patch)
        return Outcome(entry_id, after, changed=after.version != before.version)
    return await _each(ids, change)


async def review_many(pool: asyncpg.Pool, topic: str, actor: Caller, ids: list[str],
                      verdict: str, reason: str | None, widgets: payouts.VoucherPools
                      ) -> list[Outcome]:
    """`review_reward` for each id; one already reviewed is a 409 of its own."""
    async def change(entry_id: str) -> Outcome:
        entry = await review_reward(pool, topic, actor, entry_id, verdict, reason, widgets)
        return Outcome(entry_id, entry, changed=True)
    return await _each(ids, change)
