"""Widgets (= campaigns): their lifecycle, their settings, the answers they accept. No I/O here.

DRAFT → ACTIVE ⇄ PAUSED → ENDED. Only an ACTIVE widget is shown on a shop's page
and accepts submissions; every other state refuses with its own error code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import (
    ValidationError,
)

from resonanz.shared.errors import Conflict, InvalidInput, validation_details
from resonanz.shared.events import (
    WidgetChanged,
    WidgetEnded,
    WidgetPaused,
    WidgetResumed,
    WidgetSnapshot,
    WidgetUpdated,
)
from resonanz.shared.widget_contracts import (
    ACTIVE,
    DRAFT,
    ENDED,
    PAUSED,
    SAVING,
    Question,
    Reward,
    Theme,
    Trigger,
    Value,
)

STATUSES = (DRAFT, ACTIVE, PAUSED, ENDED)
TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({ACTIVE, ENDED}),
    ACTIVE: frozenset({PAUSED, ENDED}),
    PAUSED: frozenset({ACTIVE, ENDED}),
    ENDED: frozenset(),
}


# --- errors ------------------------------------------------------------------------


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, current: str, wanted: str, message: str | None = None) -> None:
        allowed = sorted(TRANSITIONS[current])
        super().__init__(
            message or f"cannot move a {current} widget to {wanted}",
            details=[{"field": "status", "message": f"allowed from {current}: {allowed}",
                      "current": current, "allowed": allowed}],
        )


class WidgetNotActive(Conflict):
    """A shopper reached a widget that is not collecting feedback right now."""

    CODES = {DRAFT: "widget_draft", PAUSED: "widget_paused", ENDED: "widget_ended"}
    MESSAGES = {DRAFT: "this widget is not live yet", PAUSED: "this widget is paused",
                ENDED: "this widget has ended"}

    def __init__(self, status: str) -> None:
        super().__init__(self.MESSAGES[status], code=self.CODES[status],
                         details=[{"field": "status", "message": status.lower()}])


DEFAULT_QUESTIONS = (
    Question(id="rating", type="rating", required=True,
             label={"de": "Wie zufrieden sind Sie?", "en": "How satisfied are you?"}),
    Question(id="comment", type="text",
             label={"de": "Was können wir besser machen?", "en": "What could we do better?"}),
)


def validated(model: type[Value], data: Any, field: str) -> Any:
    """Validate a nested setting, reporting errors under the field's own name."""
    try:
        return model.model_validate(data, context={SAVING: True})
    except ValidationError as exc:
        details = validation_details(exc.errors(), model)
        for row in details:
            row["field"] = ".".join(p for p in (field, row["field"]) if p)
        raise InvalidInput.naming(details) from None


def check_questions(questions: tuple[Question, ...]) -> None:
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise InvalidInput("question ids must be unique",
                           details=[{"field": "questions", "message": "duplicate ids"}])


def check_thresholds(approve_above: int | None, reject_below: int | None) -> None:
    if approve_above is not None and reject_below is not None and reject_below > approve_above:
        raise InvalidInput("auto_reject_below must not exceed auto_approve_above", details=[
            {"field": "auto_reject_below", "message": "must be <= auto_approve_above"}])


# --- the widget ----------------------------------------------------------------------


@dataclass(frozen=True)
class Widget:
    id: str
    tenant_id: str
    public_id: str
    name: str
    status: str
    placement: str
    trigger: Trigger
    theme: Theme
    languages: tuple[str, ...]
    questions: tuple[Question, ...]
    reward: Reward | None
    auto_approve_above: int | None
    auto_reject_below: int | None
    allowed_origins: tuple[str, ...]
    pause_reason: str | None
    paused_at: datetime | None
    resume_at: datetime | None
    ended_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    def snapshot(self) -> WidgetSnapshot:
        return WidgetSnapshot(
            id=self.id, public_id=self.public_id, name=self.name, status=self.status,
            reward=self.reward.announced() if self.reward else None,
            auto_approve_above=self.auto_approve_above,
            auto_reject_below=self.auto_reject_below, paused_at=self.paused_at,
            scheduled_resume=self.resume_at, pause_reason=self.pause_reason,
            version=self.version, updated_at=self.updated_at,
        )

    def allows_origin(self, origin: str | None) -> bool:
        return not self.allowed_origins or origin is None or origin in self.allowed_origins

    def ensure_collecting(self) -> None:
        if self.status != ACTIVE:
            raise WidgetNotActive(self.status)

    def public_config(self) -> dict[str, Any]:
        """What a shop page may know: never the reward pool, thresholds or tenant."""
        if self.status != ACTIVE:
            return {"public_id": self.public_id, "active": False, "status": self.status.lower()}
        return {
            "public_id": self.public_id, "active": True, "status": "active",
            "placement": self.placement,
            "trigger": self.trigger.model_dump(exclude_none=True),
            "theme": self.theme.model_dump(), "languages": list(self.languages),
            "questions": [q.model_dump(exclude_defaults=False) for q in self.questions],
            "collect_email": self.reward is not None,
        }


def _move(widget: Widget, wanted: str) -> None:
    if wanted not in TRANSITIONS[widget.status]:
        raise InvalidTransition(widget.status, wanted)


def activate_widget(widget: Widget) -> Widget:
    _move(widget, ACTIVE)
    return dataclasses.replace(widget, status=ACTIVE, pause_reason=None, paused_at=None,
                               resume_at=None)


def pause_widget(widget: Widget, reason: str | None, resume_at: datetime | None,
                 now: datetime) -> Widget:
    _move(widget, PAUSED)
    if resume_at is not None and resume_at <= now:
        raise InvalidInput("resume_at must lie in the future", details=[
            {"field": "resume_at", "message": "must be later than now"}])
    return dataclasses.replace(widget, status=PAUSED, pause_reason=reason, paused_at=now,
                               resume_at=resume_at)


def resume_widget(widget: Widget) -> Widget:
    if widget.status != PAUSED:
        raise InvalidTransition(widget.status, ACTIVE,
                                f"only a PAUSED widget resumes; this one is {widget.status}")
    return activate_widget(widget)


def end_widget(widget: Widget, now: datetime) -> Widget:
    _move(widget, ENDED)
    return dataclasses.replace(widget, status=ENDED, resume_at=None, ended_at=now)


def move_to(widget: Widget, wanted: str, now: datetime) -> Widget:
    """A status change requested by PATCH (`status` or `is_active`)."""
    if wanted == widget.status:
        return widget
    if wanted == PAUSED:
        return pause_widget(widget, None, None, now)
    if wanted == ENDED:
        return end_widget(widget, now)
    if wanted == ACTIVE:
        return activate_widget(widget)
    raise InvalidTransition(widget.status, wanted)


def event_class(before: Widget, after: Widget) -> type[WidgetChanged]:
    """The event that reports going from `before` to `after`."""
    if before.status == after.status or (after.status == ACTIVE and before.status == DRAFT):
        return WidgetUpdated
    return {PAUSED: WidgetPaused, ACTIVE: WidgetResumed, ENDED: WidgetEnded}[after.status]


def configure_widget(widget: Widget, changes: dict[str, Any]) -> Widget:
    """Apply settings from a PATCH; theme and trigger merge into what is there."""
    if "theme" in changes:
        changes["theme"] = validated(Theme, {**widget.theme.model_dump(), **changes["theme"]},
                                     "theme")
    if "trigger" in changes:
        changes["trigger"] = validated(Trigger, changes["trigger"], "trigger")
    updated = dataclasses.replace(widget, **changes)
    check_questions(updated.questions)
    check_thresholds(updated.auto_approve_above, updated.auto_reject_below)
    return updated


# --- submissions ---------------------------------------------------------------------

MAX_TEXT_ANSWER = 5000


def _answer_problem(question: Question, value: Any) -> str | None:
    options = {o.id for o in question.options}
    if question.type == "rating":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
        return None if ok else "must be a whole number from 1 to 5"
    if question.type == "nps":
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10
        return None if ok else "must be a whole number from 0 to 10"
    if question.type == "text":
        ok = isinstance(value, str) and len(value) <= MAX_TEXT_ANSWER
        return None if ok else f"must be text of at most {MAX_TEXT_ANSWER} characters"
    if question.type == "single_choice":
        # A list or an object is no option (and, unhashable, cannot be looked up in a set).
        ok = isinstance(value, str) and value in options
        return None if ok else f"must be one of {sorted(options)}"
    ok = (isinstance(value, list) and all(isinstance(v, str) for v in value)
          and set(value) <= options and len(set(value)) == len(value))
    return None if ok else f"must be a list of distinct options from {sorted(options)}"


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def check_answers(questions: tuple[Question, ...], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers worth keeping; raises with one detail per problem."""
    by_id = {q.id: q for q in questions}
    problems = [{"field": f"answers.{key}", "message": "no such question"}
                for key in answers if key not in by_id]
    kept = {}
    for question in questions:
        value = answers.get(question.id)
        if isinstance(value, str):
            value = value.strip()
        if _is_blank(value):
            if question.required:
                problems.append({"field": f"answers.{question.id}", "message": "required"})
            continue
        problem = _answer_problem(question, value)
        if problem:
            problems.append({"field": f"answers.{question.id}", "message": problem})
        kept[question.id] = value
    if not problems and not kept:
        problems.append({"field": "answers", "message": "answer at least one question"})
    if problems:
        raise InvalidInput.naming(problems)
    return kept


def first_answer(questions: tuple[Question, ...], answers: dict[str, Any], kind: str) -> Any:
    return next((answers[q.id] for q in questions if q.type == kind and q.id in answers), None)
