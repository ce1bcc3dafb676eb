"""Ids are parsed once at the edge and compared as values: another spelling of an id
names the same object, and never slips past a check that compared strings."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api, admin, new_tenant
from .support import eventually

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

CONFIRM = {"X-Confirm": "true"}
FEEDBACK = {"body": "Der Gutschein wurde an der Kasse nicht angenommen.", "rating": 2}

SPELLINGS: dict[str, Callable[[str], str]] = {
    "uppercase": str.upper,
    "without-hyphens": lambda i: i.replace("-", ""),
    "urn": lambda i: f"urn:uuid:{i}",
    "urn-uppercase": lambda i: f"URN:UUID:{i.upper()}",
}


async def owner_of(stack: Stack, tenant: str) -> str:
    tenants = await admin(stack, "list-tenants")
    return str(next(t["owner_id"] for t in tenants if t["id"] == tenant))


async def assert_owner_kept(api: Api, owner: str) -> None:
    users = (await api.ok("GET", "/v1/users"))["data"]
    assert [u["id"] for u in users if u["status"] == "active"] == [owner]
    await api.ok("GET", "/v1/me")  # the owner's key still works


async def test_owner_cannot_be_removed_by_an_uppercase_id(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    api, owner = Api(http, shared_stack, key), await owner_of(shared_stack, tenant)
    status, body, _ = await api.call("DELETE", f"/v1/users/{owner.upper()}", headers=CONFIRM)
    assert status == 409, body
    assert body["meta"]["error"]["details"] == [{"field": "id", "message": "owner"}]
    await assert_owner_kept(api, owner)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
async def test_owner_cannot_be_removed_by_any_spelling_of_their_id(
    shared_stack: Stack, http: aiohttp.ClientSession, spelling: str,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    api, owner = Api(http, shared_stack, key), await owner_of(shared_stack, tenant)
    status, body, _ = await api.call("DELETE", f"/v1/users/{SPELLINGS[spelling](owner)}",
                                     headers=CONFIRM)
    assert status == 409, body
    await assert_owner_kept(api, owner)


async def test_owner_cannot_be_removed_by_their_id_in_braces(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    api, owner = Api(http, shared_stack, key), await owner_of(shared_stack, tenant)
    status, _, _ = await api.call("DELETE", f"/v1/users/%7B{owner}%7D", headers=CONFIRM)
    assert status in (404, 409)  # the router takes no braces in a path segment
    await assert_owner_kept(api, owner)


async def test_a_member_named_by_another_spelling_is_removed_under_their_own_id(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    member = (await api.ok("POST", "/v1/users", {"email": "jonas.becker@example.de"}))["data"]
    removed = await api.ok("DELETE", f"/v1/users/{member['id'].upper()}", headers=CONFIRM)
    assert removed["data"]["id"] == member["id"] and removed["data"]["status"] == "removed"


@pytest.mark.parametrize("bad_id", ["nope", "%00", "12345678-1234-1234-1234-12345678901_",
                                    "+2345678123456781234567812345678", "0" * 37])
async def test_a_malformed_user_id_is_a_404_before_any_lookup(
    shared_stack: Stack, http: aiohttp.ClientSession, bad_id: str,
) -> None:
    _, key = await new_tenant(shared_stack)
    status, body, _ = await Api(http, shared_stack, key).call(
        "DELETE", f"/v1/users/{bad_id}", headers=CONFIRM)
    assert status == 404, body
    assert body["meta"]["error"]["code"] == "not_found"


async def test_an_entry_assigned_by_an_uppercase_id_follows_the_member_out(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    api, owner = Api(http, shared_stack, key), await owner_of(shared_stack, tenant)
    member = (await api.ok("POST", "/v1/users", {"email": "lea.wolf@example.de"}))["data"]
    entry = (await api.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    assigned = await api.ok("PATCH", f"/v1/feedback/{entry}",
                            {"assigned_to": member["id"].upper()})
    assert assigned["data"]["assigned_to"] == member["id"]
    await api.ok("DELETE", f"/v1/users/{member['id']}", headers=CONFIRM)
    await eventually(lambda: api.ok("GET", f"/v1/feedback/{entry}"),
                     lambda b: b["data"]["assigned_to"] == owner,
                     what="the entry reassigned to the owner")


async def test_entry_and_widget_ids_in_another_spelling_name_the_same_objects(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    widget = (await api.ok("POST", "/v1/widgets", {"name": "Kasse"}))["data"]["id"]
    created = await api.ok("POST", "/v1/feedback", {**FEEDBACK, "widget_id": widget.upper()})
    entry = created["data"]["id"]
    assert created["data"]["widget_id"] == widget
    fetched = await api.ok("GET", f"/v1/feedback/{entry.upper().replace('-', '')}")
    assert fetched["data"]["id"] == entry
    listed = await api.ok("GET", f"/api/v1/responses?campaign_id=urn:uuid:{widget}")
    assert [r["id"] for r in listed["data"]] == [entry]
    await eventually(
        lambda: api.ok("GET", f"/v1/analytics/summary?widget_id={widget.upper()}"),
        lambda b: b["data"]["total_submissions"] == 1 and b["data"]["widget_id"] == widget,
        what="the entry counted under its widget")


async def test_a_malformed_path_id_is_a_404_in_each_dialect(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    for path in ("/v1/feedback/nope", f"/v1/feedback/{uuid.uuid4()}x", "/v1/widgets/%00",
                 "/api/v1/responses/1", "/api/v1/campaigns/wdg_1"):
        status, body, _ = await api.call("GET", path)
        assert status == 404, (path, body)
