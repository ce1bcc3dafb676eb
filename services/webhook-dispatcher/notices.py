"""What the dispatcher tells people by email, composed from events. Pure: no I/O.

A notice is addressed either to one address or to a tenant's admins, whom the mail
worker looks up at send time (so an outage of the gateway delays, never loses, it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from resonanz.shared.events import (
    EndpointDisabled,
    MessageAttemptExhausted,
    PasswordResetRequested,
    PayoutClaimOffered,
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


def dashboard_link(dashboard_url: str, page: str, token: str) -> str:
    """A dashboard page with a one-time token in the fragment: browsers do not send a
    fragment, so the token reaches no server log on its way to the page."""
    return f"{dashboard_url.rstrip('/')}/{page}#token={token}"


def invitation(data: UserInvited, token: str, link_template: str | None,
               dashboard_url: str) -> Notice:
    """`token` is the invitation token, opened from the event. The link leads to the
    dashboard page where the invitee sets a password, unless a template says otherwise."""
    link = (link_template.format(token=token) if link_template
            else dashboard_link(dashboard_url, "invitation", token))
    text = (
        f"Hello,\n\nyou have been invited to join your team on Resonanz as {data.role}.\n"
        f"Accept it here: {link}\n\nThe invitation expires at"
        f" {data.expires_at.isoformat()}.\n"
    )
    return Notice("invitation", "address", data.email, "You are invited to Resonanz", text)


def password_reset(data: PasswordResetRequested, token: str, dashboard_url: str) -> Notice:
    link = dashboard_link(dashboard_url, "reset-password", token)
    text = (
        f"Hello,\n\nsomeone asked to reset your Resonanz password for {data.organization}."
        f"\nSet a new password here: {link}\n\nThe link works once, until"
        f" {data.expires_at.isoformat()}. If you did not ask for it, ignore this email:"
        " your password stays as it is.\n"
    )
    return Notice("password_reset", "address", data.email, "Reset your Resonanz password",
                  text)


def widget_resumed(data: WidgetChanged) -> Notice:
    widget = data.widget
    text = (
        f"The feedback widget \"{widget.name}\" ({widget.id}) has been resumed and is"
        " collecting feedback again.\n"
    )
    return Notice("widget_resumed", "tenant_admins", None,
                  f"Widget resumed: {widget.name}", text)


def message_exhausted(data: MessageAttemptExhausted) -> Notice:
    """At most one a day per endpoint (the queue deduplicates): a down endpoint exhausts
    one message after another."""
    text = (
        f"A webhook to {data.url} (subscription {data.subscription_id}) failed every attempt"
        f" of the retry schedule ({data.attempts} attempts; last: {data.last_outcome}"
        f"{f' {data.last_status}' if data.last_status else ''}). Others to this endpoint may"
        " follow today without a further email.\n\nFix the endpoint, then recover the failed"
        " deliveries from the delivery log.\n"
    )
    return Notice("message_attempt_exhausted", "tenant_admins", None,
                  "Webhook delivery failed for good", text)


def endpoint_disabled(data: EndpointDisabled) -> Notice:
    text = (
        f"Resonanz stopped sending webhooks to {data.url} (subscription"
        f" {data.subscription_id}): {data.reason}.\n\nFix the endpoint, enable the"
        " subscription again and recover the failed deliveries from the delivery log.\n"
    )
    return Notice("endpoint_disabled", "tenant_admins", None,
                  "Webhook endpoint disabled", text)


def money(amount: Decimal | None, currency: str | None, language: str) -> str:
    """`5.00 EUR`, or `5,00 EUR` in German."""
    figure = f"{amount}" if amount is not None else ""
    if language == "de":
        figure = figure.replace(".", ",")
    return f"{figure} {currency or ''}".strip()


def claim_link(dashboard_url: str, token: str, language: str) -> str:
    """The claim page, served by the gateway beside the dashboard (`…/claim`), with the
    token in the fragment: browsers do not send it, so it reaches no server log."""
    base = dashboard_url.rstrip("/").removesuffix("/app")
    return f"{base}/claim?lang={language}#token={token}"


def claim_offer(data: PayoutClaimOffered, email: str | None, token: str,
                dashboard_url: str) -> Notice | None:
    """The shopper's link to say how to be paid (or to decline), in their language."""
    if not email:
        return None
    link = claim_link(dashboard_url, token, data.language)
    amount = money(data.amount, data.currency, data.language)
    if data.language == "de":
        until = data.expires_at.strftime("%d.%m.%Y")
        text = (f"Hallo,\n\nvielen Dank für Ihr Feedback! Als Dankeschön erhalten Sie {amount}."
                f"\nTeilen Sie uns hier mit, wie wir Ihnen das Geld senden sollen (Überweisung"
                f" oder PayPal):\n{link}\n\nDer Link gilt einmal, bis zum {until}. Möchten Sie"
                " die Belohnung nicht, können Sie sie dort auch ablehnen.\n")
        return Notice("payout_claim", "address", email,
                      "Ihre Belohnung für Ihr Feedback: so erhalten Sie sie", text)
    until = data.expires_at.strftime("%Y-%m-%d")
    text = (f"Hello,\n\nthank you for your feedback! As a thank-you you receive {amount}.\n"
            f"Tell us here how we should send you the money (bank transfer or PayPal):\n"
            f"{link}\n\nThe link works once, until {until}. If you do not want the reward,"
            " you can decline it there.\n")
    return Notice("payout_claim", "address", email,
                  "Your reward for your feedback: how to receive it", text)


def payout(data: PayoutCompleted, voucher_code: str | None) -> Notice | None:
    """`voucher_code` is the code opened from the event. German when the shopper wrote in
    German (`language` of the event), else English."""
    if not data.customer_email:
        return None
    german = data.language == "de"
    if voucher_code:
        what = (f"Ihr Gutscheincode: {voucher_code}" if german
                else f"Your voucher code: {voucher_code}")
    elif data.amount is not None:
        amount = money(data.amount, data.currency, "de" if german else "en")
        what = (f"Wir haben Ihnen {amount} ausgezahlt." if german
                else f"We have paid out {amount}.")
    else:
        what = ("Ihre Belohnung wurde ausgezahlt." if german
                else "Your reward has been paid out.")
    if german:
        return Notice("payout", "address", data.customer_email,
                      "Danke für Ihr Feedback: Ihre Belohnung",
                      f"Hallo,\n\nvielen Dank für Ihr Feedback. {what}\n")
    text = f"Hello,\n\nthank you for your feedback. {what}\n"
    return Notice("payout", "address", data.customer_email,
                  "Thank you for your feedback — your reward", text)


MAIL_MAX_ATTEMPTS = 20


def mail_retry_delay(attempts_made: int) -> timedelta | None:
    """Back off 10 s, 20 s, … up to an hour; give up after about a day of trying."""
    if attempts_made >= MAIL_MAX_ATTEMPTS:
        return None
    return min(timedelta(seconds=10 * 2 ** (attempts_made - 1)), timedelta(hours=1))
