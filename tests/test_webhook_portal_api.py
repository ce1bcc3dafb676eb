"""The webhook portal's API through the gateway, every service a real process: editing a
subscription (PATCH), test events that arrive signed at a real receiver and verify with
`standardwebhooks`, and the event catalog, generated from the code, that covers every
subscribable webhook with a JSON Schema its sample and real deliveries satisfy."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
import pytest
from standardwebhooks.webhooks import Webhook

from resonanz.devstack.supervisor import Stack
from resonanz.webhook_dispatcher.catalog import uncatalogued
from resonanz.webhook_dispatcher.domain import KNOWN_WEBHOOKS

from .helpers import Api, admin, new_tenant
from .support import eventually
from .test_webhooks_support import Receiver, receiving


@pytest.fixture
def stack(receiving_stack: Stack) -> Stack:
    return receiving_stack


async def _tenant_api(stack: Stack, http: aiohttp.ClientSession) -> tuple[str, Api]:
    tenant, key = await new_tenant(stack)
    return tenant, Api(http, stack, key)


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


async def _received(receiver: Receiver) -> int:
    return len(receiver.received)


# --- PATCH ---------------------------------------------------------------------------------


async def test_patch_changes_only_what_is_given_and_judges_a_new_url_like_create(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, api = await _tenant_api(stack, http)
    sub = await api.data("POST", "/api/v1/webhooks", {
        "url": "https://hooks.example.com/in", "events": ["feedback_created"],
        "description": "CRM"}, status=201)
    path = f"/api/v1/webhooks/{sub['id']}"
    changed = await api.data("PATCH", path, {"events": ["reward_approved", "feedback_created",
                                                      "reward_approved"]})
    assert changed["events"] == ["reward_approved", "feedback_created"]
    assert (changed["url"], changed["description"]) == ("https://hooks.example.com/in", "CRM")
    cleared = await api.data("PATCH", f"/v1/webhooks/{sub['id']}", {"description": None})
    assert cleared["description"] is None and cleared["events"] == changed["events"]
    assert "secret" not in cleared

    for body, field in ((
            {"url": "http://10.0.0.1/hook"}, "url"), ({"url": "ftp://x.example/"}, "url"),
            ({"url": "http://169.254.169.254/latest"}, "url"),
            ({"events": ["reward_exploded"]}, "events"), ({"events": []}, "events"),
            ({"url": None}, "url"), ({"colour": "red"}, "colour")):
        status, answer, _ = await api.call("PATCH", path, body)
        assert status == 400, (body, answer)
        assert answer["details"][0]["field"] == field, (body, answer)
    status, answer, _ = await api.call("PATCH", path, {})
    assert status == 400 and "at least one" in answer["error"]
    status, answer, _ = await api.call("PATCH", "/v1/webhooks/" + sub["id"], {"url": "gopher://x"})
    assert status == 400 and answer["meta"]["error"]["details"][0]["field"] == "url"
    after = await api.data("GET", path)
    assert after["url"] == "https://hooks.example.com/in", "a refused PATCH changes nothing"

    stopped = await api.data("PATCH", path, {"enabled": False})
    assert (stopped["status"], stopped["disabled_reason"]) == ("disabled", "disabled by an admin")
    started = await api.data("PATCH", path, {"enabled": True})
    assert started["status"] == "active" and started["disabled_reason"] is None

    missing = "/api/v1/webhooks/00000000-0000-4000-8000-000000000000"
    assert (await api.call("PATCH", missing, {"description": "x"}))[0] == 404
    assert (await api.call("PATCH", "/api/v1/webhooks/not-a-uuid", {"description": "x"}))[0] == 404


async def test_only_admins_patch_test_and_read_the_catalog_and_only_their_own(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, api = await _tenant_api(stack, http)
    _, stranger = await _tenant_api(stack, http)
    sub = await api.data("POST", "/v1/webhooks", {
        "url": "https://hooks.example.com/in", "events": ["feedback_created"]}, status=201)
    editor = (await admin(stack, "create-key", "--tenant", tenant, "--role", "editor"))["api_key"]
    as_editor = Api(http, stack, editor)
    for method, path, body in (
            ("PATCH", f"/v1/webhooks/{sub['id']}", {"description": "x"}),
            ("POST", f"/api/v1/webhooks/{sub['id']}/test", {}),
            ("GET", "/api/v1/webhooks/event-types", None),
            ("GET", "/v1/webhooks/event-types", None)):
        assert (await as_editor.call(method, path, body))[0] == 403, path
    theirs = f"/v1/webhooks/{sub['id']}"
    assert (await stranger.call("PATCH", theirs, {"description": "x"}))[0] == 404
    assert (await stranger.call("POST", f"{theirs}/test", {}))[0] == 404


# --- test events ---------------------------------------------------------------------------


async def test_a_test_event_arrives_signed_to_that_endpoint_only_and_is_logged(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, api = await _tenant_api(stack, http)
    catalog = {e["name"]: e for e in await api.data("GET", "/api/v1/webhooks/event-types")}
    receiver, bystander = Receiver(), Receiver()
    async with receiving(receiver, bystander):
        sub = await api.data("POST", "/api/v1/webhooks", {
            "url": receiver.url, "events": ["feedback_created", "reward_approved"],
            "secret": "whsec_generate_a_random_one"}, status=201)
        other = await api.data("POST", "/api/v1/webhooks", {
            "url": bystander.url, "events": ["feedback_created", "reward_approved"]}, status=201)
        receiver.secrets.append(sub["standard_webhooks_secret"])

        queued = await api.data("POST", f"/api/v1/webhooks/{sub['id']}/test",
                              {"event_type": "feedback_status_changed"}, status=202)
        assert queued["test"] is True and queued["event_type"] == "webhook.test"
        assert queued["webhook_type"] == "feedback_updated"
        await eventually(lambda: _received(receiver), lambda n: n == 1, what="the test event")
        got = receiver.received[0]
        assert got.webhook_id == queued["id"]
        assert got.verified_with == [sub["standard_webhooks_secret"]]
        # What an integrator's own check does with the same bytes and headers:
        verified = Webhook(sub["standard_webhooks_secret"]).verify(got.body, got.headers)
        assert verified["type"] == "feedback_updated"
        assert verified["data"]["test"] is True and verified["data"]["change"] == "status_changed"
        errors = list(_validator(catalog["feedback_status_changed"]["schema"])
                      .iter_errors(verified))
        assert errors == []

        # Without a type: the endpoint's first event; the FeedBackPro path says the same.
        await api.data("POST", f"/v1/webhooks/{sub['id']}/test", status=202)
        await eventually(lambda: _received(receiver), lambda n: n == 2, what="a second test")
        second = receiver.received[1]
        assert second.verified_with == [sub["standard_webhooks_secret"]]
        payload = Webhook(sub["standard_webhooks_secret"]).verify(second.body, second.headers)
        assert payload["type"] == "feedback_created" and payload["data"]["test"] is True

        log = await eventually(
            lambda: api.data("GET", f"/api/v1/webhooks/{sub['id']}/deliveries"),
            lambda rows: [r["status"] for r in rows] == ["delivered", "delivered"],
            what="both tests in the log")
        assert {r["event_type"] for r in log} == {"webhook.test"}
        attempts = await api.data(
            "GET", f"/api/v1/webhooks/{sub['id']}/deliveries/{queued['id']}/attempts")
        assert [(a["outcome"], a["status_code"]) for a in attempts] == [("success", 200)]
    assert bystander.received == [], "a test goes to the endpoint it was sent from only"
    assert await api.data("GET", f"/api/v1/webhooks/{other['id']}/deliveries") == []


async def test_test_events_refuse_unknown_types_and_disabled_endpoints(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, api = await _tenant_api(stack, http)
    sub = await api.data("POST", "/api/v1/webhooks", {
        "url": "https://hooks.example.com/in", "events": ["feedback_created"]}, status=201)
    test = f"/api/v1/webhooks/{sub['id']}/test"
    status, answer, _ = await api.call("POST", test, {"event_type": "reward_exploded"})
    assert status == 400 and answer["details"][0]["field"] == "event_type"
    status, answer, _ = await api.call("POST", test, {"event_type": 7})
    assert status == 400 and answer["details"][0]["field"] == "event_type"
    await api.data("PATCH", f"/api/v1/webhooks/{sub['id']}", {"enabled": False})
    status, answer, _ = await api.call("POST", test, {})
    assert status == 409, answer


async def test_a_patched_url_receives_the_next_real_event_in_the_catalogued_shape(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, api = await _tenant_api(stack, http)
    schema = next(e["schema"] for e in await api.data("GET", "/v1/webhooks/event-types")
                  if e["name"] == "feedback_created")
    receiver = Receiver()
    async with receiving(receiver):
        sub = await api.data("POST", "/api/v1/webhooks", {
            "url": "https://hooks.example.com/in", "events": ["reward_approved"]}, status=201)
        receiver.secrets.append(sub["standard_webhooks_secret"])
        await api.data("PATCH", f"/api/v1/webhooks/{sub['id']}", {
            "url": receiver.url, "events": ["feedback_created"]})
        await api.data("POST", "/v1/feedback", {"body": "Lovely shop", "rating": 5,
                                               "customer_email": "kim@example.com"}, status=201)
        await eventually(lambda: _received(receiver), lambda n: n == 1, what="the delivery")
    got = receiver.received[0]
    assert got.verified_with == [sub["standard_webhooks_secret"]]
    assert list(_validator(schema).iter_errors(got.payload)) == []
    assert "test" not in got.payload["data"]


# --- the catalog ---------------------------------------------------------------------------


def test_every_subscribable_webhook_is_in_the_catalog() -> None:
    assert uncatalogued() == []


async def test_the_catalog_covers_every_subscribable_type_with_a_schema_its_sample_meets(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, api = await _tenant_api(stack, http)
    p4f = await api.data("GET", "/api/v1/webhooks/event-types")
    _, fbp, _ = await api.call("GET", "/v1/webhooks/event-types")
    assert fbp["data"] == p4f and fbp["meta"]["total"] == len(p4f)
    assert sorted(e["name"] for e in p4f) == sorted(KNOWN_WEBHOOKS)
    for entry in p4f:
        assert entry["description"].strip(), entry["name"]
        errors = list(_validator(entry["schema"]).iter_errors(entry["sample"]))
        assert errors == [], (entry["name"], [e.message for e in errors])
        assert entry["sample"]["type"] == entry["delivered_as"]
        assert "test" not in entry["sample"]["data"]
        broken = {**entry["sample"], "data": {**entry["sample"]["data"], "surprise": 1}}
        assert not _validator(entry["schema"]).is_valid(broken), entry["name"]
    payout = next(e for e in p4f if e["name"] == "payout_completed")
    assert "voucher_code" not in payout["schema"]["properties"]["data"]["properties"]
    # Each name the catalog lists is one a subscription accepts.
    sub = await api.data("POST", "/api/v1/webhooks", {
        "url": "https://hooks.example.com/in", "events": [e["name"] for e in p4f]}, status=201)
    assert sorted(sub["events"]) == sorted(KNOWN_WEBHOOKS)
