"""A local stand-in for PayPal's Payouts API (REST v1), as its reference documents it: an
OAuth2 client-credentials token, batches created by POST /v1/payments/payouts, their
status from GET /v1/payments/payouts/{payout_batch_id}. It checks what it is sent (the
credentials, the token, the body's shape, the idempotency keys) and notes each deviation
in `problems`, which a test expects empty.

Like PayPal it pays a sender_batch_id once: a request repeating a PayPal-Request-Id gets
the original batch, one repeating only the sender_batch_id a 400 with a link to it. A
batch reports PENDING at its first status request, then the outcome set for its receiver
(SUCCESS unless `outcomes` says otherwise). `down` answers every request 503 without doing
anything; `lose_answers` makes the next so many payout requests create their batch and
answer 500 all the same (the answer lost on its way back)."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CLIENT_ID = "resonanz-test-client"
SECRET = "resonanz-test-secret-0123456789abcdef"
AMOUNT = re.compile(r"^\d+\.\d{2}$")


@dataclass
class Batch:
    id: str
    request_id: str
    body: dict[str, Any]
    polls: int = 0

    @property
    def receiver(self) -> str:
        return str(self.body["items"][0]["receiver"])

    @property
    def sender_batch_id(self) -> str:
        return str(self.body["sender_batch_header"]["sender_batch_id"])


@dataclass
class FakePayPal:
    url: str = ""  # where it answers, once served
    outcomes: dict[str, str] = field(default_factory=dict)  # receiver → transaction_status
    down: bool = False
    lose_answers: int = 0
    batches: list[Batch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused_while_down: int = 0
    payout_requests: int = 0
    tokens: set[str] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._maybe_down])
        app.router.add_post("/v1/oauth2/token", self.token)
        app.router.add_post("/v1/payments/payouts", self.create)
        app.router.add_get("/v1/payments/payouts/{id}", self.show)
        return app

    def batches_to(self, receiver: str) -> list[Batch]:
        return [b for b in self.batches if b.receiver == receiver]

    @web.middleware
    async def _maybe_down(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.down:
            self.refused_while_down += 1
            return web.json_response({"name": "SERVICE_UNAVAILABLE"}, status=503)
        response: web.StreamResponse = await handler(request)
        return response

    async def token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            self.problems.append("token: wrong client credentials")
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            self.problems.append(f"token: grant_type {form.get('grant_type')!r}")
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = "A21AA" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return web.json_response({"scope": "https://uri.paypal.com/payments/payouts",
                                  "access_token": token, "token_type": "Bearer",
                                  "app_id": "APP-TEST", "expires_in": 32400,
                                  "nonce": secrets.token_hex(8)})

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or given[7:] not in self.tokens:
            self.problems.append(f"{request.method} {request.path}: no valid bearer token")
            return False
        return True

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"name": "AUTHENTICATION_FAILURE"}, status=401)
        self.payout_requests += 1
        body = await request.json()
        request_id = request.headers.get("PayPal-Request-Id", "")
        self._check(body, request_id)
        for batch in self.batches:
            if batch.request_id == request_id:
                return web.json_response(self._created(batch), status=201)
            if batch.sender_batch_id == body["sender_batch_header"]["sender_batch_id"]:
                return web.json_response({
                    "name": "USER_BUSINESS_ERROR", "message": "Batch with given"
                    " sender_batch_id already exists",
                    "links": [{"href": f"http://paypal.test/v1/payments/payouts/{batch.id}",
                               "rel": "self", "method": "GET"}]}, status=400)
        batch = Batch(secrets.token_hex(7).upper(), request_id, body)
        self.batches.append(batch)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return web.json_response({"name": "INTERNAL_SERVER_ERROR"}, status=500)
        return web.json_response(self._created(batch), status=201)

    def _check(self, body: dict[str, Any], request_id: str) -> None:
        try:
            header, [item] = body["sender_batch_header"], body["items"]
            ids = {request_id, header["sender_batch_id"], item["sender_item_id"]}
            if len(ids) != 1 or not request_id:
                self.problems.append(f"idempotency keys differ: {sorted(ids)}")
            if item["recipient_type"] != "EMAIL" or "@" not in item["receiver"]:
                self.problems.append("item: not an EMAIL receiver")
            amount = item["amount"]
            if not AMOUNT.match(amount["value"]) or len(amount["currency"]) != 3:
                self.problems.append(f"item: amount {amount}")
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(f"body shape: {exc!r}")

    @staticmethod
    def _created(batch: Batch) -> dict[str, Any]:
        return {"batch_header": {
            "payout_batch_id": batch.id, "batch_status": "PENDING",
            "sender_batch_header": batch.body["sender_batch_header"]},
            "links": [{"href": f"http://paypal.test/v1/payments/payouts/{batch.id}",
                       "rel": "self", "method": "GET"}]}

    async def show(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"name": "AUTHENTICATION_FAILURE"}, status=401)
        found = [b for b in self.batches if b.id == request.match_info["id"]]
        if not found:
            return web.json_response({"name": "INVALID_RESOURCE_ID"}, status=404)
        batch = found[0]
        batch.polls += 1
        status = "PENDING" if batch.polls == 1 else self.outcomes.get(batch.receiver,
                                                                       "SUCCESS")
        item = batch.body["items"][0]
        return web.json_response({
            "batch_header": {"payout_batch_id": batch.id,
                             "batch_status": "PENDING" if status == "PENDING" else "SUCCESS",
                             "sender_batch_header": batch.body["sender_batch_header"]},
            "items": [{"payout_item_id": f"ITEM{batch.id}", "transaction_status": status,
                       **({"transaction_id": f"TX{batch.id}"} if status == "SUCCESS" else {}),
                       **({"errors": {"name": "RECEIVER_UNREGISTERED"}}
                          if status == "FAILED" else {}),
                       "payout_batch_id": batch.id, "payout_item": item}]})
