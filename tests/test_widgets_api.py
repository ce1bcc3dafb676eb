"""Widgets and campaigns through both dialects: one record, two views, one state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .conftest import Infra
from .helpers import admin, new_tenant
from .test_widgets_support import QUESTIONS, create_active_widget, send, topic_events

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

CAMPAIGN = {
    "name": "Spring vouchers",
    "questions": QUESTIONS,
    "reward": {"amount": "5.00", "currency": "EUR"},
    "auto_approve_above": 80,
    "auto_reject_below": 30,
}


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    """One platform for the module: each test makes its own tenant."""
    return shared_stack


def _in(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_campaign_starts_as_draft_and_moves_through_its_lifecycle(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    status, body, headers = await send(http, stack, "POST", "/api/v1/campaigns", key,
                                       json={**CAMPAIGN, "status": "ACTIVE"})
    assert status == 201, body
    assert body["success"] is True and body["timestamp"].endswith("Z")
    campaign = body["data"]
    assert campaign["status"] == "DRAFT"
    assert campaign["reward"] == {"amount": "5.00", "currency": "EUR"}
    assert campaign["public_id"].startswith("wdg_")
    assert headers["Location"] == f"/api/v1/campaigns/{campaign['id']}"
    path = f"/api/v1/campaigns/{campaign['id']}"

    steps = [("PATCH", path, {"status": "ACTIVE"}, "ACTIVE"),
             ("POST", f"{path}/pause", {"reason": "stock-taking"}, "PAUSED"),
             ("POST", f"{path}/resume", {}, "ACTIVE"),
             ("PATCH", path, {"status": "ENDED"}, "ENDED")]
    for method, url, payload, expected in steps:
        status, body, _ = await send(http, stack, method, url, key, json=payload)
        assert (status, body["data"]["status"]) == (200, expected), body

    status, listed, _ = await send(http, stack, "GET", "/api/v1/campaigns", key)
    assert status == 200
    assert [(c["id"], c["status"]) for c in listed["data"]] == [(campaign["id"], "ENDED")]


async def test_impossible_transitions_are_409_with_the_allowed_moves(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    _, body, _ = await send(http, stack, "POST", "/api/v1/campaigns", key, json=CAMPAIGN)
    path = f"/api/v1/campaigns/{body['data']['id']}"

    status, body, _ = await send(http, stack, "POST", f"{path}/resume", key, json={})
    assert status == 409
    assert body["success"] is False and "PAUSED" in body["error"]
    assert body["details"][0]["allowed"] == ["ACTIVE", "ENDED"]

    status, body, _ = await send(http, stack, "POST", f"{path}/pause", key, json={})
    assert status == 409 and body["details"][0]["current"] == "DRAFT"

    await send(http, stack, "PATCH", path, key, json={"status": "ENDED"})
    status, body, _ = await send(http, stack, "PATCH", path, key, json={"status": "ACTIVE"})
    assert status == 409 and body["details"][0]["allowed"] == []


async def test_feedbackpro_widgets_list_patch_pause_and_resume(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    widget = await create_active_widget(
        http, stack, key, placement="bottom-left",
        trigger={"type": "scroll-depth", "percentage": 50})
    assert widget["is_active"] is True and widget["status"] == "active"
    assert widget["trigger"] == {"type": "scroll-depth", "percentage": 50}
    assert f'data-widget="{widget["public_id"]}"' in widget["embed_code"]
    path = f"/v1/widgets/{widget['id']}"

    status, body, _ = await send(http, stack, "GET", "/v1/widgets?page=1&limit=10", key)
    assert status == 200
    assert [w["id"] for w in body["data"]] == [widget["id"]]
    assert body["meta"]["page"] == 1 and body["meta"]["per_page"] == 10
    assert body["meta"]["total"] == 1 and body["meta"]["request_id"]
    assert body["links"]["next"] is None and body["links"]["prev"] is None

    status, body, _ = await send(http, stack, "PATCH", path, key, json={
        "theme": {"primary_color": "#aa0000", "border_radius": 4}, "position": "inline",
        "languages": ["en"], "trigger": "exit-intent"})
    assert status == 200, body
    patched = body["data"]
    assert patched["theme"]["primary_color"] == "#aa0000"
    assert patched["theme"]["font_family"] == "system-ui, sans-serif"  # merged, not replaced
    assert (patched["placement"], patched["languages"]) == ("inline", ["en"])
    assert patched["trigger"] == {"type": "exit-intent"}

    resume_at = _in(3600)
    status, body, _ = await send(http, stack, "POST", f"{path}/pause", key, json={
        "reason": "Black Friday campaign — switching to survey mode", "resume_at": resume_at})
    assert status == 200, body
    assert set(body["data"]) == {"id", "status", "paused_at", "scheduled_resume"}
    assert body["data"]["status"] == "paused"
    assert body["data"]["scheduled_resume"] == resume_at.replace("Z", ".000Z")
    assert body["data"]["paused_at"].endswith("Z") and body["meta"]["request_id"]

    status, body, _ = await send(http, stack, "POST", f"{path}/resume", key,
                                 json={"notify": True})
    assert status == 200 and body["data"]["is_active"] is True
    assert body["data"]["scheduled_resume"] is None

    status, body, _ = await send(http, stack, "PATCH", path, key, json={"is_active": False})
    assert (status, body["data"]["status"]) == (200, "paused")


async def test_invalid_settings_are_400_with_field_details(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    widget = await create_active_widget(http, stack, key)
    path = f"/v1/widgets/{widget['id']}"

    status, body, _ = await send(http, stack, "PATCH", path, key,
                                 json={"theme": {"primary_color": "red; x: y"}})
    assert status == 400
    assert body["meta"]["error"]["details"][0]["field"] == "theme.primary_color"

    status, body, _ = await send(http, stack, "PATCH", path, key,
                                 json={"trigger": {"type": "time-on-page"}})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "trigger"

    status, body, _ = await send(http, stack, "POST", f"{path}/pause", key,
                                 json={"resume_at": _in(-60)})
    assert status == 400
    assert body["meta"]["error"]["details"][0]["field"] == "resume_at"

    status, body, _ = await send(http, stack, "POST", "/api/v1/campaigns", key, json={
        "name": "x", "reward": {"amount": "5"}, "questions": [
            {"id": "q", "type": "single_choice", "label": "Pick", "options": []}]})
    assert status == 400 and body["success"] is False
    fields = {d["field"] for d in body["details"]}
    assert {"questions.0", "reward"} <= fields, body


async def test_is_active_and_notify_must_be_json_booleans(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """`"is_active": "yes"` (or 1, or "false") is a 400 naming the field, not a guess at
    what was meant that pauses or activates a shop's widget."""
    _, key = await new_tenant(stack)
    widget = await create_active_widget(http, stack, key)
    path = f"/v1/widgets/{widget['id']}"
    for value in ("yes", "false", 1, 0):
        status, body, _ = await send(http, stack, "PATCH", path, key, json={"is_active": value})
        assert status == 400, (value, body)
        assert [d["field"] for d in body["meta"]["error"]["details"]] == ["is_active"], value
    status, body, _ = await send(http, stack, "GET", path, key)
    assert body["data"]["status"] == "active" and body["data"]["is_active"] is True
    status, body, _ = await send(http, stack, "POST", f"{path}/pause", key, json={})
    assert status == 200, body
    status, body, _ = await send(http, stack, "POST", f"{path}/resume", key,
                                 json={"notify": "true"})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "notify", body
    status, body, _ = await send(http, stack, "POST", f"{path}/resume", key,
                                 json={"notify": False})
    assert status == 200 and body["data"]["status"] == "active", body


async def test_a_trigger_without_a_type_is_400_not_a_manual_trigger(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """`{"seconds": 20}` meant time on page; taking it for `manual` would leave the widget
    never showing by itself."""
    _, key = await new_tenant(stack)
    widget = await create_active_widget(http, stack, key, trigger={"type": "exit-intent"})
    path = f"/v1/widgets/{widget['id']}"
    for trigger in ({}, {"seconds": 20}, {"type": None, "percentage": 50}):
        status, body, _ = await send(http, stack, "PATCH", path, key, json={"trigger": trigger})
        assert status == 400, (trigger, body)
        assert [d["field"] for d in body["meta"]["error"]["details"]] == ["trigger"], body
    status, body, _ = await send(http, stack, "POST", "/v1/widgets", key,
                                 json={"name": "x", "trigger": {"percentage": 50}})
    assert status == 400, body
    status, body, _ = await send(http, stack, "GET", path, key)
    assert body["data"]["trigger"] == {"type": "exit-intent"}


async def test_widget_numbers_must_be_json_numbers(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """`true` is not a border radius of 1 px, nor "20" a trigger of 20 seconds."""
    _, key = await new_tenant(stack)
    widget = await create_active_widget(http, stack, key)
    path = f"/v1/widgets/{widget['id']}"
    for change, field in (({"theme": {"border_radius": True}}, "theme.border_radius"),
                          ({"theme": {"border_radius": "8"}}, "theme.border_radius"),
                          ({"trigger": {"type": "time-on-page", "seconds": "20"}},
                           "trigger.seconds"),
                          ({"trigger": {"type": "scroll-depth", "percentage": True}},
                           "trigger.percentage")):
        status, body, _ = await send(http, stack, "PATCH", path, key, json=change)
        assert status == 400, (change, body)
        assert [d["field"] for d in body["meta"]["error"]["details"]] == [field], body
    status, body, _ = await send(http, stack, "PATCH", f"/api/v1/campaigns/{widget['id']}",
                                 key, json={"auto_approve_above": True})
    assert status == 400 and body["details"][0]["field"] == "auto_approve_above", body
    status, body, _ = await send(http, stack, "GET", path, key)
    assert body["data"]["theme"]["border_radius"] == widget["theme"]["border_radius"]
    assert body["data"]["trigger"] == widget["trigger"]


async def test_another_tenants_widget_is_not_found_and_viewers_cannot_change_widgets(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack, "Owner")
    _, other_key = await new_tenant(stack, "Other")
    widget = await create_active_widget(http, stack, key)

    for method, path in (("GET", f"/v1/widgets/{widget['id']}"),
                         ("PATCH", f"/v1/widgets/{widget['id']}"),
                         ("POST", f"/api/v1/campaigns/{widget['id']}/pause"),
                         ("GET", "/api/v1/campaigns/not-a-uuid")):
        status, _, _ = await send(http, stack, method, path, other_key, json={})
        assert status == 404, (method, path)

    viewer = await admin(stack, "create-key", "--tenant", tenant, "--role", "viewer")
    status, _, _ = await send(http, stack, "PATCH", f"/v1/widgets/{widget['id']}",
                              viewer["api_key"], json={"name": "mine now"})
    assert status == 403


async def test_every_change_is_an_event_on_the_widgets_topic(
    stack: Stack, infra: Infra, topics: dict[str, str], http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    _, body, _ = await send(http, stack, "POST", "/api/v1/campaigns", key, json=CAMPAIGN)
    path = f"/api/v1/campaigns/{body['data']['id']}"
    for method, url, payload in (("PATCH", path, {"status": "ACTIVE"}),
                                 ("POST", f"{path}/pause", {"reason": "inventory"}),
                                 ("POST", f"{path}/resume", {"notify": True}),
                                 ("PATCH", path, {"status": "ENDED"})):
        status, _, _ = await send(http, stack, method, url, key, json=payload)
        assert status == 200

    events = await topic_events(infra.bootstrap_servers, topics["RESONANZ_TOPIC_WIDGETS"], 5,
                                tenant=tenant)
    assert [e.type for _, e in events] == ["widget.created", "widget.updated", "widget.paused",
                                          "widget.resumed", "widget.ended"]
    widget_id = body["data"]["id"]
    assert {k for k, _ in events} == {widget_id.encode()}
    assert all(e.tenantid == tenant and e.subject == widget_id for _, e in events)
    payloads = [e.data for _, e in events]
    assert [p["widget"]["version"] for p in payloads] == [1, 2, 3, 4, 5]
    assert payloads[2]["widget"]["pause_reason"] == "inventory"
    assert payloads[3]["notify"] is True and payloads[1]["notify"] is False
    assert payloads[0]["widget"]["reward"] == {"amount": "5.00", "currency": "EUR"}
    assert payloads[0]["widget"]["auto_approve_above"] == 80


async def test_null_list_settings_are_accepted_not_a_server_error(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    status, body, _ = await send(http, stack, "POST", "/v1/widgets", key, json={
        "name": "Nulls", "allowed_origins": None, "languages": None, "questions": None})
    assert status == 201, body
    widget = body["data"]
    assert widget["allowed_origins"] == [] and widget["languages"]
    status, _, _ = await send(http, stack, "PATCH", f"/api/v1/campaigns/{widget['id']}",
                              key, json={"allowed_origins": None, "theme": None})
    assert status == 200
