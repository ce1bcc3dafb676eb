"""Widgets (= campaigns): their lifecycle, their settings, the answers they accept. No I/O here.

DRAFT → ACTIVE ⇄ PAUSED → ENDED. Only an ACTIVE widget is shown on a shop's page
and accepts submissions; every other state refuses with its own error code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from resonanz.shared.errors import Conflict, InvalidInput, validation_details
from resonanz.shared.events import WidgetSnapshot

DRAFT, ACTIVE, PAUSED, ENDED = "DRAFT", "ACTIVE", "PAUSED", "ENDED"
STATUSES = (DRAFT, ACTIVE, PAUSED, ENDED)
TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({ACTIVE, ENDED}),
    ACTIVE: frozenset({PAUSED, ENDED}),
    PAUSED: frozenset({ACTIVE, ENDED}),
    ENDED: frozenset(),
}
PLACEMENTS = ("bottom-right", "bottom-left", "inline")
LANGUAGES = ("de", "en")

Language = Literal["de", "en"]
Placement = Literal["bottom-right", "bottom-left", "inline"]
ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
HEX_COLOUR = r"^#(?:[0-9a-fA-F]{3}){1,2}$"
# Letters, digits, spaces, commas, quotes and hyphens only: a font can never smuggle CSS.
FONT_FAMILY = r"^[\w \t,'\"-]{1,120}$"
ORIGIN = r"^https?://[^/\s?#]+$"
# WCAG 2.2 AA, success criterion 1.4.3: contrast of normal-size text.
MIN_CONTRAST = 4.5
BUTTON_TEXT = "#ffffff"  # what widget.js writes on the primary colour
SAVING = "saving"  # validation context of settings a shop saves (see validated)


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


# --- settings (value objects) ----------------------------------------------------------


class Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def relative_luminance(colour: str) -> float:
    """WCAG 2.2's relative luminance of `#rgb` or `#rrggbb`."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = (int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4))
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(one: str, other: str) -> float:
    lighter, darker = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable(text: str, background: str, what: str, remedy: str) -> None:
    """Refuse text the widget would draw below WCAG 2.2 AA (4.5:1 for normal text)."""
    ratio = contrast_ratio(text, background)
    if ratio < MIN_CONTRAST:
        # Rounded down: 4.497 must not read as a passing "4.50".
        shown = math.floor(ratio * 100) / 100
        raise PydanticCustomError("contrast_too_low", (
            f"{what}: contrast {shown:.2f}:1, but WCAG 2.2 AA needs at least"
            f" {MIN_CONTRAST}:1 for text; {remedy}"))


def _saving(info: ValidationInfo) -> bool:
    """Contrast is checked when a theme is saved, never when a stored one is read: widgets
    saved before the rule existed keep working until their theme is next changed."""
    return bool(info.context and info.context.get(SAVING))


class Theme(Value):
    """The widget's colours. The widget writes white on `primary_color` (launcher, send
    button, chosen answers) and `text_color` on `background_color`: both must reach 4.5:1."""

    primary_color: str = Field(default="#0f766e", pattern=HEX_COLOUR)
    background_color: str = Field(default="#ffffff", pattern=HEX_COLOUR)
    # Checked against the background even when left at its default.
    text_color: str = Field(default="#1f2937", pattern=HEX_COLOUR, validate_default=True)
    font_family: str = Field(default="system-ui, sans-serif", pattern=FONT_FAMILY)
    border_radius: int = Field(default=12, ge=0, le=32)

    @field_validator("primary_color")
    @classmethod
    def white_reads_on_primary(cls, value: str, info: ValidationInfo) -> str:
        if _saving(info):
            readable(BUTTON_TEXT, value, f"white labels on primary_color {value}",
                     "choose a darker primary_color")
        return value

    @field_validator("text_color")
    @classmethod
    def text_reads_on_background(cls, value: str, info: ValidationInfo) -> str:
        background = info.data.get("background_color")
        if _saving(info) and background:
            readable(value, background, f"text_color {value} on background_color {background}",
                     "set text_color and background_color further apart")
        return value


class Trigger(Value):
    type: Literal["manual", "scroll-depth", "exit-intent", "time-on-page"] = "manual"
    percentage: int | None = Field(default=None, ge=1, le=100)
    seconds: int | None = Field(default=None, ge=1, le=3600)

    @model_validator(mode="after")
    def parameters_fit_type(self) -> Trigger:
        if self.type == "scroll-depth" and self.percentage is None:
            raise ValueError("a scroll-depth trigger needs a percentage (1-100)")
        if self.type == "time-on-page" and self.seconds is None:
            raise ValueError("a time-on-page trigger needs seconds (1-3600)")
        return self


def _both_languages(value: Any) -> Any:
    """A plain string label serves every language."""
    return {lang: value for lang in LANGUAGES} if isinstance(value, str) else value


class Choice(Value):
    id: str = Field(pattern=ID_PATTERN)
    label: dict[Language, str]

    _label = field_validator("label", mode="before")(_both_languages)


class Question(Value):
    id: str = Field(pattern=ID_PATTERN)
    type: Literal["rating", "nps", "text", "single_choice", "multiple_choice"]
    label: dict[Language, str]
    required: bool = False
    options: tuple[Choice, ...] = Field(default=(), max_length=20)

    _label = field_validator("label", mode="before")(_both_languages)

    @model_validator(mode="after")
    def options_fit_type(self) -> Question:
        choice = self.type in ("single_choice", "multiple_choice")
        if choice and len(self.options) < 2:
            raise ValueError("a choice question needs at least two options")
        if not choice and self.options:
            raise ValueError(f"a {self.type} question takes no options")
        if len({o.id for o in self.options}) != len(self.options):
            raise ValueError("option ids must be unique")
        return self


class Reward(Value):
    """A fixed amount per approved response, or one code from a pool of vouchers."""

    amount: Decimal | None = Field(default=None, gt=0, max_digits=10, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    voucher_codes: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def one_kind(self) -> Reward:
        money = self.amount is not None and self.currency is not None
        if money == (self.voucher_codes is not None):
            raise ValueError("give either amount and currency, or voucher_codes")
        return self

    def announced(self) -> dict[str, Any]:
        """The reward as events carry it: a voucher pool only by its size and a digest of
        its codes (vouchers are money; the feedback service fetches the codes themselves
        from us when it pays one out), an amount as it stands."""
        if self.voucher_codes is None:
            return self.model_dump(mode="json", exclude_none=True)
        return {"voucher_pool": {"size": len(self.voucher_codes),
                                 "digest": voucher_pool_digest(self.voucher_codes)}}


def voucher_pool_digest(codes: tuple[str, ...]) -> str:
    """Names one content of a pool: the feedback service refetches when it changes."""
    return hashlib.sha256("\n".join(codes).encode()).hexdigest()


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


def event_type(before: Widget, after: Widget) -> str:
    """The event that reports going from `before` to `after`."""
    if before.status == after.status or (after.status == ACTIVE and before.status == DRAFT):
        return "widget.updated"
    return {PAUSED: "widget.paused", ACTIVE: "widget.resumed",
            ENDED: "widget.ended"}[after.status]


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
        return None if value in options else f"must be one of {sorted(options)}"
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
