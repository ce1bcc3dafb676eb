"""Payment providers that pay a claimed cash payout on the shop's behalf (issue 24).

A provider is small: `pay` hands it one payout and the shopper's payment details and
answers its reference for the payment; `status` says, for that reference, whether the
money has arrived, has failed, or is still on its way. sending.py is the worker around it
(what is due, recorded before each call, settled once).

PayPal's Payouts API (https://developer.paypal.com/api/payments.payouts-batch/v1/): an
OAuth2 client-credentials token (POST /v1/oauth2/token), one batch per payout (POST
/v1/payments/payouts with a `sender_batch_header` and one item), its status from GET
/v1/payments/payouts/{payout_batch_id}. The payout id is the request's PayPal-Request-Id,
the batch's `sender_batch_id` and the item's `sender_item_id`: PayPal completes a payment
once per sender_batch_id (30 days) and answers a repeated PayPal-Request-Id with the
original batch, so a request repeated after a crash or a timeout pays nothing twice.

Nothing here logs or raises a payee's address: errors carry PayPal's error name and the
HTTP status only (PayPal's messages may quote the receiver)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

import aiohttp

# An item's transaction_status (PayPal's transaction_enum): the money has arrived, it will
# not (RETURNED: unclaimed for 30 days and sent back; REFUNDED, REVERSED: taken back), or
# it is still on its way (PENDING, UNCLAIMED: the receiver has no PayPal account yet,
# ONHOLD: PayPal reviews it).
PAID_STATES = frozenset({"SUCCESS"})
FAILED_STATES = frozenset({"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED"})
# A whole batch PayPal refused or cancelled pays none of its items.
FAILED_BATCH_STATES = frozenset({"DENIED", "CANCELED"})
# Refusals that may pass by themselves: the retry waits and tries again.
RETRIED_ERRORS = frozenset({"INSUFFICIENT_FUNDS", "RATE_LIMIT_REACHED", "INTERNAL_ERROR"})
TOKEN_MARGIN = 60.0  # seconds: a token this close to its expiry is renewed first


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered that it cannot now: try again later, with
    the same request (nothing is known to have been paid or refused)."""


class ProviderRefused(Exception):
    """The provider refused the payout for good (its error name says why): nothing was
    paid, and the same request would be refused again."""

    def __init__(self, message: str, name: str = "", answer: Any = None) -> None:
        super().__init__(message)
        self.name, self.answer = name, answer


@dataclass(frozen=True)
class ProviderPayout:
    """What a provider needs of a payout: its id (the idempotency key), amount, currency."""

    id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ProviderStatus:
    state: Literal["pending", "paid", "failed"]
    detail: str  # the provider's own word for it (SUCCESS, UNCLAIMED, …)
    transaction: str | None = None  # the provider's id of the transfer, once there is one


class PayoutProvider(Protocol):
    name: str

    async def pay(self, payout: ProviderPayout, payee: dict[str, Any]) -> str:
        """Send the payout; its reference at the provider. ProviderUnavailable: try again
        with the same payout; ProviderRefused: it will not be paid."""
        ...

    async def status(self, reference: str) -> ProviderStatus:
        """Where the payment `pay` answered `reference` for stands now."""
        ...


class PayPalPayouts:
    """PayPal's Payouts API (REST, v1) under the shop's client credentials."""

    name = "paypal"

    def __init__(self, http: aiohttp.ClientSession, base_url: str, client_id: str,
                 secret: str, timeout: float = 20.0) -> None:
        self.http, self.base_url = http, base_url.rstrip("/")
        self.client_id, self.secret = client_id, secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._token: tuple[str, float] | None = None

    async def pay(self, payout: ProviderPayout, payee: dict[str, Any]) -> str:
        body = {
            "sender_batch_header": {
                "sender_batch_id": payout.id, "recipient_type": "EMAIL",
                "email_subject": "Your reward", "email_message": "Thank you for your review."},
            "items": [{
                "recipient_type": "EMAIL", "receiver": payee["paypal_email"],
                "amount": {"value": f"{payout.amount:.2f}", "currency": payout.currency},
                "sender_item_id": payout.id, "note": "Thank you for your review."}],
        }
        try:
            answer = await self._call("POST", "/v1/payments/payouts", json=body,
                                      headers={"PayPal-Request-Id": payout.id})
        except ProviderRefused as refused:
            # A sender_batch_id used before is refused with a link to the batch it made:
            # that batch is this payout's (a repeat PayPal no longer matched by its
            # PayPal-Request-Id). A refusal naming a duplicate without one is not taken as
            # final: it may have been paid.
            original = _linked_batch(refused.answer)
            if original is not None:
                return original
            if "DUPLICATE" in refused.name or "ALREADY" in refused.name:
                raise ProviderUnavailable(str(refused)) from None
            raise
        reference = (answer.get("batch_header") or {}).get("payout_batch_id")
        if not isinstance(reference, str) or not reference:
            # Sent, maybe made: asked again with the same keys, PayPal answers the batch.
            raise ProviderUnavailable("PayPal answered without a payout_batch_id")
        return reference

    async def status(self, reference: str) -> ProviderStatus:
        answer = await self._call("GET", f"/v1/payments/payouts/{reference}")
        batch_state = str((answer.get("batch_header") or {}).get("batch_status", ""))
        items = [i for i in answer.get("items") or [] if isinstance(i, dict)]
        if not items:
            if batch_state in FAILED_BATCH_STATES:
                return ProviderStatus("failed", batch_state)
            return ProviderStatus("pending", batch_state or "PENDING")
        item = items[0]  # one item per batch (pay)
        detail = str(item.get("transaction_status", "PENDING"))
        transaction = item.get("transaction_id") or item.get("payout_item_id")
        if detail in PAID_STATES:
            return ProviderStatus("paid", detail, transaction)
        if detail in FAILED_STATES or batch_state in FAILED_BATCH_STATES:
            error = (item.get("errors") or {}).get("name")
            return ProviderStatus("failed", f"{detail}: {error}" if error else detail,
                                  transaction)
        return ProviderStatus("pending", detail, transaction)

    async def _access_token(self) -> str:
        """A client-credentials token, kept until shortly before it expires."""
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        try:
            async with self.http.post(
                    f"{self.base_url}/v1/oauth2/token", data={"grant_type": "client_credentials"},
                    headers={"Accept": "application/json", "Authorization":
                             aiohttp.encode_basic_auth(self.client_id, self.secret)},
                    timeout=self.timeout) as response:
                if response.status >= 400:
                    # Wrong credentials are the operator's to fix: retried, never a failure
                    # of the shopper's payout.
                    raise ProviderUnavailable(f"PayPal token refused: HTTP {response.status}")
                found = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"PayPal token: {type(exc).__name__}") from None
        if not isinstance(found, dict) or not found.get("access_token"):
            raise ProviderUnavailable("PayPal token: no access_token in the answer")
        lifetime = float(found.get("expires_in") or 0) - TOKEN_MARGIN
        self._token = (str(found["access_token"]), time.monotonic() + max(lifetime, 0.0))
        return self._token[0]

    async def _call(self, method: str, path: str, json: Any = None,
                    headers: dict[str, str] | None = None) -> dict[str, Any]:
        token = await self._access_token()
        try:
            async with self.http.request(
                    method, f"{self.base_url}{path}", json=json, timeout=self.timeout,
                    headers={"Authorization": f"Bearer {token}", **(headers or {})}
            ) as response:
                status = response.status
                found = await response.json(content_type=None) if status != 204 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"PayPal {method} {path.split('/')[3]}:"
                                      f" {type(exc).__name__}") from None
        if status < 400:
            return found if isinstance(found, dict) else {}
        name = str(found.get("name", "")) if isinstance(found, dict) else ""
        if status == 401:
            self._token = None  # expired early or revoked: a new one next time
        if status >= 500 or status in (401, 403, 408, 409, 429) or name in RETRIED_ERRORS:
            raise ProviderUnavailable(f"PayPal answered HTTP {status} {name}".rstrip())
        raise ProviderRefused(f"PayPal refused it: HTTP {status} {name}".rstrip(), name, found)


BATCH_LINK = re.compile(r"/v1/payments/payouts/([A-Za-z0-9]+)/?$")


def _linked_batch(answer: Any) -> str | None:
    """The payout_batch_id an error's HATEOAS links point to, if any."""
    links = answer.get("links") if isinstance(answer, dict) else None
    for link in links or []:
        found = BATCH_LINK.search(str(link.get("href", ""))) if isinstance(link, dict) else None
        if found:
            return found.group(1)
    return None
