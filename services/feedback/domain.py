"""Feedback entries: the status workflow and the rules around it. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from resonanz.shared.errors import Conflict
from resonanz.shared.events import (
    EntrySnapshot,
    FeedbackAssigned,
    FeedbackEvent,
    FeedbackNoteAdded,
    FeedbackStatusChanged,
    FeedbackUpdated,
    RewardApproved,
    RewardRejected,
    RewardReviewed,
)

STATUSES = ("new", "pending", "in_progress", "resolved", "archived")

# Allowed moves. `resolved -> pending` reopens; `archived -> pending` restores.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"pending", "in_progress", "resolved", "archived"}),
    "pending": frozenset({"in_progress", "resolved", "archived"}),
    "in_progress": frozenset({"pending", "resolved", "archived"}),
    "resolved": frozenset({"pending", "archived"}),
    "archived": frozenset({"pending"}),
}
# The same moves in the workflow's order, as clients are offered them.
_MOVES: dict[str, tuple[str, ...]] = {
    status: tuple(s for s in STATUSES if s in moves) for status, moves in TRANSITIONS.items()}

REWARD_STATUSES = ("pending", "approved", "rejected")

OPEN_STATUSES = frozenset({"new", "pending", "in_progress"})


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, current: str, wanted: str) -> None:
        allowed = sorted(TRANSITIONS[current])
        super().__init__(
            f"cannot move from '{current}' to '{wanted}'",
            details=[{"field": "status", "message": f"allowed from '{current}': {allowed}",
                      "current": current, "allowed": allowed}],
        )


class RewardAlreadyReviewed(Conflict):
    code = "already_reviewed"

    def __init__(self, reward_status: str) -> None:
        super().__init__(f"the reward was already {reward_status}",
                         details=[{"field": "reward_status", "message": reward_status}])


class NoRewardToReview(Conflict):
    """An entry of a widget that pays no reward (`none`, Pay4Feedback `NONE`) is kept out of
    the rewards queue: its `allowed_transitions` are none, and a review is refused alike."""

    code = "no_reward"

    def __init__(self) -> None:
        super().__init__("the campaign pays no reward for this response: nothing to review",
                         details=[{"field": "reward_status", "message": "none"}])


def allowed_moves(status: str) -> tuple[str, ...]:
    """The statuses an entry in `status` may move to, in the workflow's order (what a
    client offers; `check_transition` enforces the same table)."""
    return _MOVES.get(status, ())


def check_transition(current: str, wanted: str) -> None:
    if wanted != current and wanted not in TRANSITIONS[current]:
        raise InvalidTransition(current, wanted)


@dataclass(frozen=True)
class Entry:
    id: str
    tenant_id: str
    widget_id: str | None
    body: str | None
    rating: int | None
    category: str | None
    metadata: dict[str, Any]
    customer_email: str | None
    answers: dict[str, Any]
    status: str
    assignee: str | None
    quality: dict[str, Any] | None
    quality_score: int | None
    reward_status: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    deleted_at: datetime | None

    @classmethod
    def fresh(cls, entry_id: str, tenant_id: str, now: datetime, **fields: Any) -> Entry:
        """A new entry as it is stored: status `new`, version 1, nothing reviewed yet."""
        defaults: dict[str, Any] = {
            "status": "new", "assignee": None, "reviewed_by": None, "reviewed_at": None,
            "review_reason": None, "version": 1, "first_response_at": None,
            "resolved_at": None, "deleted_at": None, "reward_status": "pending"}
        return cls(id=entry_id, tenant_id=tenant_id, created_at=now, updated_at=now,
                   **{**defaults, **fields})

    def snapshot(self) -> EntrySnapshot:
        return EntrySnapshot(
            id=self.id, version=self.version, widget_id=self.widget_id, status=self.status,
            rating=self.rating, category=self.category, assignee=self.assignee,
            created_at=self.created_at, updated_at=self.updated_at,
            first_response_at=self.first_response_at, resolved_at=self.resolved_at,
            deleted=self.deleted_at is not None, quality_score=self.quality_score,
        )


# --- triage ----------------------------------------------------------------------------

UNSET: Any = object()


@dataclass(frozen=True)
class Patch:
    """A partial update: only the fields that were sent."""

    status: str | None = None
    assignee: Any = UNSET  # None unassigns
    note: str | None = None
    category: Any = UNSET


@dataclass(frozen=True)
class UpdatePlan:
    columns: dict[str, Any]
    note: str | None = None

    @property
    def changes_anything(self) -> bool:
        return bool(self.columns) or self.note is not None

    def events(self, before: Entry, after: Entry, note_id: str | None,
               author: str | None) -> list[FeedbackEvent]:
        """The events the update raises, one per kind of change: `after` is the entry as
        stored (its new version), `note_id` the note's id when the patch added one."""
        snapshot = after.snapshot()
        events: list[FeedbackEvent] = []
        if "status" in self.columns:
            events.append(FeedbackStatusChanged(entry=snapshot, from_status=before.status,
                                                to_status=after.status))
        if "assignee" in self.columns:
            events.append(FeedbackAssigned(entry=snapshot, from_assignee=before.assignee,
                                           to_assignee=after.assignee))
        if "category" in self.columns:
            events.append(FeedbackUpdated(entry=snapshot, changed=["category"]))
        if note_id is not None:
            events.append(FeedbackNoteAdded(entry=snapshot, note_id=note_id, author=author))
        return events


def plan_update(entry: Entry, patch: Patch, now: datetime) -> UpdatePlan:
    """Which columns change (each kind of change raises its event: UpdatePlan.events)."""
    columns: dict[str, Any] = {}
    if patch.status is not None and patch.status != entry.status:
        check_transition(entry.status, patch.status)
        columns["status"] = patch.status
        columns["resolved_at"] = resolved_at(entry, patch.status, now)
    if patch.assignee is not UNSET and patch.assignee != entry.assignee:
        columns["assignee"] = patch.assignee
    if patch.category is not UNSET and patch.category != entry.category:
        columns["category"] = patch.category
    if entry.first_response_at is None and is_response(entry, patch):
        columns["first_response_at"] = now
    return UpdatePlan(columns, patch.note or None)


# A status a team member chooses after reading an entry. `archived` is not one: tidying
# up unread entries is no answer to the customer.
RESPONSE_STATUSES = frozenset({"pending", "in_progress", "resolved"})


def is_response(entry: Entry, patch: Patch) -> bool:
    """A deliberate human step on the entry: a status moved to pending, in progress or
    resolved, an assignee set, or a note added. Re-categorising, archiving and
    unassigning are not (nor the system's reassignment when a member leaves)."""
    moved = patch.status in RESPONSE_STATUSES and patch.status != entry.status
    assigned = patch.assignee not in (UNSET, None) and patch.assignee != entry.assignee
    return moved or assigned or bool(patch.note)


def resolved_at(entry: Entry, status: str, now: datetime) -> datetime | None:
    """When the entry was resolved: set on resolving, kept when a resolved entry is
    archived (tidying up does not undo the work), cleared when it is reopened."""
    if status == "resolved":
        return now
    return entry.resolved_at if status == "archived" else None


# --- rewards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    widget_id: str
    status: str
    reward: dict[str, Any] | None
    auto_approve_above: int | None
    auto_reject_below: int | None


@dataclass(frozen=True)
class Reward:
    kind: str  # amount | voucher | none
    amount: Decimal | None = None
    currency: str | None = None


def reward_of(campaign: Campaign | None) -> Reward:
    rule = (campaign.reward if campaign else None) or {}
    if rule.get("type") == "voucher" or rule.get("voucher_pool") or rule.get("voucher_codes"):
        return Reward("voucher")
    if rule.get("amount") is not None:
        return Reward("amount", Decimal(str(rule["amount"])), str(rule.get("currency", "EUR")))
    return Reward("none")


# --- reward limits ----------------------------------------------------------------------
# A campaign's reward may carry limits (shared/widget_contracts.Reward): `budget`, the most
# its cash rewards pay in total, and `per_shopper`, how many approved rewards one shopper
# (email, any case) may get within a number of days. Checked when a reward is approved;
# a payout failed or cancelled counts towards neither (nothing was paid).


@dataclass(frozen=True)
class Limits:
    budget: Decimal | None = None
    currency: str | None = None
    max_rewards: int | None = None
    period_days: int | None = None

    @property
    def any(self) -> bool:
        return self.budget is not None or self.max_rewards is not None


def limits_of(campaign: Campaign | None) -> Limits:
    rule = (campaign.reward if campaign else None) or {}
    budget, shopper = rule.get("budget") or {}, rule.get("per_shopper") or {}
    return Limits(
        budget=Decimal(str(budget["amount"])) if budget.get("amount") is not None else None,
        currency=budget.get("currency"),
        max_rewards=shopper.get("max_rewards"), period_days=shopper.get("period_days"))


class RewardLimitReached(Conflict):
    """An approval the campaign's limits do not allow: nothing is approved or paid."""


class RewardBudgetExhausted(RewardLimitReached):
    code = "reward_budget_exhausted"

    def __init__(self, limits: Limits, spent: Decimal, amount: Decimal) -> None:
        currency, budget = limits.currency, limits.budget
        assert budget is not None
        remaining = max(budget - spent, Decimal(0))
        super().__init__(
            f"the campaign's reward budget of {budget:.2f} {currency} does not cover this"
            f" reward of {amount:.2f} {currency}: {spent:.2f} {currency} approved so far,"
            f" {remaining:.2f} {currency} left",
            details=[{"field": "reward.budget", "message": f"{remaining:.2f} {currency} left",
                      "budget": f"{budget:.2f}", "currency": currency,
                      "spent": f"{spent:.2f}", "remaining": f"{remaining:.2f}"}])


class ShopperRewardLimitReached(RewardLimitReached):
    code = "shopper_reward_limit_reached"

    def __init__(self, limits: Limits, count: int) -> None:
        most, days = limits.max_rewards, limits.period_days
        super().__init__(
            f"this shopper already has {count} approved reward(s) of this campaign within"
            f" {days} days; the campaign's limit is {most} per shopper per {days} days",
            details=[{"field": "reward.per_shopper",
                      "message": f"at most {most} per shopper per {days} days",
                      "max_rewards": most, "period_days": days, "count": count}])


def check_budget(limits: Limits, reward: Reward, spent: Decimal) -> None:
    """A cash reward fits the budget when everything approved so far and it do."""
    if limits.budget is None or reward.kind != "amount" or reward.amount is None:
        return
    if reward.currency != limits.currency:
        return  # a budget in another currency than the reward's caps nothing it pays
    if spent + reward.amount > limits.budget:
        raise RewardBudgetExhausted(limits, spent, reward.amount)


def check_shopper(limits: Limits, count: int) -> None:
    """`count`: the shopper's approved rewards of the campaign within the period."""
    if limits.max_rewards is not None and count >= limits.max_rewards:
        raise ShopperRewardLimitReached(limits, count)


# --- payouts ---------------------------------------------------------------------------
# An approved reward's payout: `pending` until paid; cash is paid by the shop (marked `paid`,
# or `failed` / `cancelled`), a voucher by handing out its code (the payout worker), which a
# pool running dry `blocked`s until it is refilled or the payout cancelled.
PAYOUT_STATUSES = ("pending", "claimed", "processing", "paid", "failed", "cancelled",
                   "blocked")
PAYOUT_MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"paid", "failed", "cancelled"}),
    "claimed": frozenset({"paid", "failed", "cancelled"}),
    "processing": frozenset({"paid", "failed", "cancelled"}),
    "blocked": frozenset({"cancelled"}),
}


class PayoutNotSettleable(Conflict):
    code = "payout_state"

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message, details=[{"field": "status", "message": status}])


def check_settlement(kind: str, status: str, to: str) -> None:
    """May a payout in `status` be marked `to` by the shop? A 409 says why not."""
    if to not in PAYOUT_MOVES.get(status, frozenset()):
        raise PayoutNotSettleable(f"the payout is {status} and cannot become {to}", status)
    if kind == "voucher" and to == "paid":
        raise PayoutNotSettleable("a voucher payout is paid by handing out its code, not"
                                  " marked paid", status)


# The event a review raises, by verdict.
REVIEW_EVENTS: dict[str, type[RewardReviewed]] = {"approved": RewardApproved,
                                                  "rejected": RewardRejected}


def check_reviewable(reward_status: str) -> None:
    if reward_status in ("approved", "rejected"):
        raise RewardAlreadyReviewed(reward_status)
    if reward_status == "none":
        raise NoRewardToReview()


def automatic_review(campaign: Campaign | None, score: int | None, spam: bool
                     ) -> str | None:
    """A campaign's thresholds may approve or reject a fresh entry without a human. An
    entry the scorer labels spam is never approved automatically, whatever its score (a
    long copied product text can score well): rejected when the campaign rejects
    automatically, else left for a person."""
    if campaign is None or score is None:
        return None
    if spam:
        return "rejected" if campaign.auto_reject_below is not None else None
    if campaign.auto_approve_above is not None and score >= campaign.auto_approve_above:
        return "approved"
    if campaign.auto_reject_below is not None and score < campaign.auto_reject_below:
        return "rejected"
    return None
