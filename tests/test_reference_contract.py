"""The calls both references document, made as they document them (their bodies, headers
and query parameters; only base URL, key and ids swapped) against the running platform:
the documented fields and status codes come back. The snippets themselves run in
test_reference_snippets."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson
import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from resonanz.devstack.supervisor import Stack
from resonanz.shared.events import CloudEvent, EntrySnapshot, FeedbackCreated, new_event
from resonanz.webhook_dispatcher.domain import WEBHOOK_ROUTES, webhook_body

from .helpers import Api, new_tenant

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

PAYLOAD = {  # FeedBackPro's "Python — Submit Feedback"
    "body": "Checkout button was unresponsive on mobile Safari.",
    "rating": 2,
    "category": "usability",
    "customer_email": "lars.mueller@web.de",
    "metadata": {"page_url": "/checkout", "browser": "Safari 17.2"},
}
PAUSE = {"reason": "Black Friday campaign — switching to survey mode",  # the cURL example
         "resume_at": "2099-12-02T00:00:00Z"}
RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LOOKS_LIKE_A_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
async def stranger(shared_stack: Stack, http: aiohttp.ClientSession) -> Api:
    _, key = await new_tenant(shared_stack, "Other Shop")
    return Api(http, shared_stack, key)


async def live_widget(api: Api, name: str = "Checkout survey") -> dict[str, Any]:
    created = await api.ok("POST", "/v1/widgets", {"name": name, "is_active": True})
    widget: dict[str, Any] = created["data"]
    assert widget["public_id"].startswith("wdg_")
    return widget


def timestamps(value: Any) -> list[str]:
    """Every string in `value` that starts like a date and time."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in timestamps(v)]
    if isinstance(value, list):
        return [t for v in value for t in timestamps(v)]
    return [value] if isinstance(value, str) and LOOKS_LIKE_A_TIMESTAMP.match(value) else []


def fbp_message(body: dict[str, Any]) -> str:
    message: str = body["meta"]["error"]["message"]
    return message


# --- the widget's public id --------------------------------------------------------------


async def test_pausing_by_public_id_answers_as_the_curl_example(api: Api) -> None:
    widget = await live_widget(api)
    status, body, _ = await api.call("POST", f"/v1/widgets/{widget['public_id']}/pause", PAUSE,
                                     headers={"Content-Type": "application/json"})
    assert status == 200, body
    data = body["data"]
    assert data["id"] == widget["public_id"] and data["status"] == "paused"
    assert RFC3339_MS.fullmatch(data["paused_at"])
    assert data["scheduled_resume"] == "2099-12-02T00:00:00.000Z"
    assert body["meta"]["request_id"]
    shown = (await api.ok("GET", f"/v1/widgets/{widget['id']}"))["data"]
    assert shown["status"] == "paused" and shown["pause_reason"] == PAUSE["reason"]


async def test_every_widget_and_campaign_path_takes_the_public_id(api: Api) -> None:
    widget = await live_widget(api)
    public = widget["public_id"]
    assert (await api.ok("GET", f"/v1/widgets/{public}"))["data"]["id"] == widget["id"]
    patched = await api.ok("PATCH", f"/v1/widgets/{public}",  # "theme, position, languages"
                           {"theme": {"primary_color": "#0a5c45"}, "position": "inline",
                            "languages": ["de"], "is_active": True})
    assert patched["data"]["placement"] == "inline" and patched["data"]["languages"] == ["de"]
    await api.ok("POST", f"/v1/widgets/{public}/pause", {"reason": "Wartung"})
    resumed = await api.ok("POST", f"/v1/widgets/{public}/resume", {"notify": True})
    assert resumed["data"]["status"] == "active"
    campaign = await api.ok("GET", f"/api/v1/campaigns/{public}")
    assert campaign["data"]["id"] == widget["id"]
    await api.ok("PATCH", f"/api/v1/campaigns/{public}", {"name": "Checkout, neu"})
    paused = await api.ok("POST", f"/api/v1/campaigns/{public}/pause")
    assert paused["data"]["status"] == "PAUSED"
    resumed = await api.ok("POST", f"/api/v1/campaigns/{public}/resume")
    assert resumed["data"]["status"] == "ACTIVE" and resumed["data"]["name"] == "Checkout, neu"
    # The UUID keeps working, in any of its spellings.
    assert (await api.ok("GET", f"/v1/widgets/{widget['id'].upper()}"))["data"]["name"]


async def test_every_widget_filter_takes_the_public_id(api: Api) -> None:
    widget = await live_widget(api)
    public = widget["public_id"]
    created = await api.ok("POST", "/v1/feedback", {**PAYLOAD, "widget_id": public})
    entry = created["data"]
    assert entry["widget_id"] == widget["id"]
    await api.ok("POST", "/v1/feedback", PAYLOAD)  # another, of no widget
    for path in (f"/v1/feedback?widget_id={public}", f"/api/v1/responses?campaign_id={public}",
                 f"/api/v1/responses?campaign={public}",
                 f"/v1/feedback?widget_id={widget['id']}"):
        found = await api.ok("GET", path)
        assert [e["id"] for e in found["data"]] == [entry["id"]], path
    summary = await api.ok("GET", f"/v1/analytics/summary?period=7d&group_by=week"
                                  f"&widget_id={public}")
    assert summary["data"]["widget_id"] == widget["id"]


async def test_another_shops_public_id_is_404_everywhere(api: Api, stranger: Api) -> None:
    theirs = (await live_widget(stranger))["public_id"]
    for method, path, body in (
            ("GET", f"/v1/widgets/{theirs}", None),
            ("PATCH", f"/v1/widgets/{theirs}", {"name": "x"}),
            ("POST", f"/v1/widgets/{theirs}/pause", PAUSE),
            ("POST", f"/v1/widgets/{theirs}/resume", {}),
            ("GET", f"/api/v1/campaigns/{theirs}", None),
            ("POST", f"/api/v1/campaigns/{theirs}/pause", None),
            ("GET", "/v1/widgets/wdg_doesNotExist42", None),
            ("GET", "/v1/widgets/wdg_%00", None)):
        status, answer, _ = await api.call(method, path, body)
        assert status == 404, (method, path, answer)
    for path, field in ((f"/v1/feedback?widget_id={theirs}", "widget_id"),
                        (f"/api/v1/responses?campaign_id={theirs}", "campaign_id"),
                        (f"/v1/analytics/summary?widget_id={theirs}", "widget_id")):
        status, answer, _ = await api.call("GET", path)
        details = answer["meta"]["error"]["details"] if "meta" in answer else answer["details"]
        assert status == 404 and details[0]["field"] == field, (path, answer)
    status, answer, _ = await api.call("POST", "/v1/feedback", {**PAYLOAD, "widget_id": theirs})
    assert status == 404 and answer["meta"]["error"]["details"][0]["field"] == "widget_id"
    status, answer, _ = await api.call("GET", "/v1/feedback?widget_id=checkout")
    assert status == 400 and "widget_id" in fbp_message(answer)


# --- FeedBackPro ---------------------------------------------------------------------------


async def test_feedback_calls_as_documented(api: Api) -> None:
    status, created, headers = await api.call("POST", "/v1/feedback", PAYLOAD)
    assert status == 201 and created["data"]["status"] == "new"
    entry = created["data"]
    located = await api.ok("GET", headers["Location"])
    assert located["data"]["id"] == entry["id"]
    # "Update status, assignee, or add internal notes"
    patched = await api.ok("PATCH", f"/v1/feedback/{entry['id']}",
                           {"status": "pending", "assignee": "Marlene Hoffmann",
                            "notes": "Kundin zurückgerufen."})
    assert patched["data"]["assigned_to"] == "Marlene Hoffmann"
    detail = (await api.ok("GET", f"/v1/feedback/{entry['id']}"))["data"]
    for field in ("created_at", "updated_at", "assigned_to", "notes", "audit_trail"):
        assert field in detail, field
    assert [n["body"] for n in detail["notes"]] == ["Kundin zurückgerufen."]
    status, both, _ = await api.call("PATCH", f"/v1/feedback/{entry['id']}",
                                     {"note": "a", "notes": "b"})
    assert status == 400 and "notes" in fbp_message(both)
    # "?page=2&limit=50", "?status=pending,resolved"
    listed = await api.ok("GET", "/v1/feedback?page=2&limit=50")
    assert listed["meta"]["page"] == 2 and listed["meta"]["per_page"] == 50
    pending = await api.ok("GET", "/v1/feedback?status=pending,resolved")
    assert [e["id"] for e in pending["data"]] == [entry["id"]]
    assert pending["meta"]["total"] == 1


async def test_page_sizes_above_the_maximum_are_clamped(api: Api) -> None:
    entries = [(await api.ok("POST", "/v1/feedback", PAYLOAD))["data"]["id"] for _ in range(3)]
    for limit in ("201", "500", "100000000000000000000000"):
        body = await api.ok("GET", f"/v1/feedback?limit={limit}")
        assert body["meta"]["per_page"] == 200 and len(body["data"]) == 3, limit
        assert (await api.ok("GET", f"/v1/widgets?limit={limit}"))["meta"]["per_page"] == 200
        assert (await api.ok("GET", f"/v1/users?limit={limit}"))["meta"]["per_page"] == 200
        responses = await api.ok("GET", f"/api/v1/responses?limit={limit}")
        assert [r["id"] for r in responses["data"]] == entries[::-1]
    for bad in ("0", "-1", "many"):
        status, body, _ = await api.call("GET", f"/v1/feedback?limit={bad}")
        assert status == 400 and fbp_message(body).startswith("limit: "), body


async def test_pay4feedback_lists_return_up_to_500_rows_by_default(api: Api) -> None:
    for _ in range(6):
        await asyncio.gather(*(api.ok("POST", "/v1/feedback", PAYLOAD) for _ in range(10)))
    body = await api.ok("GET", "/api/v1/responses")
    assert len(body["data"]) == 60 and body["next"] is None
    assert len((await api.ok("GET", "/api/v1/responses?limit=1000"))["data"]) == 60
    assert len((await api.ok("GET", "/api/v1/responses?limit=7"))["data"]) == 7


async def test_the_campaign_list_pages_with_limit_and_next_like_the_responses(
    api: Api, stranger: Api,
) -> None:
    """"All list endpoints currently return up to 500 rows, newest first" and `next` is
    the cursor of the next page: past 500 campaigns `next` leads on (it was null, and the
    rest were out of reach), `limit` asks for fewer, and a cursor is checked."""
    created = []
    for start in range(0, 503, 50):
        batch = await asyncio.gather(*(api.ok("POST", "/api/v1/campaigns", {"name": f"c{i}"})
                                       for i in range(start, min(start + 50, 503))))
        created += [c["data"] for c in batch]
    newest_first = [c["id"] for c in sorted(created, key=lambda c: (c["created_at"], c["id"]),
                                            reverse=True)]
    first = await api.ok("GET", "/api/v1/campaigns")
    assert len(first["data"]) == 500 and first["next"]
    rest = await api.ok("GET", f"/api/v1/campaigns?cursor={first['next']}")
    assert len(rest["data"]) == 3 and rest["next"] is None
    listed = [c["id"] for c in first["data"] + rest["data"]]
    assert sorted(listed) == sorted(newest_first)
    assert [c["created_at"] for c in first["data"] + rest["data"]] == sorted(
        (c["created_at"] for c in created), reverse=True)
    seen, cursor = [], ""
    while True:
        page = await api.ok("GET", f"/api/v1/campaigns?limit=200&cursor={cursor}")
        assert len(page["data"]) <= 200
        seen += [c["id"] for c in page["data"]]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert seen == listed
    assert len((await api.ok("GET", "/api/v1/campaigns?limit=100000"))["data"]) == 500
    assert (await stranger.ok("GET", f"/api/v1/campaigns?cursor={first['next']}"))["data"] == []
    for query, field in (("limit=0", "limit"), ("limit=many", "limit"), ("cursor=abc", "cursor"),
                         ("cursor=WyJ4Il0", "cursor")):
        status, body, _ = await api.call("GET", f"/api/v1/campaigns?{query}")
        assert status == 400 and body["error"].startswith(f"{field}: "), (query, body)


async def test_rating_only_entries_have_an_empty_string_body(api: Api) -> None:
    widget = await live_widget(api)
    status, _, _ = await api.call("POST", f"/public/widgets/{widget['public_id']}/submissions",
                                  {"answers": {"rating": 4}})
    assert status == 201
    await api.ok("POST", "/v1/feedback", {"rating": 5})
    listed = (await api.ok("GET", "/v1/feedback"))["data"]
    assert [e["body"] for e in listed] == ["", ""]
    assert (await api.ok("GET", f"/v1/feedback/{listed[0]['id']}"))["data"]["body"] == ""


async def test_users_as_documented_and_their_location_is_gettable(api: Api) -> None:
    status, invited, headers = await api.call(
        "POST", "/v1/users", {"email": "marlene.hoffmann@shopware-ag.de", "role": "editor"})
    assert status == 201 and invited["data"]["invitation_token"]
    assert invited["data"]["status"] == "pending"
    member = await api.ok("GET", headers["Location"])
    assert member["data"]["id"] == invited["data"]["id"]
    assert member["data"]["email"] == "marlene.hoffmann@shopware-ag.de"
    assert "invitation_token" not in member["data"]
    team = (await api.ok("GET", "/v1/users"))["data"]
    assert all({"role", "last_active_at", "email_verified"} <= set(u) for u in team)
    await api.ok("DELETE", headers["Location"], headers={"X-Confirm": "true"})
    status, _, _ = await api.call("GET", headers["Location"])
    assert status == 404
    for other in ("00000000-0000-0000-0000-000000000000", "usr_nope"):
        status, _, _ = await api.call("GET", f"/v1/users/{other}")
        assert status == 404, other


async def test_every_location_header_is_gettable(api: Api) -> None:
    creates = (("/v1/feedback", PAYLOAD), ("/v1/widgets", {"name": "Exit survey"}),
               ("/api/v1/campaigns", {"name": "Exit survey"}),
               ("/v1/users", {"email": "azubi@shop.example"}),
               ("/v1/webhooks", {"url": "https://hooks.shop.example/a",
                                 "events": ["feedback_created"]}))
    for path, body in creates:
        status, created, headers = await api.call("POST", path, body)
        assert status == 201 and "Location" in headers, (path, created)
        shown = await api.ok("GET", headers["Location"])
        assert shown["data"]["id"] == created["data"]["id"], path


# --- 400s name the field -------------------------------------------------------------------


async def test_validation_messages_name_the_field_in_both_dialects(api: Api) -> None:
    status, body, _ = await api.call("POST", "/v1/feedback", {**PAYLOAD, "rating": 7})
    assert status == 400
    assert fbp_message(body) == "rating: must be between 1 and 5"
    assert body["meta"]["error"]["details"][0]["field"] == "rating"
    status, body, _ = await api.call("POST", "/api/v1/webhooks", {"events": ["reward_approved"]})
    assert status == 400 and body["error"].startswith("url: "), body
    status, body, _ = await api.call("POST", "/api/v1/campaigns", {"name": ""})
    assert status == 400 and body["error"].startswith("name: "), body
    status, body, _ = await api.call("GET", "/api/v1/responses?status=paid")
    assert status == 400 and body["error"].startswith("status: "), body
    status, body, _ = await api.call("PATCH", "/api/v1/campaigns/"
                                     f"{(await live_widget(api))['id']}",
                                     {"auto_approve_above": 500})
    assert status == 400 and "auto_approve_above" in body["error"], body


# --- one timestamp format ----------------------------------------------------------------------


async def test_every_timestamp_is_rfc3339_utc_with_milliseconds(api: Api) -> None:
    # A widget that pays a reward: its responses have one to approve.
    widget = (await api.ok("POST", "/v1/widgets", {
        "name": "Checkout survey", "is_active": True,
        "reward": {"amount": "5.00", "currency": "EUR"}}))["data"]
    entry = (await api.ok("POST", "/v1/feedback", {**PAYLOAD, "widget_id": widget["id"]}))
    entry_id = entry["data"]["id"]
    await api.ok("PATCH", f"/v1/feedback/{entry_id}", {"status": "resolved", "note": "ok"})
    await api.ok("POST", "/v1/users", {"email": "kollege@shop.example", "role": "viewer"})
    answers = [entry,
               await api.ok("GET", f"/v1/feedback/{entry_id}"),
               await api.ok("GET", "/v1/feedback"),
               await api.ok("POST", f"/v1/widgets/{widget['id']}/pause", PAUSE),
               await api.ok("GET", "/v1/widgets"),
               await api.ok("GET", "/v1/users"),
               await api.ok("GET", "/api/v1/campaigns"),
               await api.ok("POST", f"/api/v1/responses/{entry_id}/approve"),
               await api.ok("GET", "/api/v1/responses"),
               await api.ok("POST", "/api/v1/webhooks", {
                   "url": "https://hooks.shop.example/in", "events": ["reward_approved"]})]
    found = [t for answer in answers for t in timestamps(answer)]
    assert len(found) > 20
    assert [t for t in found if not RFC3339_MS.fullmatch(t)] == []


def test_webhook_payloads_carry_the_same_timestamp_format() -> None:
    moment = datetime(2026, 12, 2, 8, 35, 1, 123456, tzinfo=timezone(timedelta(hours=1)))
    snapshot = EntrySnapshot(id="e1", version=1, widget_id=None, status="new", rating=4,
                             category=None, assignee=None, created_at=moment,
                             updated_at=moment.replace(microsecond=0))
    event = new_event(source="test", tenant_id="t1", subject="e1",
                      data=FeedbackCreated(entry=snapshot))
    body = orjson.loads(webhook_body(WEBHOOK_ROUTES[FeedbackCreated], event.id, moment,
                                     event.data))
    assert body["timestamp"] == "2026-12-02T07:35:01.123Z"
    assert body["data"]["entry"]["created_at"] == "2026-12-02T07:35:01.123Z"
    assert body["data"]["entry"]["updated_at"] == "2026-12-02T07:35:01.000Z"
    assert CloudEvent.from_bytes(event.to_bytes()).payload() == FeedbackCreated(
        entry=snapshot.model_copy(update={"created_at": moment.replace(microsecond=123000)}))


# --- the OpenAPI documents -------------------------------------------------------------------


async def test_v3_api_docs_is_openapi_3_0_and_openapi_json_is_3_1(
        shared_stack: Stack, http: aiohttp.ClientSession) -> None:
    gateway = shared_stack.services["gateway"].url
    async with http.get(f"{gateway}/v3/api-docs") as response:
        v30 = await response.json()
    async with http.get(f"{gateway}/openapi.json") as response:
        v31 = await response.json()
    assert v30["openapi"] == "3.0.3" and v31["openapi"] == "3.1.0"
    validate(v30, cls=OpenAPIV30SpecValidator)
    validate(v31)
    assert v30["paths"].keys() == v31["paths"].keys()
    assert "Stricter" in v30["info"]["description"] or "stricter" in v30["info"]["description"]
