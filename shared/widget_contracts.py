"""The contract of a widget's (campaign's) settings and of a shopper's submission: the value
objects a shop configures (theme, trigger, questions, reward) and the request models that
carry them. The widgets service validates with them and the gateway documents them; both
import them from here, so neither imports the other."""

from __future__ import annotations

import hashlib
import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    Strict,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .params import bounded_datetime, json_number

DRAFT, ACTIVE, PAUSED, ENDED = "DRAFT", "ACTIVE", "PAUSED", "ENDED"
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

    _radius = field_validator("border_radius", mode="before")(json_number)

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

    _numbers = field_validator("percentage", "seconds", mode="before")(json_number)

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


CURRENCY = r"^[A-Z]{3}$"


def cents(value: Decimal | None) -> Decimal | None:
    """Money as every answer, event, mail and SEPA file spells it: two places (`5` and
    `5.0` are `5.00`, `1E+3` is `1000.00`), the value unchanged."""
    return None if value is None else value.quantize(Decimal("0.01"))


class Budget(Value):
    """The most a campaign's cash rewards may pay in total, in the reward's currency."""

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str | None = Field(default=None, pattern=CURRENCY,
                                 description="the reward's; may be left out")

    _cents = field_validator("amount")(cents)


class PerShopper(Value):
    """At most `max_rewards` approved rewards of the campaign per shopper (their email, in
    any case) within the last `period_days` days."""

    max_rewards: int = Field(ge=1, le=10_000)
    period_days: int = Field(ge=1, le=3660)

    _numbers = field_validator("max_rewards", "period_days", mode="before")(json_number)


class Reward(Value):
    """A fixed amount per approved response, or one code from a pool of vouchers; and the
    limits of what approvals may pay (the feedback service enforces them on approval)."""

    amount: Decimal | None = Field(default=None, gt=0, max_digits=10, decimal_places=2)
    currency: str | None = Field(default=None, pattern=CURRENCY)
    # A code goes into a shopper's mail and the payout's answer: 100 characters is far
    # more than any shop's code, and bounds what 10,000 of them may weigh.
    voucher_codes: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] | None = (
        Field(default=None, min_length=1, max_length=10_000))
    budget: Budget | None = Field(default=None, description=(
        "the most this campaign's cash rewards pay in total, in the reward's currency"
        " (`currency` may be left out; a bare amount also works); an approval over it is"
        " 409 `reward_budget_exhausted`. Not for a voucher pool: the pool is its cap"))
    per_shopper: PerShopper | None = Field(default=None, description=(
        "at most `max_rewards` approved rewards of this campaign per shopper email (any"
        " case) within the last `period_days` days; one more is 409"
        " `shopper_reward_limit_reached`. A response without an email is not counted"))

    _cents = field_validator("amount")(cents)

    @field_validator("budget", mode="before")
    @classmethod
    def budget_of_money(cls, value: Any, info: ValidationInfo) -> Any:
        """`"budget": "100.00"` (or an object without `currency`) is in the reward's
        currency. A voucher pool takes no budget: the pool is its cap."""
        if value is None:
            return None
        if info.data.get("voucher_codes") is not None:
            raise PydanticCustomError("budget_not_for_vouchers", (
                "a voucher pool is its own budget (one code per approved reward): add or"
                " remove codes instead"))
        currency = info.data.get("currency")
        if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
            return {"amount": value, "currency": currency}
        if isinstance(value, dict) and value.get("currency") is None:
            return {**value, "currency": currency}
        return value

    @field_validator("budget")
    @classmethod
    def budget_fits_reward(cls, value: Budget | None, info: ValidationInfo) -> Budget | None:
        currency, amount = info.data.get("currency"), info.data.get("amount")
        if value is None or currency is None:
            return value
        if value.currency != currency:
            raise PydanticCustomError("budget_currency", (
                f"must be in the reward's currency {currency}, not {value.currency}"))
        if amount is not None and value.amount < amount:
            raise PydanticCustomError("budget_too_small", (
                f"must cover at least one reward of {amount} {currency}"))
        return value

    @model_validator(mode="after")
    def one_kind(self) -> Reward:
        money = self.amount is not None and self.currency is not None
        if money == (self.voucher_codes is not None):
            raise ValueError("give either amount and currency, or voucher_codes")
        return self

    def announced(self) -> dict[str, Any]:
        """The reward as events carry it: a voucher pool only by its size and a digest of
        its codes (vouchers are money; the feedback service fetches the codes themselves
        from us when it pays one out), an amount as it stands; the limits with either."""
        if self.voucher_codes is None:
            return self.model_dump(mode="json", exclude_none=True)
        limits = self.model_dump(mode="json", include={"per_shopper"}, exclude_none=True)
        return {"voucher_pool": {"size": len(self.voucher_codes),
                                 "digest": voucher_pool_digest(self.voucher_codes)},
                **limits}


def voucher_pool_digest(codes: tuple[str, ...]) -> str:
    """Names one content of a pool: the feedback service refetches when it changes."""
    return hashlib.sha256("\n".join(codes).encode()).hexdigest()


# --- requests ----------------------------------------------------------------------


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _trigger_name(value: Any) -> Any:
    """`"exit-intent"` is shorthand for `{"type": "exit-intent"}`. A trigger a client sends
    names its type: `{"seconds": 20}` is not a manual trigger (the model's default, for a
    new widget, is not a guess at what was meant)."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict) and value.get("type") is None:
        raise ValueError("needs a type: manual, scroll-depth, exit-intent or time-on-page")
    return value


_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]+\]")


def _origin(value: Any) -> Any:
    """An allowed origin as a browser sends it in `Origin`: lower case, the host in
    ASCII (punycode), no default port. What no browser could send (user info, a
    wildcard, a port out of range) is refused rather than stored to never match."""
    if not isinstance(value, str):
        return value
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or parts.path or parts.query or parts.fragment:
        return text.lower()  # the pattern refuses it with the usual message
    wrong = PydanticCustomError(
        "origin", "must be an origin such as https://www.my-shop.example (scheme, host"
        " and an optional port; no user, path or wildcard)")
    try:
        port = parts.port
        host = parts.netloc.rpartition("@")[2].rsplit(":", 1)[0] if port else \
            parts.netloc.rpartition("@")[2]
        if not host.startswith("["):
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise wrong from None
    host = host.lower()
    if "@" in parts.netloc or not _HOST.fullmatch(host):
        raise wrong
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


Status = Annotated[Literal["DRAFT", "ACTIVE", "PAUSED", "ENDED"], BeforeValidator(_upper)]
TriggerIn = Annotated[Trigger, BeforeValidator(_trigger_name)]
Origin = Annotated[str, BeforeValidator(_origin), Field(pattern=ORIGIN)]
Score = Annotated[int, Field(ge=0, le=100)]


class WidgetSettingsIn(BaseModel):
    """Settings both dialects may send; `position` is FeedBackPro's word for placement."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    placement: Placement | None = Field(
        default=None, validation_alias=AliasChoices("placement", "position"))
    trigger: TriggerIn | None = None
    theme: dict[str, Any] | None = None
    languages: list[Language] | None = Field(default=None, min_length=1)
    questions: list[Question] | None = Field(default=None, min_length=1, max_length=20)
    reward: Reward | None = None
    auto_approve_above: Score | None = None
    auto_reject_below: Score | None = None
    allowed_origins: list[Origin] | None = Field(default=None, max_length=50)
    status: Status | None = None
    is_active: StrictBool | None = None  # true or false: not "yes", "0" or 1

    _scores = field_validator("auto_approve_above", "auto_reject_below", mode="before")(
        json_number)

    def changes(self) -> dict[str, Any]:
        """The settings this request sets, as the domain holds them."""
        given = self.model_fields_set - {"status", "is_active"}
        out: dict[str, Any] = {name: getattr(self, name) for name in given}
        for name in ("placement", "trigger", "theme", "languages", "questions", "name"):
            if out.get(name, ...) is None:
                del out[name]  # null is "leave as is" for what cannot be empty
        if "allowed_origins" in out and out["allowed_origins"] is None:
            out["allowed_origins"] = ()  # null: no restriction, any shop origin
        for name in ("languages", "questions", "allowed_origins"):
            if out.get(name) is not None:
                out[name] = tuple(dict.fromkeys(out[name]) if name != "questions"
                                  else out[name])
        return out

    def wanted_status(self, current: str) -> str | None:
        if self.status is not None:
            return self.status
        if self.is_active is True:
            return ACTIVE
        if self.is_active is False and current == ACTIVE:
            return PAUSED
        return None


class WidgetIn(WidgetSettingsIn):
    name: str = Field(min_length=1, max_length=200)


class WidgetPatch(WidgetSettingsIn):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500)
    # An ISO 8601 timestamp with its offset: a number is not read as seconds since 1970.
    resume_at: Annotated[AwareDatetime, Strict(), AfterValidator(bounded_datetime)] | None = None


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    notify: StrictBool = False


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    answers: dict[str, Any] = Field(default_factory=dict, max_length=40)
    customer_email: EmailStr | None = None
    category: str | None = Field(default=None, max_length=64)
    page_url: str | None = Field(default=None, max_length=2000)
    language: Language | None = None

    _blank = field_validator("customer_email", "category", "page_url", "language",
                             mode="before")(_blank_is_none)
