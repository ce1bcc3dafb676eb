"""The CloudEvents 1.0 envelope and one pydantic model per event type.

Every event carries enough state for its consumers to be correct under
redelivery and reordering: feedback events carry a versioned snapshot of the
entry, widget events a snapshot of the widget.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .crypto import KeyRing
from .timestamps import Timestamp

# --- topics ----------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """A topic: the Settings field that names it and the one service that writes it."""

    setting: str
    producer: str


FEEDBACK_TOPIC = Topic("topic_feedback", "feedback")
WIDGETS_TOPIC = Topic("topic_widgets", "widgets")
IDENTITY_TOPIC = Topic("topic_identity", "gateway")
WEBHOOKS_TOPIC = Topic("topic_webhooks", "webhook-dispatcher")
TOPICS = (FEEDBACK_TOPIC, WIDGETS_TOPIC, IDENTITY_TOPIC, WEBHOOKS_TOPIC)


# --- payloads --------------------------------------------------------------------


class EventData(BaseModel):
    """A payload: the `data` of a CloudEvent. A class that sets `type_name` is an event
    type (its CloudEvents `type`, given here and nowhere else) and registers itself in
    EVENT_TYPES; a class without one is a shape that event types share (a consumer may
    register one handler for a base class: it takes every subclass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type_name: ClassVar[str | None] = None
    # The topic events of this class go to, inherited by subclasses.
    topic: ClassVar[Topic | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name")
        if name is None:
            return
        if name in EVENT_TYPES:
            raise TypeError(f"{cls.__name__}: {name} is already {EVENT_TYPES[name].__name__}")
        if cls.topic is None:
            raise TypeError(f"{cls.__name__} ({name}) names no topic")
        EVENT_TYPES[name] = cls

    @classmethod
    def cloudevents_type(cls) -> str:
        if cls.type_name is None:
            raise TypeError(f"{cls.__name__} is no event type of its own")
        return cls.type_name


# Every event type's name → its payload class, filled in as the classes below are defined.
EVENT_TYPES: dict[str, type[EventData]] = {}


class EntrySnapshot(EventData):
    """The state of a feedback entry right after the change that the event reports."""

    id: str
    version: int
    widget_id: str | None
    status: str
    rating: int | None
    category: str | None
    assignee: str | None
    created_at: Timestamp
    updated_at: Timestamp
    first_response_at: Timestamp | None = None
    resolved_at: Timestamp | None = None
    deleted: bool = False
    quality_score: int | None = None


class FeedbackEvent(EventData):
    """A change to a feedback entry, with the entry's snapshot after it."""

    topic = FEEDBACK_TOPIC

    entry: EntrySnapshot


class FeedbackCreated(FeedbackEvent):
    """A new entry. The event carries no personal data (docs/privacy.md): `body` and
    `customer_email` are null in it (events of older releases may carry them), and the
    `feedback_created` webhook has them from the feedback service as they are when it is
    built (null once the shopper was erased)."""

    type_name = "feedback.created"

    body: str | None = Field(default=None, description="in the webhook only")
    customer_email: str | None = Field(default=None, description="in the webhook only")


class FeedbackUpdated(FeedbackEvent):
    type_name = "feedback.updated"

    changed: list[str]


class FeedbackStatusChanged(FeedbackEvent):
    type_name = "feedback.status_changed"

    from_status: str
    to_status: str


class FeedbackAssigned(FeedbackEvent):
    type_name = "feedback.assigned"

    from_assignee: str | None
    to_assignee: str | None


class FeedbackNoteAdded(FeedbackEvent):
    type_name = "feedback.note_added"

    note_id: str
    author: str | None


class FeedbackDeleted(FeedbackEvent):
    type_name = "feedback.deleted"


class FeedbackRestored(FeedbackEvent):
    """A soft-deleted entry brought back: its snapshot says `deleted: false` again."""

    type_name = "feedback.restored"


class RewardReviewed(EventData):
    """A reward approved or rejected. The team's `reason` is free text that may name the
    shopper, so it travels like an entry's text (docs/privacy.md): null in the event
    (events of older releases may carry it); the `reward_approved` and `reward_rejected`
    webhooks have it from the feedback service when they are built (`[erased]` once the
    shopper was erased)."""

    topic = FEEDBACK_TOPIC

    response_id: str
    reward_id: str
    widget_id: str | None
    amount: Decimal | None = None
    currency: str | None = None
    reviewed_by: str | None = None
    reason: str | None = Field(default=None, description="in the webhook only")


class RewardApproved(RewardReviewed):
    type_name = "reward.approved"


class RewardRejected(RewardReviewed):
    type_name = "reward.rejected"


class PayoutEvent(EventData):
    """What happened to an approved reward's payout (`response_id`: its entry)."""

    topic = FEEDBACK_TOPIC

    payout_id: str
    response_id: str
    amount: Decimal | None = None
    currency: str | None = None


class PayoutCompleted(PayoutEvent):
    """A payout paid: a voucher's code handed out, or cash the shop has marked paid (never
    on approval alone). A voucher's code is money: it travels sealed under the application key
    ring, to this payout, for the shopper's email only (the `payout_completed` webhook
    leaves it out). `voucher_code` in plaintext is only in events of older releases.
    `customer_email` is null in the event (personal data stays with the feedback service):
    the dispatcher asks for it when it builds the webhook and the shopper's mail."""

    type_name = "payout.completed"

    voucher_code: str | None = None
    voucher_code_sealed: str | None = None
    customer_email: str | None = Field(default=None, description="in the webhook only")
    # The shopper's language for the "paid" email (`de` or `en`); not in the webhook.
    language: str | None = None

    @staticmethod
    def voucher_context(payout_id: str) -> str:
        return f"PayoutCompleted.voucher_code:{uuid.UUID(payout_id)}"

    @classmethod
    def seal_voucher(cls, ring: KeyRing, payout_id: str, code: str | None) -> str | None:
        return None if code is None else ring.encrypt(code, cls.voucher_context(payout_id))

    def voucher(self, ring: KeyRing) -> str | None:
        """The voucher code; UndecryptableSecret when no key of the ring opens it."""
        if self.voucher_code_sealed is None:
            return self.voucher_code
        return ring.decrypt(self.voucher_code_sealed, self.voucher_context(self.payout_id))


class PayoutClaimOffered(PayoutEvent):
    """An approved cash reward waits for the shopper to say how to be paid: the dispatcher
    emails them (in `language`, `de` or `en`) a single-use link to the claim page, valid
    until `expires_at`. The link's token travels sealed under the application key ring to
    this payout, like an invitation's; the feedback service keeps only its digest. Not a
    webhook; the shopper's address is asked of the feedback service, as for every mail."""

    type_name = "payout.claim_offered"

    language: Literal["de", "en"] = "en"
    expires_at: Timestamp
    token_sealed: str

    @staticmethod
    def token_context(payout_id: str) -> str:
        return f"PayoutClaimOffered.token:{uuid.UUID(payout_id)}"

    @classmethod
    def seal_token(cls, ring: KeyRing, payout_id: str, token: str) -> str:
        return ring.encrypt(token, cls.token_context(payout_id))

    def open_token(self, ring: KeyRing) -> str:
        """The token; UndecryptableSecret when no key of the ring opens it."""
        return ring.decrypt(self.token_sealed, self.token_context(self.payout_id))


class PayoutFailed(PayoutEvent):
    """A payout that will not be paid: it `failed` (the shop's payment did not go through)
    or was `cancelled`. Nothing was paid; no email tells the shopper otherwise."""

    type_name = "payout.failed"

    status: Literal["failed", "cancelled"]
    reason: str | None = None


class WidgetSnapshot(EventData):
    id: str
    public_id: str
    name: str
    status: str
    reward: dict[str, Any] | None = None
    auto_approve_above: int | None = None
    auto_reject_below: int | None = None
    paused_at: Timestamp | None = None
    scheduled_resume: Timestamp | None = None
    pause_reason: str | None = None
    # Grows by one with every change: consumers drop a snapshot older than the one they hold.
    version: int | None = None
    updated_at: Timestamp | None = None


class WidgetChanged(EventData):
    """A widget after a change; `notify` asks for the owner's mail (a resume)."""

    topic = WIDGETS_TOPIC

    widget: WidgetSnapshot
    notify: bool = False


class WidgetCreated(WidgetChanged):
    type_name = "widget.created"


class WidgetUpdated(WidgetChanged):
    type_name = "widget.updated"


class WidgetPaused(WidgetChanged):
    type_name = "widget.paused"


class WidgetResumed(WidgetChanged):
    type_name = "widget.resumed"


class WidgetEnded(WidgetChanged):
    type_name = "widget.ended"


class SealedTokenEvent(EventData):
    """An event that carries a one-time token to the mail it causes (an invitation, a
    password reset). The token is sealed under the application key ring to the event type
    and the user (resonanz.shared.crypto), so neither the outbox nor the topic holds it in
    plaintext; only a service with the key ring opens it."""

    topic = IDENTITY_TOPIC

    user_id: str
    token_sealed: str

    @classmethod
    def token_context(cls, user_id: str) -> str:
        return f"{cls.__name__}.token:{uuid.UUID(user_id)}"

    @classmethod
    def seal_token(cls, ring: KeyRing, user_id: str, token: str) -> str:
        return ring.encrypt(token, cls.token_context(user_id))

    def open_token(self, ring: KeyRing) -> str:
        """The token; UndecryptableSecret when no key of the ring opens it."""
        return ring.decrypt(self.token_sealed, self.token_context(self.user_id))


class UserInvited(SealedTokenEvent):
    type_name = "user.invited"

    email: str
    role: str
    expires_at: Timestamp


class PasswordResetRequested(SealedTokenEvent):
    """A member asked for a password reset: the mail carries a link with the token,
    valid until `expires_at`. `organization` names the tenant (one email may be a member
    of several, each with its own password)."""

    type_name = "user.password_reset_requested"

    email: str
    organization: str
    expires_at: Timestamp


class UserRemoved(EventData):
    type_name = "user.removed"
    topic = IDENTITY_TOPIC

    user_id: str
    owner_id: str | None


class TenantUpdated(EventData):
    """An organization's settings after a change. `version` grows by one with every
    change: a consumer keeps the highest it has seen."""

    type_name = "tenant.updated"
    topic = IDENTITY_TOPIC

    name: str
    timezone: str
    # Months after which the organization's entries are anonymised (docs/privacy.md);
    # events of older releases have none: the default.
    retention_months: int = 24
    version: int


class ApiKeyChanged(EventData):
    """An API key created, rotated or revoked (by an admin or the operator's CLI): its id,
    visible prefix and role, never the key itself."""

    topic = IDENTITY_TOPIC

    key_id: str
    prefix: str
    role: str


class ApiKeyCreated(ApiKeyChanged):
    type_name = "api_key.created"


class ApiKeyRevoked(ApiKeyChanged):
    type_name = "api_key.revoked"


class ApiKeyRotated(ApiKeyChanged):
    """The successor key; the key it `replaces` keeps working for 24 hours."""

    type_name = "api_key.rotated"

    replaces: str


class EndpointDisabled(EventData):
    type_name = "webhook.endpoint_disabled"
    topic = WEBHOOKS_TOPIC

    subscription_id: str
    url: str
    reason: str


class MessageAttemptExhausted(EventData):
    """A webhook message failed every attempt of the retry schedule (Svix's
    `message.attempt.exhausted`): it stays in the delivery log for resend or recover."""

    type_name = "webhook.message_attempt_exhausted"
    topic = WEBHOOKS_TOPIC

    subscription_id: str
    url: str
    message_id: str
    # The failed message's event: the webhook's own `data.event_id` names this notice.
    message_event_id: str = Field(description="the event whose message failed")
    event_type: str
    attempts: int
    last_status: int | None
    last_outcome: str


class PrivacyErasureRequested(EventData):
    """A data subject's erasure (GDPR Art. 17), asked of every service that holds personal
    data. It names the subject by `subject_sha256` (the SHA-256 of the normalised email,
    never the email) and lists the entries and payouts the feedback service erased; each
    service erases what it holds and answers `privacy.erasure_completed`. Delivered to
    integrators as the `customer_erased` webhook."""

    type_name = "privacy.erasure_requested"
    topic = FEEDBACK_TOPIC

    request_id: str
    subject_sha256: str = Field(description="lowercase hex SHA-256 of the email, trimmed"
                                " and lower-cased")
    entry_ids: list[str] = Field(default_factory=list)
    payout_ids: list[str] = Field(default_factory=list)
    requested_at: Timestamp


class PrivacyErasureCompleted(EventData):
    """A service's part of an erasure is done (`service` names it); the feedback service
    completes the request when every service has answered."""

    type_name = "privacy.erasure_completed"
    topic = WEBHOOKS_TOPIC

    request_id: str
    service: str
    redacted: dict[str, int] = Field(default_factory=dict,
                                     description="how many records of each kind")


# --- envelope --------------------------------------------------------------------


class UnknownEventType(ValueError):
    pass


# The Kafka protocol binding's structured mode: the record's value is the whole JSON
# event and its `content-type` header says so. No `ce_` headers beside it: a receiver
# that sees them may take the record for binary mode and the value for bare data.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in the JSON event format, sent in structured mode
    (`to_bytes()` is a record's whole value, `STRUCTURED_CONTENT_TYPE` its content type).
    `tenantid` and `requestid` are extension attributes."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str
    tenantid: str
    datacontenttype: Literal["application/json"] = "application/json"
    requestid: str | None = None
    data: dict[str, Any]

    def payload(self) -> EventData:
        """The typed payload; raises for a type this build does not know."""
        model = EVENT_TYPES.get(self.type)
        if model is None:
            raise UnknownEventType(self.type)
        return model.model_validate(self.data)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


def new_event(
    data: EventData,
    *,
    source: str,
    tenant_id: str,
    subject: str,
    request_id: str | None = None,
) -> CloudEvent:
    """The envelope of `data`; its class names the event's type."""
    return CloudEvent(
        type=type(data).cloudevents_type(),
        source=source,
        tenantid=tenant_id,
        subject=subject,
        requestid=request_id,
        data=data.model_dump(mode="json"),
    )
