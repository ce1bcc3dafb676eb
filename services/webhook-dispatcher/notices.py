"""What the dispatcher tells people by email, composed from events. Pure: no I/O.

A notice is addressed either to one address or to a tenant's admins, whom the mail
worker looks up at send time (so an outage of the gateway delays, never loses, it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from resonanz.shared.events import (
    EndpointDisabled,
    PayoutCompleted,
    UserInvited,
    WidgetChanged,
)

Audience = Literal["address", "tenant_admins"]


@dataclass(frozen=True)
class Notice:
    kind: str
    audience: Audience
    recipient: str | None
    subject: str
    text: str


def invitation(data: UserInvited, token: str, link_template: str | None) -> Notice:
    """`token` is the invitation token, opened from the event."""
    link = link_template.format(token=token) if link_template else None
    how = f"Accept it here: {link}" if link else f"Your invitation token: {token}"
    text = (
        f"Hello,\n\nyou have been invited to join your team on Resonanz as {data.role}.\n"
        f"{how}\n\nThe invitation expires at {data.expires_at.isoformat()}.\n"
    )
    return Notice("invitation", "address", data.email, "You are invited to Resonanz", text)


def widget_resumed(data: WidgetChanged) -> Notice:
    widget = data.widget
    text = (
        f"The feedback widget \"{widget.name}\" ({widget.id}) has been resumed and is"
        " collecting feedback again.\n"
    )
    return Notice("widget_resumed", "tenant_admins", None,
                  f"Widget resumed: {widget.name}", text)


def endpoint_disabled(data: EndpointDisabled) -> Notice:
    text = (
        f"Resonanz stopped sending webhooks to {data.url} (subscription"
        f" {data.subscription_id}): {data.reason}.\n\nFix the endpoint, enable the"
        " subscription again and recover the failed deliveries from the delivery log.\n"
    )
    return Notice("endpoint_disabled", "tenant_admins", None,
                  "Webhook endpoint disabled", text)


def payout(data: PayoutCompleted) -> Notice | None:
    if not data.customer_email:
        return None
    if data.voucher_code:
        what = f"Your voucher code: {data.voucher_code}"
    elif data.amount is not None:
        what = f"We have paid out {data.amount} {data.currency or ''}".rstrip() + "."
    else:
        what = "Your reward has been paid out."
    text = f"Hello,\n\nthank you for your feedback. {what}\n"
    return Notice("payout", "address", data.customer_email,
                  "Thank you for your feedback — your reward", text)


MAIL_MAX_ATTEMPTS = 20


def mail_retry_delay(attempts_made: int) -> timedelta | None:
    """Back off 10 s, 20 s, … up to an hour; give up after about a day of trying."""
    if attempts_made >= MAIL_MAX_ATTEMPTS:
        return None
    return min(timedelta(seconds=10 * 2 ** (attempts_made - 1)), timedelta(hours=1))
