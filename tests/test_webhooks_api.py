"""Webhooks end to end through the gateway, with every service running as a real process:
subscriptions in both dialects, signed deliveries of real events, the delivery log,
resend, secret rotation, disable on 410 and recovery."""

from __future__ import annotations

import base64

import aiohttp
import pytest
from aiohttp import web

from resonanz.devstack.supervisor import Stack

from .helpers import Api, admin, bearer, metric_value, new_tenant
from .support import eventually
from .test_webhooks_support import Receiver, receiving


@pytest.fixture
def stack(receiving_stack: Stack) -> Stack:
    return receiving_stack


async def test_admins_manage_subscriptions_in_both_dialects(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    api = Api(http, stack, key)
    created = await api.data("POST", "/api/v1/webhooks", {
        "url": "https://api.yourapp.com/p4f-webhook",
        "events": ["reward_approved", "payout_completed"]}, status=201)
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) >= 24
    assert created["events"] == ["reward_approved", "payout_completed"]

    listed = await api.data("GET", "/api/v1/webhooks")
    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in listed[0], "the secret is shown only once"
    _, fbp, _ = await api.call("GET", "/v1/webhooks")
    assert [s["id"] for s in fbp["data"]] == [created["id"]] and fbp["meta"]["request_id"]

    async with http.post(f"{api.base}/v1/webhooks", headers=bearer(key), json={
            "url": "https://hooks.example.com/in", "events": ["feedback_created"],
            "secret": created["secret"]}) as response:
        assert response.status == 201
        body = await response.json()
        assert response.headers["Location"] == f"/v1/webhooks/{body['data']['id']}"
    assert body["data"]["secret"] == created["secret"]

    await api.data("DELETE", f"/api/v1/webhooks/{created['id']}")
    assert [s["id"] for s in await api.data("GET", "/v1/webhooks")] == [body["data"]["id"]]


async def test_invalid_subscriptions_are_refused_with_field_details(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    api = Api(http, stack, key)
    status, body, _ = await api.call("POST", "/api/v1/webhooks", {
        "url": "https://ok.example.com/", "events": ["reward_approved", "reward_exploded"]})
    assert status == 400 and body["success"] is False
    assert body["details"][0]["field"] == "events"
    assert "reward_exploded" in body["details"][0]["message"]
    status, body, _ = await api.call("POST", "/v1/webhooks", {
        "url": "ftp://files.example.com/", "events": ["feedback_created"]})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "url"
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data"):
        status, body, _ = await api.call("POST", "/api/v1/webhooks",
                                      {"url": url, "events": ["feedback_created"]})
        assert status == 400, url
    status, body, _ = await api.call("POST", "/api/v1/webhooks", {
        "url": "https://ok.example.com/", "events": ["feedback_created"],
        "secret": "too-short"})
    assert status == 400 and body["details"][0]["field"] == "secret"


async def test_only_admin_keys_manage_webhooks_and_only_their_own(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    _, other_key = await new_tenant(stack, "Other")
    editor = (await admin(stack, "create-key", "--tenant", tenant, "--role", "editor"))["api_key"]
    sub = await Api(http, stack, key).data("POST", "/api/v1/webhooks", {
        "url": "https://ok.example.com/", "events": ["feedback_created"]}, status=201)
    as_editor = Api(http, stack, editor)
    assert (await as_editor.call("GET", "/api/v1/webhooks"))[0] == 403
    assert (await as_editor.call("POST", "/v1/webhooks", {
        "url": "https://ok.example.com/", "events": ["feedback_created"]}))[0] == 403
    stranger = Api(http, stack, other_key)
    assert (await stranger.call("DELETE", f"/api/v1/webhooks/{sub['id']}"))[0] == 404
    assert (await stranger.call("GET", f"/v1/webhooks/{sub['id']}/deliveries"))[0] == 404
    assert (await stranger.call("GET", "/api/v1/webhooks/not-a-uuid"))[0] == 404


async def test_the_references_own_secret_verifies_through_its_standard_webhooks_form(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """Pay4Feedback's example secret is not base64: it signs with its own bytes, and the
    `standard_webhooks_secret` we return with it is what `standardwebhooks.Webhook` loads."""
    _, key = await new_tenant(stack)
    api = Api(http, stack, key)
    receiver = Receiver()
    async with receiving(receiver):
        sub = await api.data("POST", "/api/v1/webhooks", {
            "url": receiver.url, "events": ["feedback_created"],
            "secret": "whsec_generate_a_random_one"}, status=201)
        assert sub["secret"] == "whsec_generate_a_random_one"
        receiver.secrets.append(sub["standard_webhooks_secret"])
        await api.data("POST", "/v1/feedback", {"body": "Lovely shop", "rating": 5}, status=201)
        await eventually(lambda: _got(receiver), lambda n: n >= 1, what="the delivery")
    assert receiver.received[0].verified_with == [sub["standard_webhooks_secret"]]


async def test_feedback_arrives_signed_and_the_delivery_log_resend_and_rotation_work(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    api = Api(http, stack, key)
    receiver = Receiver()
    async with receiving(receiver):
        sub = await api.data("POST", "/api/v1/webhooks", {
            "url": receiver.url, "events": ["feedback_created"]}, status=201)
        receiver.secrets.append(sub["secret"])
        entry = await api.data("POST", "/v1/feedback", {"body": "Lovely shop", "rating": 5},
                             status=201)
        first = (await eventually(lambda: _got(receiver), lambda n: n >= 1,
                                  what="the signed delivery"))
        got = receiver.received[0]
        assert first == 1 and got.verified_with == [sub["secret"]]
        assert got.payload["type"] == "feedback_created"
        assert got.payload["data"]["entry"]["id"] == entry["id"]
        event_id = got.payload["data"]["event_id"]

        # The receiver has the request before the dispatcher has recorded its answer.
        deliveries = await eventually(
            lambda: api.data("GET", f"/api/v1/webhooks/{sub['id']}/deliveries"),
            lambda log: [d["status"] for d in log] == ["delivered"], what="the logged success")
        assert [d["id"] for d in deliveries] == [got.webhook_id]
        attempts = await api.data(
            "GET", f"/v1/webhooks/{sub['id']}/deliveries/{got.webhook_id}/attempts")
        assert [(a["outcome"], a["status_code"], a["response_body"]) for a in attempts] == [
            ("success", 200, "thanks")]
        assert attempts[0]["duration_ms"] > 0
        per_event = await api.data("GET", f"/api/v1/webhooks/events/{event_id}/deliveries")
        assert [len(d["attempts_log"]) for d in per_event] == [1]

        await api.data("POST", f"/api/v1/webhooks/{sub['id']}/deliveries/{got.webhook_id}"
                     "/resend", status=202)
        await eventually(lambda: _got(receiver), lambda n: n == 2, what="the resend")
        assert receiver.received[1].webhook_id == got.webhook_id

        rotated = await api.data("POST", f"/api/v1/webhooks/{sub['id']}/rotate-secret")
        assert rotated["secret"] != sub["secret"]
        receiver.secrets.append(rotated["secret"])
        await api.data("POST", "/v1/feedback", {"body": "Again", "rating": 4}, status=201)
        await eventually(lambda: _got(receiver), lambda n: n == 3, what="a rotated delivery")
        assert receiver.received[2].verified_with == [sub["secret"], rotated["secret"]]

        # Rotated again and again within the overlap: the current secret and the newest
        # four retired ones sign (MAX_RETIRED_SECRETS), not one more per rotation.
        for _ in range(5):
            again = await api.data("POST", f"/api/v1/webhooks/{sub['id']}/rotate-secret")
            receiver.secrets.append(again["secret"])
        await api.data("POST", "/v1/feedback", {"body": "Once more", "rating": 4}, status=201)
        await eventually(lambda: _got(receiver), lambda n: n == 4, what="a delivery after six")
        latest = receiver.received[3]
        assert latest.verified_with == receiver.secrets[-5:]
        assert len(latest.headers["webhook-signature"].split(" ")) == 5
    dispatcher = stack.services["webhook_dispatcher"].url
    assert await metric_value(http, dispatcher, "resonanz_webhook_attempts_total",
                              outcome="success") >= 3


async def test_410_disables_and_recovery_redelivers_after_enabling(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    api = Api(http, stack, key)
    gone = True

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=410 if gone else 204)

    receiver, watcher = Receiver(respond), Receiver()
    async with receiving(receiver, watcher):
        sub = await api.data("POST", "/api/v1/webhooks", {
            "url": receiver.url, "events": ["feedback_created"]}, status=201)
        audit = await api.data("POST", "/api/v1/webhooks", {
            "url": watcher.url, "events": ["endpoint_disabled"]}, status=201)
        watcher.secrets.append(audit["secret"])
        await api.data("POST", "/v1/feedback", {"body": "Hello", "rating": 3}, status=201)
        state = await eventually(lambda: api.data("GET", f"/api/v1/webhooks/{sub['id']}"),
                                 lambda s: s["status"] == "disabled", what="the 410 disabling")
        assert state["disabled_reason"] == "endpoint answered 410 Gone"
        await eventually(lambda: _got(watcher), lambda n: n == 1,
                         what="the endpoint_disabled webhook")
        notice = watcher.received[0].payload
        assert notice["type"] == "endpoint_disabled"
        assert notice["data"]["subscription_id"] == sub["id"]
        assert watcher.received[0].verified_with == [audit["secret"]]

        recover = {"since": "2020-01-01T00:00:00Z"}
        status, _, _ = await api.call("POST", f"/api/v1/webhooks/{sub['id']}/recover", recover)
        assert status == 409, "a disabled endpoint must be enabled before recovery"
        gone = False
        await api.data("POST", f"/api/v1/webhooks/{sub['id']}/enable")
        result = await api.data("POST", f"/v1/webhooks/{sub['id']}/recover", recover, status=202)
        assert result["recovered"] == 1
        await eventually(lambda: _got(receiver), lambda n: n == 2, what="the recovery")
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    failed = await api.data("GET", f"/api/v1/webhooks/{sub['id']}/deliveries?status=failed")
    assert failed == []


async def _got(receiver: Receiver) -> int:
    return len(receiver.received)
