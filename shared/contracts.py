"""The public API's request bodies and the views it renders, as pydantic models.

Services validate with the request models; the gateway renders its OpenAPI
document from all of them. One definition, no copies.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .params import bounded_datetime, json_number, parse_uuid

MAX_JSON_FIELD_BYTES = 16 * 1024
EntryStatus = Literal["new", "pending", "in_progress", "resolved", "archived"]


def canonical_uuid(value: str) -> str:
    parsed = parse_uuid(value)
    if parsed is None:
        raise ValueError("must be a UUID")
    return str(parsed)


def canonical_if_uuid(value: str | None) -> str | None:
    """A free-text field that may name a user: an id in it is stored in one spelling,
    so that finding a member's entries by id finds them all. A blank one names no one:
    null (unassigned), not an assignee called ""."""
    parsed = parse_uuid(value)
    return str(parsed) if parsed else (value or None)


def blank_is_null(value: str | None) -> str | None:
    """An empty (or, stripped, blank) string in an optional text field: null, as the
    widget's submissions and the analytics already take it."""
    return value or None


# An entry's category: free text; blank is none.
Category = Annotated[str | None, AfterValidator(blank_is_null)]


# An id in a body, in its canonical spelling: lower case, hyphenated.
UuidStr = Annotated[str, Field(max_length=64), AfterValidator(canonical_uuid),
                    WithJsonSchema({"type": "string", "format": "uuid"})]


# Any date a client sends: one whose instant PostgreSQL stores and Python can carry.
BoundedDatetime = Annotated[datetime, AfterValidator(bounded_datetime)]


# --- requests ------------------------------------------------------------------------------


class EntryIn(BaseModel):
    """A feedback entry (FeedBackPro `POST /v1/feedback`, public widget submissions)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    body: str | None = Field(default=None, max_length=10_000)
    rating: int | None = Field(default=None, ge=1, le=5)
    category: Category = Field(default=None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    customer_email: EmailStr | None = None
    widget_id: UuidStr | None = None
    answers: dict[str, Any] = Field(default_factory=dict)

    _rating = field_validator("rating", mode="before")(json_number)

    @field_validator("metadata", "answers")
    @classmethod
    def fits(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = orjson.dumps(value)
        except orjson.JSONEncodeError:  # a TypeError, which pydantic would not report
            raise ValueError("numbers must fit in 64 bits") from None
        if len(encoded) > MAX_JSON_FIELD_BYTES:
            raise ValueError(f"must encode to at most {MAX_JSON_FIELD_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def says_something(self) -> EntryIn:
        if not self.body and self.rating is None and not self.answers:
            raise ValueError("send at least one of body, rating or answers")
        return self


def status_not_null(value: str | None) -> str | None:
    """A status sent as null: a 400 naming `status` (null would mean "no status")."""
    if value is None:
        raise ValueError("cannot be null")
    return value


class PatchIn(BaseModel):
    """FeedBackPro `PATCH /v1/feedback/:id`: only the fields to change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: EntryStatus | None = None
    assignee: Annotated[str | None, AfterValidator(canonical_if_uuid)] = Field(
        default=None, max_length=200)
    assigned_to: Annotated[str | None, AfterValidator(canonical_if_uuid)] = Field(
        default=None, max_length=200)
    note: str | None = Field(default=None, min_length=1, max_length=5000)
    notes: str | None = Field(default=None, min_length=1, max_length=5000,
                              description="the reference's word for `note`: one internal"
                                          " note to add")
    category: Category = Field(default=None, max_length=64)

    _status = field_validator("status")(status_not_null)

    @field_validator("notes")
    @classmethod
    def one_note(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("note") is not None:
            raise ValueError("send the note as note or as notes, not both")
        return value

    @model_validator(mode="after")
    def not_empty(self) -> PatchIn:
        if not self.model_fields_set:
            raise ValueError("send at least one of status, assignee, note, category")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields that were sent, `assigned_to` folded into `assignee` and `notes`
        into `note`."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        if "assigned_to" in sent:
            sent.setdefault("assignee", sent.pop("assigned_to"))
        if "notes" in sent:
            notes = sent.pop("notes")
            sent["note"] = sent.get("note") or notes
        return sent


class ReviewIn(BaseModel):
    """Pay4Feedback approve/reject: an optional reason."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=2000)


class InvitationIn(BaseModel):
    """FeedBackPro `POST /v1/users`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    name: str | None = Field(default=None, max_length=200)
    role: Literal["admin", "editor", "viewer"] = "viewer"


DEFAULT_TIMEZONE = "Europe/Berlin"


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_timezone(value: str) -> str:
    """An IANA time zone name this installation knows (`Europe/Berlin`, `UTC`)."""
    if value not in _zone_names():
        raise ValueError("must be an IANA time zone name such as Europe/Berlin")
    return value


TimezoneName = Annotated[str, Field(max_length=64), AfterValidator(known_timezone)]


RETENTION_NOTE = ("months after which entries are anonymised: email, text, answers and"
                  " metadata removed, rating, category, status and times kept (1-120)")


class OrganizationIn(BaseModel):
    """FeedBackPro `PATCH /v1/organization`: only the fields to change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: TimezoneName | None = Field(
        default=None, description="IANA name; analytics count days, weeks and months in it")
    retention_months: int | None = Field(
        default=None, ge=1, le=120, description=RETENTION_NOTE)

    @model_validator(mode="after")
    def changes_something(self) -> OrganizationIn:
        if self.name is None and self.timezone is None and self.retention_months is None:
            raise ValueError("send at least one of name, timezone, retention_months")
        return self


class SubscriptionIn(BaseModel):
    """`POST /api/v1/webhooks` (and `/v1/webhooks`): where to send which events.

    The dispatcher adds the checks that need its catalog (known event names, secret form)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    url: str = Field(max_length=2048, description="http(s) URL of the receiver")
    events: list[str] = Field(min_length=1, max_length=64,
                              description="webhook names, e.g. reward_approved")
    secret: str | None = Field(default=None, max_length=200,
                               description="whsec_… (generated when absent, shown once)")
    description: str | None = Field(default=None, max_length=500)


class RecoverIn(BaseModel):
    """Redeliver every failed delivery since a time."""

    since: BoundedDatetime


# --- views ---------------------------------------------------------------------------------


class View(BaseModel):
    # Clients "parse defensively": views may gain fields.
    model_config = ConfigDict(extra="allow")


class FeedbackView(View):
    id: str
    body: str | None
    rating: int | None
    category: str | None
    metadata: dict[str, Any]
    customer_email: str | None
    status: EntryStatus
    allowed_transitions: list[EntryStatus] = Field(
        description="the statuses this entry may move to now (a PATCH to any other is 409)")
    widget_id: str | None
    quality_score: int | None
    assigned_to: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class DeletedView(View):
    """A soft-deleted entry: gone from lists, kept for the audit trail."""

    id: str
    deleted: bool


class AuditRow(View):
    actor: str | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime


class NoteView(View):
    id: str
    author: str | None
    body: str
    created_at: datetime


class FeedbackDetailView(FeedbackView):
    answers: dict[str, Any]
    audit_trail: list[AuditRow]
    notes: list[NoteView]


class ResponseView(View):
    id: str
    campaign_id: str | None
    # NONE: the response's campaign pays no reward, so there is nothing to review.
    status: Literal["PENDING", "APPROVED", "REJECTED", "NONE"]
    allowed_transitions: list[Literal["APPROVED", "REJECTED"]] = Field(
        description="the reward states this response may move to now: both while PENDING"
                    " (approve, reject), none once reviewed")
    rating: int | None
    text: str | None
    customer_email: str | None
    quality_score: int | None
    created_at: datetime
    reviewed_at: datetime | None
    review_reason: str | None


class ResponseDetailView(ResponseView):
    answers: dict[str, Any]
    quality: dict[str, Any] | None
    payout: dict[str, Any] | None


class MeView(View):
    id: str
    name: str
    tenant: dict[str, Any]
    key: dict[str, Any]


class UserView(View):
    id: str
    email: str
    name: str | None
    role: Literal["admin", "editor", "viewer"]
    status: Literal["active", "pending", "removed"]
    email_verified: bool
    last_active_at: datetime | None
    created_at: datetime


class InvitedUserView(UserView):
    invitation_token: str
    invitation_expires_at: datetime


class WidgetView(View):
    """FeedBackPro's widget."""

    id: str
    name: str
    placement: str
    trigger: dict[str, Any]
    theme: dict[str, Any]
    languages: list[str]
    is_active: bool
    status: Literal["draft", "active", "paused", "ended"]
    public_id: str
    paused_at: datetime | None
    scheduled_resume: datetime | None
    created_at: datetime
    updated_at: datetime


class PausedView(View):
    """The reference's answer to `POST /v1/widgets/:id/pause`: `id` as the caller named
    the widget (public id or UUID)."""

    id: str
    status: str
    paused_at: datetime | None
    scheduled_resume: datetime | None


class CampaignView(View):
    """Pay4Feedback's campaign: the same record as a widget."""

    id: str
    name: str
    status: Literal["DRAFT", "ACTIVE", "PAUSED", "ENDED"]
    public_id: str
    questions: list[dict[str, Any]]
    reward: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class WebhookView(View):
    id: str
    url: str
    events: list[str]
    status: Literal["active", "disabled"]
    enabled: bool
    created_at: datetime


class WebhookCreatedView(WebhookView):
    secret: str = Field(description="shown once: the secret as given (or generated)")
    standard_webhooks_secret: str = Field(
        description="the same signing key as `whsec_` + standard base64 of its bytes, which"
                    " Standard Webhooks libraries load as is (see the README's webhooks"
                    " section for the rule)")


class WebhookPatchIn(BaseModel):
    """`PATCH …/webhooks/{id}`: only the fields given change. A new URL is checked like one
    given on create."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(default=None, max_length=2048, description="http(s) URL")
    events: list[str] | None = Field(default=None, min_length=1, max_length=64,
                                     description="replaces the list; names from the catalog")
    description: str | None = Field(default=None, max_length=500,
                                    description="null clears it")
    enabled: bool | None = Field(default=None, description="false stops the endpoint (what"
                                 " is queued fails, to be recovered); true re-enables it")


class WebhookTestIn(BaseModel):
    """`POST …/webhooks/{id}/test`: a sample of this type (default: the endpoint's first
    event), sent with `\"test\": true` in `data` to this endpoint only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_type: str | None = Field(default=None, max_length=100,
                                   description="a name from GET …/webhooks/event-types")


class WebhookTestView(View):
    id: str = Field(description="the test message's webhook-id (msg_…), as in the log")
    subscription_id: str
    event_type: Literal["webhook.test"]
    webhook_type: str = Field(description="the `type` the receiver gets")
    status: str
    test: bool


class EventTypeView(View):
    """One entry of the event catalog, generated from the payload models."""

    name: str = Field(description="what a subscription lists in `events`")
    delivered_as: str = Field(description="the payload's `type` on the wire")
    description: str
    event_types: list[str] = Field(description="the internal events it is made from")
    payload_schema: dict[str, Any] = Field(alias="schema",
                                           description="JSON Schema of the whole body")
    sample: dict[str, Any] = Field(description="a body exactly as it would be sent")


# A delivery is cancelled when its endpoint is deleted before it was sent.
DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)


class DeliveryView(View):
    """One message to one endpoint, as the delivery log shows it."""

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    webhook_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_outcome: str | None
    created_at: str
    delivered_at: str | None


class AttemptView(View):
    """One try: what the endpoint answered (the first bytes of its body) and how fast."""

    attempted_at: str
    duration_ms: float | None = Field(description="milliseconds, with their fraction")
    outcome: str
    status_code: int | None
    response_body: str | None
    error: str | None


class EventDeliveryView(DeliveryView):
    attempts_log: list[AttemptView]


class RecoveredView(View):
    recovered: int
    since: str


class OrganizationView(View):
    id: str
    name: str
    timezone: str = Field(description="IANA name; analytics count days, weeks and months"
                                      " in it (default Europe/Berlin)")
    retention_months: int = Field(description=RETENTION_NOTE + "; default 24")
    owner_id: str | None
    created_at: datetime


class Durations(View):
    average_seconds: float | None
    median_seconds: float | None = Field(
        default=None, description="within 0.5 % of the exact median (durations are"
                                  " measured to the millisecond, read from log-scale buckets"
                                  " 1 % wide)")


class TimeToResolve(Durations):
    resolved: int = Field(description="entries resolved, including those archived after"
                                      " being resolved; reopening takes one out")


class TimeToFirstResponse(Durations):
    responded: int = Field(description="entries with a first response (see response_rate)")


RESPONSE_RATE = ("share of the entries that got a response: a team member moved the status"
                 " to pending, in_progress or resolved, set an assignee, or added a note."
                 " Archiving, re-categorising or unassigning is no response")
TTFR = "from creation to the first response, over the entries that got one"
TTR = "from creation to resolving, over the entries resolved"


class SummaryBucket(View):
    start: str = Field(description="the local date the day, ISO week (Monday) or month"
                                   " begins; the first and last bucket count only the"
                                   " days within the period")
    total_submissions: int
    average_rating: float | None
    response_rate: float | None = Field(description=RESPONSE_RATE)
    time_to_first_response: TimeToFirstResponse = Field(description=TTFR)
    time_to_resolve: TimeToResolve = Field(description=TTR)


class SummaryView(View):
    """Entries are counted by the local day they were created on, in the organization's
    time zone; their later changes (responses, resolving, deletion) update the day they
    belong to."""

    period: Literal["7d", "30d", "90d"] = Field(
        description="that many calendar days in the organization's time zone, the last"
                    " one today (so far)")
    group_by: Literal["day", "week", "month"]
    widget_id: str | None
    timezone: str = Field(description="the IANA time zone days are counted in")
    from_: str = Field(alias="from", description="the first local date counted")
    to: str = Field(description="the last local date counted: today")
    total_submissions: int
    average_rating: float | None
    response_rate: float | None = Field(description=RESPONSE_RATE)
    time_to_first_response: TimeToFirstResponse = Field(description=TTFR)
    time_to_resolve: TimeToResolve = Field(description=TTR)
    rating_distribution: dict[str, int]
    categories: dict[str, int]
    statuses: dict[str, int]
    buckets: list[SummaryBucket] = Field(
        description="one per day, week or month of the period, in order; zeros where"
                    " nothing was created")


# --- API keys and team roles (`/v1/api-keys`, `/api/v1/api-keys`, `PATCH /v1/users/{id}`) ---

TeamRole = Literal["admin", "editor", "viewer"]
MAX_KEY_LIFETIME_DAYS = 730


def future_key_expiry(value: datetime) -> datetime:
    """A key's end: after now, and at most MAX_KEY_LIFETIME_DAYS ahead (a key that never
    ends is asked for by leaving expires_at out)."""
    now = datetime.now(UTC)
    if value <= now:
        raise ValueError("must lie in the future")
    if value > now + timedelta(days=MAX_KEY_LIFETIME_DAYS):
        raise ValueError(f"may lie at most {MAX_KEY_LIFETIME_DAYS} days (2 years) ahead")
    return value


class ApiKeyIn(BaseModel):
    """A new API key: what it is for, what it may do, and optionally when it ends."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="what the key is for")
    role: TeamRole = Field(default="viewer", description="no higher than the caller's")
    expires_at: Annotated[BoundedDatetime, AfterValidator(future_key_expiry)] | None = Field(
        default=None, description="in the future, at most 2 years ahead; none: never")


class RoleIn(BaseModel):
    """`PATCH /v1/users/{id}`: a member's new role."""

    model_config = ConfigDict(extra="forbid")

    role: TeamRole


class KeyCreatorView(View):
    id: str
    email: str
    name: str | None


class ApiKeyView(View):
    """A key as listed: never its secret, only the prefix it starts with."""

    id: str
    name: str
    role: TeamRole
    prefix: str = Field(description="the key's first characters, to recognise it")
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="updated within about a minute")
    revoked_at: datetime | None
    replaced_by: str | None = Field(description="the successor, once rotated")
    created_by: KeyCreatorView | None = Field(
        description="the member who created it through the API; none for operator keys")


class ApiKeyCreatedView(ApiKeyView):
    key: str = Field(description="the whole key: shown in this answer only")


class AuditEventView(View):
    """One change in the organization's audit log: who (a member's user id, the key or
    the browser session), what (method, operation, path, the record's id), when, and the
    answer's status. Never the request's body; what changed inside an entry is in the
    entry's own audit_trail."""

    id: str
    at: datetime
    user_id: str | None
    key_id: str | None
    session_id: str | None
    role: str
    method: str
    operation: str = Field(description="the path template, e.g. /v1/feedback/{id}")
    path: str
    target_id: str | None
    status: int
    request_id: str | None


class RestoredView(View):
    """A soft-deleted entry brought back: it is in every list and read again."""

    id: str
    restored: bool
    status: EntryStatus


class ExportRowView(View):
    """One entry of an export file: a CSV row (answers and metadata as JSON text, a cell a
    spreadsheet would run as a formula prefixed with ') or a JSON Lines object. The file
    is streamed as text/csv or application/x-ndjson, not in the JSON envelope."""

    id: str
    created_at: datetime
    updated_at: datetime
    status: EntryStatus
    rating: int | None
    category: str | None
    body: str | None
    customer_email: str | None
    widget_id: str | None
    assignee: str | None
    quality_score: int | None
    quality_label: str | None
    reward_status: str
    payout_status: str | None
    notes_count: int
    answers: dict[str, Any]
    metadata: dict[str, Any]


# --- bulk triage and reward totals (`/v1/feedback/bulk`, `/api/v1/responses/bulk`,
# `/api/v1/rewards/totals`) ------------------------------------------------------------------

MAX_BULK = 500
BULK_IDS = f"the entries to change (UUIDs, 1-{MAX_BULK}); or send `filter`"
BULK_FILTER = (f"every entry the list's filters find, by the list's parameter names (a list"
               f" value is joined with commas); at most {MAX_BULK}: more is a 400")
FilterValue = str | int | list[str | int]


class BulkSetIn(BaseModel):
    """What a bulk triage sets on every entry: a status, an assignee, or both."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: EntryStatus | None = None
    assignee: Annotated[str | None, AfterValidator(canonical_if_uuid)] = Field(
        default=None, max_length=200, description="a member's user id or a name; null"
                                                  " unassigns")

    _status = field_validator("status")(status_not_null)

    @model_validator(mode="after")
    def not_empty(self) -> BulkSetIn:
        if not self.model_fields_set:
            raise ValueError("send at least one of status, assignee")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class _BulkTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ids: list[UuidStr] | None = Field(default=None, min_length=1, max_length=MAX_BULK,
                                      description=BULK_IDS)
    filter: dict[str, FilterValue] | None = Field(default=None, description=BULK_FILTER)

    @model_validator(mode="after")
    def one_target(self) -> _BulkTarget:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("send either ids or filter")
        return self


class BulkTriageIn(_BulkTarget):
    """FeedBackPro `POST /v1/feedback/bulk`: set status and/or assignee on many entries."""

    set: BulkSetIn


class BulkReviewIn(_BulkTarget):
    """Pay4Feedback `POST /api/v1/responses/bulk`: approve or reject many rewards."""

    action: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=2000)


class BulkErrorView(View):
    code: str
    message: str
    details: list[Any]


class BulkItemView(View):
    id: str
    ok: bool
    status: int = Field(description="200, or what this entry alone would have answered"
                                    " (404 unknown, 409 an impossible move …)")
    changed: bool = Field(description="false when the entry already was as asked")
    error: BulkErrorView | None = None


class FeedbackBulkItemView(BulkItemView):
    entry: FeedbackView | None = None


class ResponseBulkItemView(BulkItemView):
    response: ResponseView | None = None


class _BulkCounts(View):
    requested: int
    succeeded: int
    changed: int
    failed: int


class FeedbackBulkView(_BulkCounts):
    """One result per entry, in the order asked (a filter: newest first)."""

    items: list[FeedbackBulkItemView]


class ResponseBulkView(_BulkCounts):
    """One result per response, in the order asked (a filter: newest first)."""

    items: list[ResponseBulkItemView]


class MoneyView(View):
    currency: str
    amount: str = Field(description="a decimal number, two places")
    count: int


class BudgetView(View):
    """A campaign's reward budget (its `reward.budget`) and what approvals took of it."""

    currency: str
    amount: str = Field(description="the budget, a decimal number, two places")
    spent: str = Field(description="approved cash rewards, paid or still to be (a payout"
                                   " failed or cancelled frees its share)")
    remaining: str


class RewardTotalsView(View):
    """The rewards queue's running totals, now."""

    campaign_id: str | None
    pending: int = Field(description="responses waiting for a review")
    approved: int
    rejected: int
    pending_amounts: list[MoneyView] = Field(
        description="what the pending ones would pay at their campaign's current reward")
    approved_amounts: list[MoneyView] = Field(description="money approved, per currency")
    paid_amounts: list[MoneyView] = Field(description="money paid out, per currency")
    vouchers_approved: int
    vouchers_issued: int
    payouts_blocked: int = Field(description="approved payouts that could not be made")
    budget: BudgetView | None = Field(
        default=None, description="with `campaign_id`: the campaign's reward budget, spent"
                                  " and remaining; null when it has none")


class ScoreCountView(View):
    score: int
    count: int


class ThresholdPreviewView(View):
    """What automatic review thresholds would have done to the entries so far: approve at
    or above `auto_approve_above`, reject below `auto_reject_below` (a campaign's settings,
    as `PATCH /api/v1/campaigns/{id}` sets them), the rest left for a person."""

    campaign_id: str | None
    auto_approve_above: int | None
    auto_reject_below: int | None
    scored: int = Field(description="entries with a quality score (deleted ones aside)")
    spam: int = Field(description="of them labelled spam: never approved automatically,"
                                  " rejected when `auto_reject_below` is set")
    would_approve: int
    would_reject: int
    left_for_review: int
    by_score: list[ScoreCountView] = Field(description="entries per quality score, 0-100")


# --- payouts ------------------------------------------------------------------------------


class PayoutMarkIn(BaseModel):
    """The shop's word on a payout: what it paid with, or why it failed or was cancelled."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str | None = Field(
        default=None, max_length=140,
        description="the payment's reference (a bank transfer's, a PayPal transaction id)")
    reason: str | None = Field(default=None, max_length=2000,
                               description="why it failed or was cancelled")


class PayeeView(View):
    method: Literal["sepa", "paypal"]
    account: str = Field(description="masked: `DE89 **** **** 3000`, `k***@example.de`")


class PayoutView(View):
    """An approved reward's payout. `pending` until paid: a voucher is paid when its code is
    handed out, cash when the shop marks it paid; `failed` and `cancelled` pay nothing;
    `blocked`: a voucher pool ran dry."""

    id: str
    response_id: str
    campaign_id: str | None
    kind: Literal["amount", "voucher"]
    amount: str | None = Field(description="a decimal number, two places (cash)")
    currency: str | None
    status: Literal["pending", "claimed", "processing", "paid", "failed", "cancelled",
                    "blocked"]
    method: Literal["voucher", "manual", "sepa", "paypal"] | None = Field(
        description="how it was paid: `paypal` through PayPal's Payouts API (when the"
                    " operator has configured it)")
    reference: str | None
    failure_reason: str | None
    blocked_reason: str | None
    settled_by: str | None = Field(description="the member or key that marked it")
    created_at: datetime
    paid_at: datetime | None
    updated_at: datetime | None
    payee: PayeeView | None = Field(
        default=None, description="how the shopper asked to be paid (cash, once claimed),"
        " masked")
    claim_expires_at: datetime | None = Field(
        default=None, description="until when the shopper's claim link works (cash)")
    claimed_at: datetime | None = None
    batch_id: str | None = Field(default=None,
                                 description="the SEPA batch that pays it, once in one")
    not_batchable: str | None = Field(
        default=None, description="why no SEPA batch takes this claimed bank payout (SEPA"
        " pays EUR only): pay it another way and mark it paid; null otherwise")


class PayoutAccountIn(BaseModel):
    """The shop's own account SEPA credit transfers are paid from (the debtor)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=70, description="the account holder")
    iban: str = Field(min_length=1, max_length=50)
    bic: str | None = Field(default=None, max_length=11,
                            description="optional: taken from the IBAN when the bank is known")


class PayoutAccountView(View):
    name: str
    iban: str = Field(description="masked")
    bic: str | None
    updated_at: datetime


class PayoutBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_date: date | None = Field(
        default=None, description="the requested execution date (default: today)")


class PayoutBatchPaidIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str | None = Field(default=None, max_length=140,
                                  description="the bank's reference of the upload")


class NotBatchableView(View):
    payout_id: str
    amount: str
    currency: str
    reason: str


class PayoutBatchView(View):
    """A SEPA credit-transfer batch: every claimed bank payout (EUR) not yet in one, taken
    at its creation (`processing`), paid together."""

    id: str
    status: Literal["open", "paid"]
    message_id: str = Field(description="the pain.001 file's MsgId (the same on every"
                            " download, so a bank refuses a second upload)")
    currency: str
    total: str
    count: int
    execution_date: date
    payout_ids: list[str]
    created_at: datetime
    created_by: str | None
    paid_at: datetime | None
    paid_by: str | None
    reference: str | None
    not_batchable: list[NotBatchableView] = Field(
        default_factory=list, description="on creation: the claimed bank payouts this batch"
        " could not take (not in EUR), each to be paid another way and marked paid")


# --- the shopper's claim page (no key: the link's token is the credential) ------------------


class ClaimTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class ClaimAnswerIn(ClaimTokenIn):
    """How the shopper wants to be paid, or that they decline the reward."""

    method: Literal["sepa", "paypal", "decline"]
    iban: str | None = Field(default=None, max_length=50)
    account_holder: str | None = Field(default=None, max_length=70)
    paypal_email: str | None = Field(default=None, max_length=254)


class ClaimView(View):
    status: Literal["pending", "claimed", "cancelled"]
    amount: str
    currency: str
    language: Literal["de", "en"]
    expires_at: datetime
    payee: PayeeView | None = None


# --- data-subject requests (GDPR access, portability, erasure) ------------------------------


class PrivacyRequestIn(BaseModel):
    """A shopper's request about their data: everything held about one email address
    (`export`), or its erasure. The address is matched exactly, ignoring case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["export", "erasure"]
    customer_email: EmailStr


class PrivacyProgressView(View):
    service: str
    status: Literal["pending", "completed"]
    completed_at: datetime | None
    counts: dict[str, int] = Field(description="how many records of each kind it found or"
                                   " erased")


class PrivacyRequestView(View):
    """A data-subject request. It never shows the email: the subject is named by the
    SHA-256 of the address, trimmed and lower-cased."""

    id: str
    type: Literal["export", "erasure"]
    status: Literal["in_progress", "completed"]
    subject_sha256: str
    requested_by: str | None
    requested_at: datetime
    completed_at: datetime | None
    progress: list[PrivacyProgressView] = Field(description="one row per service")
    export_available: bool = Field(description="an export's document can be downloaded")


class PrivacyExportView(View):
    """Everything held about one shopper: each entry with its answers, metadata, notes,
    reward review and payout."""

    request_id: str
    customer_email: str
    generated_at: datetime
    entries: list[dict[str, Any]]
