"""An id of another tenant's object is refused wherever a request names one — in a
body, in a filter — as the references answer such ids: 404, never 403, in the
dialect's error shape, naming the field. Nothing is stored that points across."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api, new_tenant
from .support import eventually

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

FEEDBACK = {"body": "Die Rücksendung wurde nach drei Wochen noch nicht erstattet.", "rating": 2}
CONFIRM = {"X-Confirm": "true"}


@pytest.fixture
async def shops(shared_stack: Stack, http: aiohttp.ClientSession) -> tuple[Api, Api]:
    """Two tenants: ours, and the one whose ids we try (a few calls each: the reference
    rate limits hold)."""
    _, ours = await new_tenant(shared_stack, "Unser Shop", limited=True)
    _, theirs = await new_tenant(shared_stack, "Fremder Shop", limited=True)
    return Api(http, shared_stack, ours), Api(http, shared_stack, theirs)


async def widget_of(api: Api) -> str:
    return str((await api.ok("POST", "/v1/widgets", {"name": "Checkout"}))["data"]["id"])


def refused(status: int, body: dict[str, Any], field: str) -> bool:
    """404 in the dialect's shape, naming `field`."""
    error = body["meta"]["error"] if "meta" in body else {"code": body["code"],
                                                          "details": body["details"]}
    return (status == 404 and error["code"] == "not_found"
            and [d["field"] for d in error["details"]] == [field])


async def test_feedback_cannot_reference_another_tenants_widget(shops: tuple[Api, Api]
                                                                ) -> None:
    ours, theirs = shops
    foreign = await widget_of(theirs)
    status, body, _ = await ours.call("POST", "/v1/feedback", {**FEEDBACK, "widget_id": foreign})
    assert refused(status, body, "widget_id"), body
    assert (await ours.ok("GET", "/v1/feedback"))["meta"]["total"] == 0


async def test_feedback_cannot_reference_a_widget_that_does_not_exist(
    shops: tuple[Api, Api],
) -> None:
    ours, _ = shops
    status, body, _ = await ours.call("POST", "/v1/feedback",
                                      {**FEEDBACK, "widget_id": str(uuid.uuid4())})
    assert refused(status, body, "widget_id"), body


async def test_an_escaped_key_does_not_smuggle_a_foreign_widget_past_the_check(
    shops: tuple[Api, Api],
) -> None:
    ours, theirs = shops
    foreign = await widget_of(theirs)
    escaped_key = '"widget\\u005fid"'  # JSON for "widget_id"
    raw = f'{{"body": "Paket kam beschädigt an.", {escaped_key}: "{foreign}"}}'.encode()
    status, body, _ = await ours.call("POST", "/v1/feedback", data=raw,
                                      headers={"Content-Type": "application/json"})
    assert refused(status, body, "widget_id"), body


async def test_feedback_may_reference_its_own_widget_created_a_moment_ago(
    shops: tuple[Api, Api],
) -> None:
    ours, _ = shops
    mine = await widget_of(ours)  # its event need not have reached the feedback service
    created = await ours.ok("POST", "/v1/feedback", {**FEEDBACK, "widget_id": mine})
    assert created["data"]["widget_id"] == mine


async def test_analytics_cannot_be_asked_about_another_tenants_widget(
    shops: tuple[Api, Api],
) -> None:
    ours, theirs = shops
    foreign = await widget_of(theirs)
    status, body, _ = await ours.call("GET", f"/v1/analytics/summary?widget_id={foreign}")
    assert refused(status, body, "widget_id"), body
    mine = await widget_of(ours)
    summary = await ours.ok("GET", f"/v1/analytics/summary?widget_id={mine}")
    assert summary["data"]["widget_id"] == mine


@pytest.mark.parametrize("query, field", [("/v1/feedback?widget_id={}", "widget_id"),
                                          ("/api/v1/responses?campaign_id={}", "campaign_id"),
                                          ("/api/v1/responses?campaign={}", "campaign")])
async def test_lists_cannot_be_filtered_by_another_tenants_widget(
    shops: tuple[Api, Api], query: str, field: str,
) -> None:
    ours, theirs = shops
    foreign = await widget_of(theirs)
    status, body, _ = await ours.call("GET", query.format(foreign))
    assert refused(status, body, field), body


@pytest.mark.parametrize("field", ["assignee", "assigned_to"])
async def test_entries_cannot_be_assigned_to_another_tenants_user(
    shops: tuple[Api, Api], field: str,
) -> None:
    ours, theirs = shops
    stranger = (await theirs.ok("POST", "/v1/users", {"email": "fremd@example.de"}))["data"]
    entry = (await ours.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    status, body, _ = await ours.call("PATCH", f"/v1/feedback/{entry}",
                                      {field: stranger["id"].upper()})
    assert refused(status, body, field), body
    assert (await ours.ok("GET", f"/v1/feedback/{entry}"))["data"]["assigned_to"] is None


async def test_entries_cannot_be_assigned_to_a_removed_member(shops: tuple[Api, Api]) -> None:
    ours, _ = shops
    member = (await ours.ok("POST", "/v1/users", {"email": "ehemalig@example.de"}))["data"]
    await ours.ok("DELETE", f"/v1/users/{member['id']}", headers=CONFIRM)
    entry = (await ours.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    status, body, _ = await ours.call("PATCH", f"/v1/feedback/{entry}",
                                      {"assignee": member["id"]})
    assert refused(status, body, "assignee"), body


async def test_members_and_free_text_names_stay_assignable(shops: tuple[Api, Api]) -> None:
    ours, _ = shops
    member = (await ours.ok("POST", "/v1/users", {"email": "kollegin@example.de"}))["data"]
    entry = (await ours.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    await ours.ok("PATCH", f"/v1/feedback/{entry}", {"assignee": member["id"]})
    named = await ours.ok("PATCH", f"/v1/feedback/{entry}", {"assignee": "Kundenservice"})
    assert named["data"]["assigned_to"] == "Kundenservice"


async def test_the_feedback_service_itself_refuses_a_widget_it_knows_is_foreign(
    shared_stack: Stack, shops: tuple[Api, Api], http: aiohttp.ClientSession,
) -> None:
    """Behind the gateway too: once a widget's events have told the feedback service
    whose it is, an entry of another tenant cannot name it."""
    ours, theirs = shops
    foreign = await widget_of(theirs)
    tenant = (await ours.ok("GET", "/v1/me"))["data"]["id"]

    async def known() -> bool:
        conn = await asyncpg.connect(shared_stack.database_url)
        try:
            return bool(await conn.fetchval(
                "SELECT count(*) FROM feedback.campaigns WHERE widget_id = $1",
                uuid.UUID(foreign)))
        finally:
            await conn.close()
    await eventually(known, bool, what="the widget's event at the feedback service")
    headers = {"X-Internal-Token": shared_stack.env()["RESONANZ_INTERNAL_TOKEN"],
               "X-Tenant-Id": tenant}
    async with http.post(shared_stack.services["feedback"].url + "/entries", headers=headers,
                         json={**FEEDBACK, "widget_id": foreign}) as response:
        body = await response.json()
    assert response.status == 404, body
    assert body["error"]["details"][0]["field"] == "widget_id"
