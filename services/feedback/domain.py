"""Feedback entries: the status workflow and the rules around it. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resonanz.shared.errors import Conflict
from resonanz.shared.events import EntrySnapshot

STATUSES = ("new", "pending", "in_progress", "resolved", "archived")

# Allowed moves. `resolved -> pending` reopens; `archived -> pending` restores.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"pending", "in_progress", "resolved", "archived"}),
    "pending": frozenset({"in_progress", "resolved", "archived"}),
    "in_progress": frozenset({"pending", "resolved", "archived"}),
    "resolved": frozenset({"pending", "archived"}),
    "archived": frozenset({"pending"}),
}

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
    version: int
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    deleted_at: datetime | None

    def snapshot(self) -> EntrySnapshot:
        return EntrySnapshot(
            id=self.id, version=self.version, widget_id=self.widget_id, status=self.status,
            rating=self.rating, category=self.category, assignee=self.assignee,
            created_at=self.created_at, updated_at=self.updated_at,
            first_response_at=self.first_response_at, resolved_at=self.resolved_at,
            deleted=self.deleted_at is not None, quality_score=self.quality_score,
        )
