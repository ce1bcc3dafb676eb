"""Analytics a shop team can trust, through the public API of a running stack: one count
per widget whatever spelling of its id an entry was created with, the organization's
time zone (set over the API, learnt by analytics from the gateway's event), the
definitions of responded and resolved, and `rebuild` equal to the live aggregates."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api, admin, new_tenant
from .support import eventually

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

SUMMARY = "/v1/analytics/summary?period=7d&group_by=day"


@pytest.fixture
async def shop(shared_stack: Stack, http: aiohttp.ClientSession) -> tuple[str, Api]:
    tenant, key = await new_tenant(shared_stack, "Analytics Shop")
    return tenant, Api(http, shared_stack, key)


async def summary(api: Api, query: str = SUMMARY) -> dict[str, Any]:
    data: dict[str, Any] = (await api.ok("GET", query))["data"]
    return data


async def entry(api: Api, **fields: Any) -> str:
    body = {"body": "Lieferung kam zwei Tage zu spät.", "rating": 3, **fields}
    return str((await api.ok("POST", "/v1/feedback", body))["data"]["id"])


async def test_entries_count_once_per_widget_whatever_spelling_of_its_id(
    shop: tuple[str, Api],
) -> None:
    _, api = shop
    widgets = [str((await api.ok("POST", "/v1/widgets", {"name": f"W{i}"}))["data"]["id"])
               for i in range(2)]
    spellings = [lambda w: w, str.upper, lambda w: uuid.UUID(w).hex,
                 lambda w: f"{{{w}}}", lambda w: f"{{{w.upper()}}}"]
    for n, widget in enumerate(widgets):
        for spell in spellings[: 5 - n]:
            created = await api.ok("POST", "/v1/feedback", {"rating": 4,
                                                            "widget_id": spell(widget)})
            assert created["data"]["widget_id"] == widget
    await entry(api)  # one without a widget
    await eventually(lambda: summary(api), lambda s: s["total_submissions"] == 10,
                     what="analytics counting every entry")
    for widget in widgets:
        listed = (await api.ok("GET", f"/v1/feedback?widget_id={widget.upper()}"))["meta"]
        for group_by in ("day", "week", "month"):
            for period in ("7d", "30d", "90d"):
                per_widget = await summary(api, f"/v1/analytics/summary?period={period}"
                                                f"&group_by={group_by}&widget_id={widget}")
                assert per_widget["total_submissions"] == listed["total"], (period, group_by)
                assert sum(b["total_submissions"] for b in per_widget["buckets"]) \
                    == listed["total"]
    assert [(await summary(api, f"{SUMMARY}&widget_id={w}"))["total_submissions"]
            for w in widgets] == [5, 4]


async def test_the_organization_time_zone_is_set_over_the_api_and_followed_by_analytics(
    shared_stack: Stack, shop: tuple[str, Api], http: aiohttp.ClientSession,
) -> None:
    tenant, api = shop
    organization = (await api.ok("GET", "/v1/organization"))["data"]
    assert organization["id"] == tenant and organization["timezone"] == "Europe/Berlin"
    assert (await summary(api))["timezone"] == "Europe/Berlin"

    status, body, _ = await api.call("PATCH", "/v1/organization", {"timezone": "Mars/Olympus"})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "timezone", body
    assert "timezone" in body["meta"]["error"]["message"]
    status, body, _ = await api.call("PATCH", "/v1/organization", {})
    assert status == 400, body
    viewer = Api(http, shared_stack,
                 (await admin(shared_stack, "create-key", "--tenant", tenant, "--role",
                              "viewer"))["api_key"])
    assert (await viewer.ok("GET", "/v1/organization"))["data"]["timezone"] == "Europe/Berlin"
    status, _, _ = await viewer.call("PATCH", "/v1/organization", {"timezone": "UTC"})
    assert status == 403

    changed = await api.ok("PATCH", "/v1/organization", {"timezone": "Asia/Kathmandu"})
    assert changed["data"]["timezone"] == "Asia/Kathmandu"
    assert changed["data"]["name"] == organization["name"]
    await eventually(lambda: summary(api), lambda s: s["timezone"] == "Asia/Kathmandu",
                     what="analytics learning the zone from tenant.updated")
    renamed = await api.ok("PATCH", "/v1/organization", {"name": "Neuer Name"})
    assert renamed["data"] == {**changed["data"], "name": "Neuer Name"}
    assert (await summary(api))["timezone"] == "Asia/Kathmandu"


async def test_responded_and_resolved_follow_the_stated_definitions(
    shared_stack: Stack, shop: tuple[str, Api],
) -> None:
    tenant, api = shop
    owner = (await api.ok("GET", "/v1/users"))["data"][0]["id"]
    ids = [await entry(api) for _ in range(6)]
    moves: list[list[dict[str, Any]]] = [
        [{"status": "archived"}],                          # archived unread: no response
        [{"category": "delivery"}],                        # re-categorised: no response
        [{"status": "resolved"}, {"status": "archived"}],  # resolved, tidied up: resolved
        [{"assignee": owner}],                             # assigned: a response
        [{"note": "Kundin angerufen"}],                    # a note: a response
        [{"status": "resolved"}, {"status": "pending"}],   # reopened: responded, not resolved
    ]
    for entry_id, steps in zip(ids, moves, strict=True):
        for step in steps:
            await api.ok("PATCH", f"/v1/feedback/{entry_id}", step)
    done = await eventually(lambda: summary(api),
                            lambda s: s["statuses"].get("archived") == 2
                            and s["statuses"].get("pending") == 1,
                            what="analytics applying every change")
    assert done["time_to_first_response"]["responded"] == 4
    assert done["response_rate"] == round(4 / 6, 4)
    assert done["time_to_resolve"]["resolved"] == 1
    assert done["time_to_resolve"]["median_seconds"] is not None
    assert 0 <= done["time_to_first_response"]["median_seconds"] < 60
    today = [b for b in done["buckets"] if b["total_submissions"]]
    assert len(today) == 1 and today[0]["time_to_resolve"]["resolved"] == 1
    assert [b["total_submissions"] for b in done["buckets"]].count(0) == 6  # zero-filled

    # The aggregates rebuilt from the feedback service's data equal the live ones.
    before = {q: await summary(api, q) for q in (SUMMARY, "/v1/analytics/summary?period=90d")}
    rebuilt = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "resonanz.analytics", "rebuild", "--tenant",
                         tenant], env=shared_stack.env(), capture_output=True, text=True,
        check=True)
    assert json.loads(rebuilt.stdout) == {"tenant_id": tenant, "entries": 6}
    assert {q: await summary(api, q) for q in before} == before
