"""`make examples`: call every public operation once against a real platform and keep what
it answered, as the OpenAPI document's examples (services/gateway/data/examples.json).

Starts the platform as `make run` does (resonanz.devstack.run.Platform: PostgreSQL, the
broker, a mail catcher and the services, in a temporary directory), creates a webshop
tenant of its own and a loopback webhook receiver, and runs `script`: one call per
operation, in an order that gives each the ids it needs. The first answer of each
operation with its documented success status is recorded (status, media type and body; a
file as its first lines). Secrets in answers (whole API keys, webhook secrets, invitation
and CSRF tokens) are replaced by fake values of the same shape; ids and timestamps are
kept as they were. Ends non-zero, naming them, when an operation of the table was not
called: a new row needs a line in `script`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from resonanz.devstack.run import Platform
from resonanz.devstack.supervisor import MailCatcher, Stack, free_port
from resonanz.gateway.openapi import operation_id
from resonanz.gateway.operations import Operation
from resonanz.gateway.table import OPERATIONS

SHOP = "Kaffeerösterei Lindner"
OWNER = "anna.lindner@example.de"
MEMBER = "jonas.weber@example.de"
SHOP_ORIGIN = "https://shop.example.de"
QUOTAS = ("feedbackpro.reads", "feedbackpro.writes", "feedbackpro.users", "pay4feedback.api")
PASSWORD = "Bohnen-Röstung-2026!"
TEXT_LINES = 4
WAIT = 60.0
RECEIVER_PORT = 8099
# The checkout's copy (not an installed package's): the file is committed.
EXAMPLES = Path(__file__).resolve().parent.parent / "services/gateway/data/examples.json"

# Fields whose values are secrets: recorded as fake values of the same shape.
SECRETS = frozenset({"key", "secret", "standard_webhooks_secret", "invitation_token",
                     "csrf_token", "token"})

KNOWN_PREFIXES = ("rsz_live_", "whsec_")  # an API key's, a webhook secret's
FILLER, HEX = "EXAMPLEexample0", "0123456789abcdef"

QUESTIONS: list[dict[str, Any]] = [
    {"id": "rating", "type": "rating", "required": True,
     "label": {"de": "Wie zufrieden sind Sie mit Ihrer Bestellung?",
               "en": "How happy are you with your order?"}},
    {"id": "nps", "type": "nps",
     "label": {"de": "Würden Sie uns weiterempfehlen?", "en": "Would you recommend us?"}},
    {"id": "found", "type": "single_choice",
     "label": {"de": "Haben Sie gefunden, was Sie gesucht haben?",
               "en": "Did you find what you were looking for?"},
     "options": [{"id": "yes", "label": {"de": "Ja", "en": "Yes"}},
                 {"id": "no", "label": {"de": "Nein", "en": "No"}}]},
    {"id": "comment", "type": "text",
     "label": {"de": "Was können wir besser machen?", "en": "What could we do better?"}},
]
WIDGET: dict[str, Any] = {
    "name": "Checkout-Umfrage", "placement": "bottom-right",
    "trigger": {"type": "scroll-depth", "percentage": 60}, "languages": ["de", "en"],
    "theme": {"primary_color": "#6b3e26", "border_radius": 8},
    "allowed_origins": [SHOP_ORIGIN], "questions": QUESTIONS, "is_active": True}
CAMPAIGN: dict[str, Any] = {
    "name": "Bewertungsprämie Herbst", "questions": [QUESTIONS[0], QUESTIONS[3]],
    "allowed_origins": [SHOP_ORIGIN], "reward": {"amount": "5.00", "currency": "EUR"}}
SUBMISSIONS: list[dict[str, Any]] = [
    {"answers": {"rating": 5, "nps": 10, "found": "yes",
                 "comment": "Der Espresso ist fantastisch, Lieferung nach zwei Tagen."},
     "language": "de", "page_url": f"{SHOP_ORIGIN}/checkout/danke",
     "customer_email": "m.schneider@example.de"},
    {"answers": {"rating": 2, "found": "no",
                 "comment": "The grinder I ordered was out of stock after checkout."},
     "language": "en", "page_url": f"{SHOP_ORIGIN}/en/checkout/thank-you"},
    {"answers": {"rating": 4, "comment": "Gute Bohnen, aber die Versandkosten sind hoch."},
     "language": "de", "page_url": f"{SHOP_ORIGIN}/checkout/danke"},
]
ENTRIES: list[dict[str, Any]] = [
    {"body": "Die Bestellung kam beschädigt an, die Tüte war aufgerissen.", "rating": 2,
     "category": "delivery", "customer_email": "k.hoffmann@example.de",
     "metadata": {"order_id": "100234", "channel": "email"}},
    {"body": "Great single-origin beans, but please offer a 250 g size.", "rating": 4,
     "category": "product", "customer_email": "jane.doe@example.com",
     "metadata": {"order_id": "100241"}},
    {"body": "Rechnung doppelt abgebucht, bitte erstatten.", "rating": 1,
     "category": "billing", "metadata": {"order_id": "100250"}},
]


def say(message: str) -> None:
    print(f"[examples] {message}", flush=True)


# --- secrets and files ------------------------------------------------------------------


def fake(value: str) -> str:
    """A fake of the same shape: a known prefix kept (`rsz_live_`, `whsec_`), the rest
    spelt EXAMPLE… at the same length, in the same alphabet (hex stays hex). Nothing else
    of the value is kept: a token may have `_` anywhere."""
    prefix = next((p for p in KNOWN_PREFIXES if value.startswith(p)), "")
    return prefix + spelt(value[len(prefix):])


def spelt(rest: str) -> str:
    filler = HEX if re.fullmatch(r"[0-9a-f]+", rest) else FILLER
    return (filler * (len(rest) // len(filler) + 1))[:len(rest)]


def redacted(body: Any) -> Any:
    if isinstance(body, dict):
        out = {k: fake(v) if k in SECRETS and isinstance(v, str) else redacted(v)
               for k, v in body.items()}
        key, shown = body.get("key"), body.get("prefix")
        if isinstance(key, str) and isinstance(shown, str) and key.startswith(shown):
            # A whole API key starts with the prefix that lists show.
            out["key"] = shown + spelt(key[len(shown):])
        return out
    if isinstance(body, list):
        return [redacted(item) for item in body]
    return body


def start_of(text: str) -> str:
    """The first lines of a file (a CSV's header and first rows)."""
    head = "".join(text.splitlines(keepends=True)[:TEXT_LINES])
    return head + ("…" if head != text else "")


# --- the recorder -----------------------------------------------------------------------


class Recorder:
    """A client of the gateway that records the first successful answer of each operation."""

    def __init__(self, http: aiohttp.ClientSession, base: str, key: str) -> None:
        self.http, self.base, self.key = http, base, key
        self.rows = {(op.method, op.path): op for op in OPERATIONS}
        self.examples: dict[str, dict[str, Any]] = {}

    async def call(self, method: str, template: str, payload: Any = None, *,
                   query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                   keyed: bool = True, http: aiohttp.ClientSession | None = None,
                   trim: int | None = None, **ids: str) -> Any:
        """`template` is the table's path; `ids` fill it. Anything but 2xx stops the run.
        `trim` keeps only the first items of a long list in the example."""
        op = self.rows.get((method, template))
        if op is None:
            raise SystemExit(f"{method} {template} is no row of the operations table")
        sent = {**({"Authorization": f"Bearer {self.key}"} if keyed else {}),
                **(headers or {})}
        async with (http or self.http).request(
                method, self.base + template.format(**ids), json=payload, params=query,
                headers=sent) as response:
            raw, media, status = await response.read(), response.content_type, response.status
        if status >= 300:
            raise SystemExit(f"{method} {template} answered {status}: {raw[:600]!r}")
        body: Any = None
        if raw and media == "application/json":
            body = json.loads(raw)
        elif raw:
            body = raw.decode("utf-8", "replace")
        if trim is not None and isinstance(body, dict) and isinstance(body.get("data"), list):
            self._keep(op, status, media, {**body, "data": body["data"][:trim]})
        else:
            self._keep(op, status, media if raw else None, body)
        return body

    def _keep(self, op: Operation, status: int, media: str | None, body: Any) -> None:
        name = operation_id(op)
        if name in self.examples or status != op.status:
            return
        shown = redacted(body) if media == "application/json" else (
            start_of(body) if isinstance(body, str) else None)
        self.examples[name] = {"status": status, "media": media, "body": shown}

    def missing(self) -> list[str]:
        return [f"{operation_id(op)} ({op.method} {op.path})" for op in OPERATIONS
                if operation_id(op) not in self.examples]


async def eventually(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool],
                     what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        found = await probe()
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.5)


def mailed_token(catcher: MailCatcher, address: str, page: str) -> str | None:
    """The token of the latest mail to `address` linking to the dashboard's `page`."""
    pattern = re.compile(rf"/app/{page}#token=([\w-]+)")
    for path in reversed(catcher.messages()):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] != address:
            continue
        for part in message.walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and (found := pattern.search(payload.decode())):
                return found.group(1)
    return None


def mailed_claim(catcher: MailCatcher, address: str) -> str | None:
    """The token of the latest claim mail to `address` (a link to the gateway's /claim)."""
    pattern = re.compile(r"/claim\?lang=\w+#token=([\w-]+)")
    for path in reversed(catcher.messages()):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address and (found := pattern.search(str(message.get_payload(
                decode=True), "utf-8"))):
            return found.group(1)
    return None


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[str]:
    """A webhook endpoint on loopback that takes every delivery."""
    async def take(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{name}", take)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port(RECEIVER_PORT)  # the same URL in the examples run after run
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# --- the script: one call per operation ----------------------------------------------------


async def script(r: Recorder, hooks: str, mail: MailCatcher, tenant: str) -> None:
    shopper = {"Origin": SHOP_ORIGIN}

    # Who we are, and the organization.
    await r.call("GET", "/v1/me")
    await r.call("GET", "/api/v1/me")
    await r.call("GET", "/v1/organization")
    await r.call("PATCH", "/v1/organization", {"name": SHOP, "timezone": "Europe/Berlin"})

    # Webhooks first, so that what follows is delivered.
    # (Each type carries its JSON Schema and a sample: two of them show the shape.)
    await r.call("GET", "/v1/webhooks/event-types", trim=2)
    await r.call("GET", "/api/v1/webhooks/event-types", trim=2)
    fbp_hook = (await r.call("POST", "/v1/webhooks", {
        "url": f"{hooks}/support-inbox", "description": "Support-Postfach (Zendesk-Brücke)",
        "events": ["feedback_created", "feedback_status_changed", "feedback_assigned"]}))["data"]
    p4f_hook = (await r.call("POST", "/api/v1/webhooks", {
        "url": f"{hooks}/erp", "description": "ERP: Gutschriften für Prämien",
        "events": ["reward_approved", "reward_rejected", "feedback_created"]}))["data"]

    # A widget (FeedBackPro) and a campaign with a reward (Pay4Feedback).
    widget = (await r.call("POST", "/v1/widgets", WIDGET))["data"]
    await r.call("GET", "/v1/widgets", query={"limit": "10"})
    await r.call("GET", "/v1/widgets/{id}", id=widget["public_id"])
    await r.call("PATCH", "/v1/widgets/{id}", {"theme": {"primary_color": "#5a3220"}},
                 id=widget["id"])
    resume_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await r.call("POST", "/v1/widgets/{id}/pause", {
        "reason": "Relaunch des Checkouts", "resume_at": resume_at.isoformat()},
        id=widget["public_id"])
    await r.call("POST", "/v1/widgets/{id}/resume", {"notify": False}, id=widget["public_id"])
    campaign = (await r.call("POST", "/api/v1/campaigns", CAMPAIGN))["data"]
    await r.call("PATCH", "/api/v1/campaigns/{id}", {"status": "ACTIVE"}, id=campaign["id"])
    await r.call("POST", "/api/v1/campaigns/{id}/pause", {"reason": "Budget erreicht"},
                 id=campaign["id"])
    await r.call("POST", "/api/v1/campaigns/{id}/resume", {"notify": True}, id=campaign["id"])
    await r.call("GET", "/api/v1/campaigns")
    await r.call("GET", "/api/v1/campaigns/{id}", id=campaign["id"])

    # What a shop page does: the script, the configuration, the answers.
    public_id = widget["public_id"]
    await r.call("GET", "/widget.js", keyed=False)
    await r.call("OPTIONS", "/public/widgets/{public_id}", keyed=False, headers={
        **shopper, "Access-Control-Request-Method": "GET"}, public_id=public_id)
    await r.call("GET", "/public/widgets/{public_id}", keyed=False, headers=shopper,
                 public_id=public_id)
    await r.call("OPTIONS", "/public/widgets/{public_id}/submissions", keyed=False, headers={
        **shopper, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, public_id=public_id)
    for answer in SUBMISSIONS:
        await r.call("POST", "/public/widgets/{public_id}/submissions", answer, keyed=False,
                     headers=shopper, public_id=public_id)
    for answer in SUBMISSIONS:  # the campaign asks only for the rating and a comment
        asked = {k: v for k, v in answer["answers"].items() if k in ("rating", "comment")}
        await r.call("POST", "/public/widgets/{public_id}/submissions",
                     {**answer, "answers": asked}, keyed=False, headers=shopper,
                     public_id=campaign["public_id"])
    await r.call("GET", "/demo/{public_id}", keyed=False, public_id=public_id)

    # The inbox: entries by API, triage, delete and restore.
    entries = [(await r.call("POST", "/v1/feedback", entry))["data"] for entry in ENTRIES]
    await r.call("GET", "/v1/feedback", query={"limit": "3"})
    await r.call("GET", "/v1/feedback/{id}", id=entries[0]["id"])
    await r.call("PATCH", "/v1/feedback/{id}", {
        "status": "in_progress", "assignee": "me",
        "notes": "Ersatzpaket verschickt, Sendungsnummer an die Kundin gemailt."},
        id=entries[0]["id"])
    await r.call("POST", "/v1/feedback/bulk", {
        "ids": [entries[1]["id"], entries[2]["id"]],
        "set": {"status": "in_progress", "assignee": "Anna Lindner"}})
    await r.call("DELETE", "/v1/feedback/{id}", id=entries[2]["id"])
    await r.call("POST", "/v1/feedback/{id}/restore", id=entries[2]["id"])

    # Rewards: the campaign's responses.
    responses = (await eventually(
        lambda: r.call("GET", "/api/v1/responses",
                       query={"campaign_id": campaign["public_id"], "limit": "3"}),
        lambda found: len(found["data"]) >= 3, "the campaign's responses"))["data"]
    await r.call("GET", "/api/v1/responses/{id}", id=responses[0]["id"])
    await r.call("POST", "/api/v1/responses/{id}/approve",
                 {"reason": "Ausführliche Bewertung"}, id=responses[0]["id"])
    await r.call("POST", "/api/v1/responses/{id}/reject",
                 {"reason": "Bestellung storniert, keine Prämie"}, id=responses[1]["id"])
    await r.call("POST", "/api/v1/responses/bulk", {
        "ids": [responses[2]["id"]], "action": "approve", "reason": "Prämie freigegeben"})
    await r.call("GET", "/api/v1/rewards/totals", query={"campaign_id": campaign["public_id"]})
    await r.call("GET", "/api/v1/rewards/threshold-preview", query={
        "campaign_id": campaign["public_id"], "auto_approve_above": "70",
        "auto_reject_below": "30"})

    # Payouts of the approved cash rewards: one paid, one failed, a third cancelled.
    third = (await r.call("POST", "/v1/feedback", {
        "widget_id": campaign["id"], "rating": 5, "customer_email": "j.krause@example.de",
        "body": "Die Mühle mahlt sehr gleichmäßig, Stufe 12 passt genau für die Siebträger."}
    ))["data"]
    await r.call("POST", "/api/v1/responses/{id}/approve", id=third["id"])
    payouts = (await eventually(
        lambda: r.call("GET", "/api/v1/payouts", query={"status": "pending"}),
        lambda found: len(found["data"]) >= 3, "the approved payouts"))["data"]
    await r.call("GET", "/api/v1/payouts/{id}", id=payouts[0]["id"])
    await r.call("POST", "/api/v1/payouts/{id}/mark-paid",
                 {"reference": "Sammelüberweisung 2026-12-02"}, id=payouts[0]["id"])
    await r.call("POST", "/api/v1/payouts/{id}/mark-failed",
                 {"reason": "IBAN von der Bank abgelehnt"}, id=payouts[1]["id"])
    await r.call("POST", "/api/v1/payouts/{id}/cancel",
                 {"reason": "Doppelte Einsendung"}, id=payouts[2]["id"])

    # A cash reward claimed on the claim page (its link mailed to the shopper), paid by a
    # SEPA batch from the shop's account.
    claimer = "m.schulz@example.de"
    fourth = (await r.call("POST", "/v1/feedback", {
        "widget_id": campaign["id"], "rating": 4, "customer_email": claimer,
        "metadata": {"language": "de"},
        "body": "Der Entkalker-Hinweis kam nach 40 Bezügen, laut Anleitung erst nach 200."}
    ))["data"]
    await r.call("POST", "/api/v1/responses/{id}/approve", id=fourth["id"])
    claim = await eventually(lambda: asyncio.to_thread(mailed_claim, mail, claimer),
                             lambda found: found is not None, "the claim mail")
    await r.call("GET", "/claim", keyed=False, query={"lang": "de"})
    await r.call("GET", "/claim/assets/{name}", keyed=False, name="claim.js")
    await r.call("POST", "/public/claims/lookup", {"token": claim}, keyed=False)
    await r.call("POST", "/public/claims/answer", {
        "token": claim, "method": "sepa", "iban": "DE02 1203 0000 0000 2020 51",
        "account_holder": "Marie Schulz"}, keyed=False)
    await r.call("PUT", "/api/v1/payout-account", {"name": SHOP,
                                                   "iban": "DE89 3704 0044 0532 0130 00"})
    await r.call("GET", "/api/v1/payout-account")
    batch = (await r.call("POST", "/api/v1/payout-batches", {}))["data"]
    await r.call("GET", "/api/v1/payout-batches")
    await r.call("GET", "/api/v1/payout-batches/{id}", id=batch["id"])
    await r.call("GET", "/api/v1/payout-batches/{id}/pain.001", id=batch["id"])
    await r.call("POST", "/api/v1/payout-batches/{id}/mark-paid",
                 {"reference": "SEPA-Sammler 2026-12-03"}, id=batch["id"])
    await r.call("GET", "/v1/feedback/export", query={"format": "csv"})
    await r.call("GET", "/api/v1/responses/export", query={"format": "csv"})
    await eventually(lambda: r.call("GET", "/v1/analytics/summary",
                                    query={"period": "7d", "group_by": "day"}),
                     lambda found: found["data"]["total_submissions"] >= 8,
                     "the analytics summary")

    # Deliveries of what happened, in both dialects.
    for base, hook in (("/v1/webhooks", fbp_hook), ("/api/v1/webhooks", p4f_hook)):
        await r.call("GET", base)
        await r.call("GET", base + "/{id}", id=hook["id"])
        await r.call("PATCH", base + "/{id}", {"enabled": False}, id=hook["id"])
        await r.call("POST", base + "/{id}/enable", id=hook["id"])
        await r.call("POST", base + "/{id}/test", {"event_type": "feedback_created"},
                     id=hook["id"])
        deliveries = (await eventually(
            functools.partial(r.call, "GET", base + "/{id}/deliveries", id=hook["id"]),
            lambda found: any(d["status"] == "delivered" for d in found["data"]),
            "a delivered webhook"))["data"]
        delivered = next(d for d in deliveries if d["status"] == "delivered")
        await r.call("GET", base + "/{id}/deliveries/{delivery_id}/attempts",
                     id=hook["id"], delivery_id=delivered["id"])
        await r.call("GET", base + "/events/{event_id}/deliveries",
                     event_id=delivered["event_id"])
        await r.call("POST", base + "/{id}/deliveries/{delivery_id}/resend",
                     id=hook["id"], delivery_id=delivered["id"])
        since = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        await r.call("POST", base + "/{id}/recover", {"since": since.isoformat()},
                     id=hook["id"])
        await r.call("POST", base + "/{id}/rotate-secret", id=hook["id"])
        await r.call("DELETE", base + "/{id}", id=hook["id"])

    # API keys, in both dialects.
    for base, name in (("/v1/api-keys", "Shopware-Sync"), ("/api/v1/api-keys", "Prämien-Export")):
        created = (await r.call("POST", base, {"name": name, "role": "editor"}))["data"]
        await r.call("GET", base)
        await r.call("GET", base + "/{id}", id=created["id"])
        successor = (await r.call("POST", base + "/{id}/rotate", id=created["id"]))["data"]
        await r.call("DELETE", base + "/{id}", id=successor["id"])

    # The team: invite, mail again, accept, change the role, remove.
    invited = (await r.call("POST", "/v1/users", {"email": MEMBER, "name": "Jonas Weber",
                                                  "role": "editor"}))["data"]
    await r.call("GET", "/v1/users/{id}", id=invited["id"])
    again = (await r.call("POST", "/v1/users/{id}/invitation", id=invited["id"]))["data"]
    await r.call("POST", "/v1/invitations/accept", {
        "token": again["invitation_token"], "password": PASSWORD, "name": "Jonas Weber"},
        keyed=False)
    await r.call("GET", "/v1/users")
    await r.call("PATCH", "/v1/users/{id}", {"role": "viewer"}, id=invited["id"])
    await r.call("DELETE", "/v1/users/{id}", headers={"X-Confirm": "true"}, id=invited["id"])

    # Signing in: two browsers of the owner; one ends the other, then itself.
    jar = aiohttp.CookieJar(unsafe=True)
    other_jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=other_jar) as other, \
            aiohttp.ClientSession(cookie_jar=jar) as browser:
        await r.call("POST", "/v1/password-resets", {"email": OWNER}, keyed=False)
        token = await eventually(lambda: asyncio.to_thread(mailed_token, mail, OWNER,
                                                           "reset-password"),
                                 lambda found: found is not None, "the password reset mail")
        await r.call("POST", "/v1/password-resets/complete",
                     {"token": token, "password": PASSWORD}, keyed=False)
        signed_in = {"email": OWNER, "password": PASSWORD, "tenant_id": tenant}
        first = (await r.call("POST", "/v1/sessions", signed_in, keyed=False,
                              http=other))["data"]
        session = (await r.call("POST", "/v1/sessions", signed_in, keyed=False,
                                http=browser))["data"]
        csrf = {"X-CSRF-Token": session["csrf_token"]}
        await r.call("GET", "/v1/session", keyed=False, http=browser)
        mine = (await r.call("GET", "/v1/sessions", keyed=False, http=browser))["data"]
        await r.call("DELETE", "/v1/sessions/{id}", keyed=False, http=browser, headers=csrf,
                     id=next(s["id"] for s in mine if s["id"] != first.get("id")
                             and not s.get("current")))
        await r.call("DELETE", "/v1/session", keyed=False, http=browser, headers=csrf)

    # A shopper's data: an export (both dialects), then her erasure, done once every
    # service holding personal data has answered.
    for base in ("/v1/privacy/requests", "/api/v1/privacy/requests"):
        asked = (await r.call("POST", base, {"type": "export",
                                             "customer_email": "K.Hoffmann@example.de"}))["data"]
        await r.call("GET", f"{base}/{{id}}", id=asked["id"])
        await r.call("GET", base)
        await r.call("GET", f"{base}/{{id}}/export", id=asked["id"])
        await r.call("GET", f"{base}/{{id}}/export/{{kind}}", id=asked["id"], kind="entries")
    erasure = (await r.call("POST", "/api/v1/privacy/requests", {
        "type": "erasure", "customer_email": "jane.doe@example.com"}))["data"]
    await eventually(lambda: r.call("GET", "/api/v1/privacy/requests/{id}", id=erasure["id"]),
                     lambda found: found["data"]["status"] == "completed",
                     "the erasure completed")

    # Everything above, as the audit log tells it.
    await r.call("GET", "/v1/audit-log", query={"limit": "3"})
    await r.call("GET", "/api/v1/audit-log", query={"limit": "3"})


# --- running it ------------------------------------------------------------------------------


def admin(stack: Stack, *args: str) -> Any:
    """The gateway's operator CLI against the platform's database."""
    done = subprocess.run([sys.executable, "-m", "resonanz.gateway", "admin", *args],
                          env=stack.env(), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


async def record(platform: Platform) -> dict[str, dict[str, Any]]:
    assert platform.stack is not None and platform.mail is not None
    out = await asyncio.to_thread(admin, platform.stack, "create-tenant", "--name", SHOP,
                                  "--owner-email", OWNER)
    tenant, key = out["tenant"]["id"], out["api_key"]
    for quota in QUOTAS:  # the run must not wait for the reference limits
        await asyncio.to_thread(admin, platform.stack, "set-rate-limit", "--tenant", tenant,
                                "--name", quota, "--limit", "100000")
    async with aiohttp.ClientSession() as http, receiver() as hooks:
        recorder = Recorder(http, platform.stack.services["gateway"].url, key)
        await script(recorder, hooks, platform.mail, tenant)
    missing = recorder.missing()
    if missing:
        raise SystemExit("no example for " + ", ".join(missing)
                         + ": add a call to tools/record_examples.py's script")
    return recorder.examples


def main() -> None:
    """The platform's directory is removed after a good run and kept, for its logs, after
    a failed one."""
    base = Path(tempfile.mkdtemp(prefix="resonanz-examples-"))
    platform = Platform(base / "run")
    try:
        platform.start()
        examples = asyncio.run(record(platform))
    finally:
        platform.stop()
    shutil.rmtree(base, ignore_errors=True)
    EXAMPLES.parent.mkdir(exist_ok=True)
    EXAMPLES.write_text(json.dumps(
        {"recorded_by": "make examples (tools/record_examples.py)",
         "operations": examples}, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8")
    say(f"{len(examples)} operations recorded in {EXAMPLES}")


if __name__ == "__main__":
    main()
