"""The CloudEvents 1.0 envelope and one pydantic model per event type.

Every event carries enough state for its consumers to be correct under
redelivery and reordering: feedback events carry a versioned snapshot of the
entry, widget events a snapshot of the widget.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .crypto import KeyRing
from .timestamps import Timestamp

# --- payloads --------------------------------------------------------------------


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class FeedbackCreated(EventData):
    entry: EntrySnapshot
    body: str | None = None
    customer_email: str | None = None


class FeedbackUpdated(EventData):
    entry: EntrySnapshot
    changed: list[str]


class FeedbackStatusChanged(EventData):
    entry: EntrySnapshot
    from_status: str
    to_status: str


class FeedbackAssigned(EventData):
    entry: EntrySnapshot
    from_assignee: str | None
    to_assignee: str | None


class FeedbackNoteAdded(EventData):
    entry: EntrySnapshot
    note_id: str
    author: str | None


class FeedbackDeleted(EventData):
    entry: EntrySnapshot


class FeedbackRestored(EventData):
    """A soft-deleted entry brought back: its snapshot says `deleted: false` again."""

    entry: EntrySnapshot


class RewardReviewed(EventData):
    response_id: str
    reward_id: str
    widget_id: str | None
    amount: Decimal | None = None
    currency: str | None = None
    reviewed_by: str | None = None
    reason: str | None = None


class PayoutCompleted(EventData):
    """A payout done. A voucher's code is money: it travels sealed under the application key
    ring, to this payout, for the shopper's email only (the `payout_completed` webhook
    leaves it out). `voucher_code` in plaintext is only in events of older releases."""

    payout_id: str
    response_id: str
    amount: Decimal | None = None
    currency: str | None = None
    voucher_code: str | None = None
    voucher_code_sealed: str | None = None
    customer_email: str | None = None

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
    widget: WidgetSnapshot
    notify: bool = False


class SealedTokenEvent(EventData):
    """An event that carries a one-time token to the mail it causes (an invitation, a
    password reset). The token is sealed under the application key ring to the event type
    and the user (resonanz.shared.crypto), so neither the outbox nor the topic holds it in
    plaintext; only a service with the key ring opens it."""

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
    email: str
    role: str
    expires_at: Timestamp


class PasswordResetRequested(SealedTokenEvent):
    """A member asked for a password reset: the mail carries a link with the token,
    valid until `expires_at`. `organization` names the tenant (one email may be a member
    of several, each with its own password)."""

    email: str
    organization: str
    expires_at: Timestamp


class UserRemoved(EventData):
    user_id: str
    owner_id: str | None


class TenantUpdated(EventData):
    """An organization's settings after a change. `version` grows by one with every
    change: a consumer keeps the highest it has seen."""

    name: str
    timezone: str
    version: int


class ApiKeyChanged(EventData):
    key_id: str
    prefix: str
    role: str


class EndpointDisabled(EventData):
    subscription_id: str
    url: str
    reason: str


class MessageAttemptExhausted(EventData):
    """A webhook message failed every attempt of the retry schedule (Svix's
    `message.attempt.exhausted`): it stays in the delivery log for resend or recover."""

    subscription_id: str
    url: str
    message_id: str
    # The failed message's event: the webhook's own `data.event_id` names this notice.
    message_event_id: str = Field(description="the event whose message failed")
    event_type: str
    attempts: int
    last_status: int | None
    last_outcome: str


EVENT_TYPES: dict[str, type[EventData]] = {
    "feedback.created": FeedbackCreated,
    "feedback.updated": FeedbackUpdated,
    "feedback.status_changed": FeedbackStatusChanged,
    "feedback.assigned": FeedbackAssigned,
    "feedback.note_added": FeedbackNoteAdded,
    "feedback.deleted": FeedbackDeleted,
    "feedback.restored": FeedbackRestored,
    "reward.approved": RewardReviewed,
    "reward.rejected": RewardReviewed,
    "payout.completed": PayoutCompleted,
    "widget.created": WidgetChanged,
    "widget.updated": WidgetChanged,
    "widget.paused": WidgetChanged,
    "widget.resumed": WidgetChanged,
    "widget.ended": WidgetChanged,
    "user.invited": UserInvited,
    "user.removed": UserRemoved,
    "user.password_reset_requested": PasswordResetRequested,
    "tenant.updated": TenantUpdated,
    "api_key.created": ApiKeyChanged,
    "api_key.revoked": ApiKeyChanged,
    "api_key.rotated": ApiKeyChanged,
    "webhook.endpoint_disabled": EndpointDisabled,
    "webhook.message_attempt_exhausted": MessageAttemptExhausted,
}


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
    type_: str,
    *,
    source: str,
    tenant_id: str,
    subject: str,
    data: EventData,
    request_id: str | None = None,
) -> CloudEvent:
    if not isinstance(data, EVENT_TYPES[type_]):
        raise TypeError(f"{type_} carries {EVENT_TYPES[type_].__name__}, not {type(data).__name__}")
    return CloudEvent(
        type=type_,
        source=source,
        tenantid=tenant_id,
        subject=subject,
        requestid=request_id,
        data=data.model_dump(mode="json"),
    )
