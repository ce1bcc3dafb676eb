"""One sample payload per event type, for the documents made from the payload classes:
the webhook catalog (webhook-dispatcher) and the AsyncAPI document (shared.asyncapi).

A base class's sample stands for its subclasses (`sample_of`): a new event type that
adds no required field to its base needs no sample of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import ValidationError

from .events import (
    ApiKeyChanged,
    ApiKeyRotated,
    EndpointDisabled,
    EntrySnapshot,
    EventData,
    FeedbackAssigned,
    FeedbackCreated,
    FeedbackDeleted,
    FeedbackEvent,
    FeedbackNoteAdded,
    FeedbackStatusChanged,
    FeedbackUpdated,
    MessageAttemptExhausted,
    PasswordResetRequested,
    PayoutClaimOffered,
    PayoutCompleted,
    PayoutFailed,
    PrivacyErasureCompleted,
    PrivacyErasureRequested,
    RewardReviewed,
    TenantUpdated,
    UserInvited,
    UserRemoved,
    WidgetChanged,
    WidgetSnapshot,
)
from .widget_contracts import Budget, PerShopper, Reward

SAMPLE_TIME = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SAMPLE_TENANT_ID = "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a09"
_USER_ID = "3f1c2b4a-6d5e-4f70-8a9b-1c2d3e4f5a6b"
_ENTRY = EntrySnapshot(
    id="5b0c3f0e-8d7a-4c1e-9a55-0f6f4a1d2c33", version=2,
    widget_id="0d9e7b7c-2f4b-4b39-8f0c-6b1f5c3a9e21", status="in_progress", rating=2,
    category="checkout", assignee=_USER_ID, created_at=SAMPLE_TIME,
    updated_at=SAMPLE_TIME, first_response_at=SAMPLE_TIME, quality_score=74)
_WIDGET = WidgetSnapshot(
    id="0d9e7b7c-2f4b-4b39-8f0c-6b1f5c3a9e21", public_id="wdg_7Hq2mK9xR4", name="Checkout",
    status="active", reward=Reward(
        amount=Decimal("5.00"), currency="EUR",
        budget=Budget(amount=Decimal("500.00"), currency="EUR"),
        per_shopper=PerShopper(max_rewards=1, period_days=30)).announced(),
    version=3, updated_at=SAMPLE_TIME)
# A sealed token as the key ring writes one (its ciphertext made up).
_SEALED = "v1:k1:6Wm1bq0yJ8Gm4lq3V2Yl0w.ZC9oX2l1Y3J5cHRlZC10b2tlbi1zYW1wbGU"

# One validated instance per payload model.
SAMPLES: dict[type[EventData], EventData] = {
    FeedbackEvent: FeedbackEvent(entry=_ENTRY),
    FeedbackCreated: FeedbackCreated(entry=_ENTRY, body="The checkout button does not react"
                                     " on my phone.", customer_email="kim@example.com"),
    FeedbackUpdated: FeedbackUpdated(entry=_ENTRY, changed=["category"]),
    FeedbackStatusChanged: FeedbackStatusChanged(entry=_ENTRY, from_status="new",
                                                 to_status="in_progress"),
    FeedbackAssigned: FeedbackAssigned(entry=_ENTRY, from_assignee=None,
                                       to_assignee=_ENTRY.assignee),
    FeedbackNoteAdded: FeedbackNoteAdded(entry=_ENTRY, note_id="8c2d1e0f-7a6b-4c5d-9e8f"
                                         "-0a1b2c3d4e5f", author=_ENTRY.assignee),
    FeedbackDeleted: FeedbackDeleted(entry=_ENTRY.model_copy(update={"deleted": True})),
    RewardReviewed: RewardReviewed(response_id=_ENTRY.id,
                                   reward_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                                   widget_id=_WIDGET.id, amount=Decimal("5.00"), currency="EUR",
                                   reviewed_by=_ENTRY.assignee, reason=None),
    PayoutCompleted: PayoutCompleted(payout_id="2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
                                     response_id=_ENTRY.id, amount=Decimal("5.00"),
                                     currency="EUR", customer_email="kim@example.com"),
    PayoutClaimOffered: PayoutClaimOffered(
        payout_id="2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091", response_id=_ENTRY.id,
        amount=Decimal("5.00"), currency="EUR", language="de", expires_at=SAMPLE_TIME,
        token_sealed=_SEALED),
    PayoutFailed: PayoutFailed(payout_id="2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
                               response_id=_ENTRY.id, amount=Decimal("5.00"), currency="EUR",
                               status="failed", reason="IBAN rejected by the bank"),
    WidgetChanged: WidgetChanged(widget=_WIDGET),
    UserInvited: UserInvited(user_id=_USER_ID, token_sealed=_SEALED, email="kim@my-shop.example",
                             role="editor", expires_at=SAMPLE_TIME),
    PasswordResetRequested: PasswordResetRequested(
        user_id=_USER_ID, token_sealed=_SEALED, email="kim@my-shop.example",
        organization="My Shop", expires_at=SAMPLE_TIME),
    UserRemoved: UserRemoved(user_id=_USER_ID, owner_id="7a6b5c4d-3e2f-4109-8a7b-6c5d4e3f2a1b"),
    TenantUpdated: TenantUpdated(name="My Shop", timezone="Europe/Berlin",
                                  retention_months=24, version=4),
    ApiKeyChanged: ApiKeyChanged(key_id="0f1e2d3c-4b5a-4697-8877-665544332211",
                                 prefix="rk_live_3x9Q", role="editor"),
    ApiKeyRotated: ApiKeyRotated(key_id="1a2b3c4d-5e6f-4708-9a1b-2c3d4e5f6a7b",
                                 prefix="rk_live_8kLm", role="editor",
                                 replaces="0f1e2d3c-4b5a-4697-8877-665544332211"),
    EndpointDisabled: EndpointDisabled(subscription_id="4d5e6f70-8192-4a3b-8c4d-5e6f708192a3",
                                       url="https://hooks.my-shop.example/resonanz",
                                       reason="endpoint answered 410 Gone"),
    MessageAttemptExhausted: MessageAttemptExhausted(
        subscription_id="4d5e6f70-8192-4a3b-8c4d-5e6f708192a3",
        url="https://hooks.my-shop.example/resonanz",
        message_id="msg_1f2e3d4c5b6a79881f2e3d4c5b6a7988",
        message_event_id="7e6d5c4b-3a29-4817-8e6d-5c4b3a291807", event_type="feedback_created",
        attempts=8, last_status=503, last_outcome="throttled"),
    PrivacyErasureRequested: PrivacyErasureRequested(
        request_id="c4d5e6f7-0819-4a2b-9c3d-4e5f60718293",
        subject_sha256="4b6b2b3f1c4d1e0e9d1a1b8f6e5c2d3a7f8e9d0c1b2a39485766554433221100",
        entry_ids=[_ENTRY.id], payout_ids=["2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"],
        requested_at=SAMPLE_TIME),
    PrivacyErasureCompleted: PrivacyErasureCompleted(
        request_id="c4d5e6f7-0819-4a2b-9c3d-4e5f60718293", service="webhook-dispatcher",
        redacted={"deliveries": 3, "mails": 1}),
}


def sample_of(model: type[EventData]) -> EventData | None:
    """A validated instance of `model`: its own sample, or its nearest base's that is
    valid for it; None when there is none."""
    for base in model.__mro__:
        sample = SAMPLES.get(base)
        if sample is None:
            continue
        if base is model:
            return sample
        try:
            return model.model_validate(sample.model_dump())
        except ValidationError:
            return None
    return None
