"""What a shop page reaches without a key: widget.js, the public config, submissions."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import new_tenant
from .test_widgets_support import (
    QUESTIONS,
    create_active_widget,
    entries_of,
    gateway,
    send,
)

ANSWERS = {"stars": 4, "nps": 9, "comment": "Lieferung kam schnell, Verpackung war toll.",
           "channel": "friend", "liked": ["price", "speed"]}


ADDRESSES = itertools.count(10)


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    """One platform for the module: each test makes its own tenant and widgets."""
    return shared_stack


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """Each test's shopper comes from an address of its own (127.0.0.x is all loopback):
    the platform is shared, and submissions are limited per address."""
    connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{next(ADDRESSES)}", 0))
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


def submission_path(widget: dict[str, Any]) -> str:
    return f"/public/widgets/{widget['public_id']}/submissions"


async def test_widget_js_is_served_without_a_key_cached_and_small(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    async with session.get(f"{gateway(stack)}/widget.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        script = await response.read()
        etag = response.headers["ETag"]
    assert b"attachShadow" in script
    assert len(gzip.compress(script, 9)) < 10 * 1024  # "under 10 KB gzipped"
    async with session.get(f"{gateway(stack)}/widget.js",
                           headers={"If-None-Match": etag}) as response:
        assert response.status == 304


async def test_public_config_carries_an_etag_and_a_short_max_age(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key,
                                        reward={"voucher_codes": ["SECRET-1"]})
    path = f"/public/widgets/{widget['public_id']}"

    status, config, headers = await send(session, stack, "GET", path)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=10"  # as the README states
    assert config["active"] is True and config["placement"] == "bottom-right"
    assert [q["id"] for q in config["questions"]] == [q["id"] for q in QUESTIONS]
    # What the form must keep to: the widget enforces it before sending.
    assert config["limits"] == {"submission_bytes": 16 * 1024, "text_chars": 5000}
    assert "SECRET-1" not in str(config) and "tenant" not in str(config)

    status, _, again = await send(session, stack, "GET", path,
                                  **{"If-None-Match": headers["ETag"]})
    assert status == 304 and again["ETag"] == headers["ETag"]

    await send(session, stack, "PATCH", f"/v1/widgets/{widget['id']}", key,
               json={"theme": {"primary_color": "#123456"}})
    status, config, changed = await send(session, stack, "GET", path,
                                         **{"If-None-Match": headers["ETag"]})
    assert status == 200 and changed["ETag"] != headers["ETag"]
    assert config["theme"]["primary_color"] == "#123456"

    status, _, _ = await send(session, stack, "GET", "/public/widgets/wdg_unknown")
    assert status == 404


async def test_a_submission_becomes_a_feedback_entry_of_its_widget(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    status, body, headers = await send(
        session, stack, "POST", submission_path(widget),
        json={"answers": ANSWERS, "customer_email": "lars.mueller@web.de",
              "page_url": "https://shop.example/checkout", "language": "de", "website": ""},
        Origin="https://shop.example")
    assert status == 201, body
    assert headers["Access-Control-Allow-Origin"] == "*"

    [entry] = await entries_of(session, stack, tenant, widget["id"])
    assert entry["id"] == body["id"]
    assert (entry["widget_id"], entry["rating"]) == (widget["id"], 4)
    assert entry["body"] == ANSWERS["comment"]
    assert entry["answers"] == ANSWERS
    assert entry["customer_email"] == "lars.mueller@web.de"
    assert entry["metadata"]["source"] == "widget"
    assert entry["metadata"]["page_url"] == "https://shop.example/checkout"


async def test_invalid_answers_are_refused_with_field_details(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    status, body, _ = await send(session, stack, "POST", submission_path(widget), json={
        "answers": {"nps": 11, "channel": "radio", "unknown": 1}})
    assert status == 400
    fields = {d["field"] for d in body["error"]["details"]}
    assert fields == {"answers.stars", "answers.nps", "answers.channel", "answers.unknown"}
    assert await entries_of(session, stack, tenant, widget["id"]) == []


@pytest.mark.parametrize("channel", [["search"], {"search": True}])
async def test_a_choice_answer_of_the_wrong_json_type_is_a_400_naming_it(
    stack: Stack, session: aiohttp.ClientSession, channel: Any,
) -> None:
    """A single choice sent as a list or an object (a hand-written client, a bot) is a 400
    that names the question, never a 500."""
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    status, body, headers = await send(session, stack, "POST", submission_path(widget), json={
        "answers": {"stars": 4, "channel": channel}}, Origin="https://shop.example")
    assert status == 400, body
    assert body["error"]["details"] == [
        {"field": "answers.channel", "message": "must be one of ['friend', 'search']"}]
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert await entries_of(session, stack, tenant, widget["id"]) == []


async def test_paused_draft_and_ended_widgets_refuse_and_serve_no_form(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    await send(session, stack, "POST", f"/v1/widgets/{widget['id']}/pause", key,
               json={"reason": "maintenance"})
    _, config, _ = await send(session, stack, "GET", f"/public/widgets/{widget['public_id']}")
    assert config == {"public_id": widget["public_id"], "active": False, "status": "paused"}
    status, body, _ = await send(session, stack, "POST", submission_path(widget),
                                 json={"answers": ANSWERS})
    assert (status, body["error"]["code"]) == (409, "widget_paused")

    _, draft, _ = await send(session, stack, "POST", "/api/v1/campaigns", key,
                             json={"name": "Draft"})
    status, body, _ = await send(session, stack, "POST", submission_path(draft["data"]),
                                 json={"answers": {"rating": 5}})
    assert (status, body["error"]["code"]) == (409, "widget_draft")

    await send(session, stack, "PATCH", f"/v1/widgets/{widget['id']}", key,
               json={"status": "ended"})
    status, body, _ = await send(session, stack, "POST", submission_path(widget),
                                 json={"answers": ANSWERS})
    assert (status, body["error"]["code"]) == (409, "widget_ended")
    assert await entries_of(session, stack, tenant, widget["id"]) == []


async def test_a_filled_honeypot_is_thanked_but_nothing_is_stored(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    status, body, _ = await send(session, stack, "POST", submission_path(widget), json={
        "answers": ANSWERS, "website": "https://cheap-pills.example"})
    assert status == 201 and body["status"] == "received"
    assert await entries_of(session, stack, tenant, widget["id"]) == []


async def test_one_client_address_is_limited_while_others_still_get_through(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    url = gateway(stack) + submission_path(widget)
    statuses = []
    for _ in range(11):
        async with session.post(url, json={"answers": {"stars": 5}}) as response:
            statuses.append(response.status)
            headers = response.headers
    assert statuses == [201] * 10 + [429]
    assert int(headers["Retry-After"]) >= 1
    assert "submissions-per-address" in headers["RateLimit-Policy"]

    # Another shopper, another address (127.0.0.2 is loopback too): not affected.
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as elsewhere, \
            elsewhere.post(url, json={"answers": {"stars": 3}}) as response:
        assert response.status == 201
    assert len(await entries_of(session, stack, tenant, widget["id"])) == 11


async def test_one_widget_takes_600_submissions_a_minute_from_any_number_of_shoppers(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    """RESONANZ_SUBMISSIONS_PER_WIDGET_PER_MINUTE's default: 60 senders of 10 each fill it
    (each at their own address limit; bots caught by the honeypot count too, and are cheap
    to send), the 601st submission is refused, and another widget still takes it."""
    _, key = await new_tenant(stack)
    widget, other = [await create_active_widget(session, stack, key) for _ in range(2)]
    block = 100 + secrets.randbelow(100)  # 127.<block>.x.y: addresses no other test uses

    async def sender(n: int, count: int, to: dict[str, Any], answers: dict[str, Any]
                     ) -> list[tuple[int, str]]:
        connector = aiohttp.TCPConnector(local_addr=(f"127.{block}.0.{n + 1}", 0))
        async with aiohttp.ClientSession(connector=connector) as own:
            answered = []
            for _ in range(count):
                async with own.post(gateway(stack) + submission_path(to),
                                    json=answers) as response:
                    answered.append((response.status,
                                     response.headers.get("RateLimit-Policy", "")))
            return answered

    bot = {"answers": {"stars": 4}, "website": "https://cheap-pills.example"}
    filled = await asyncio.gather(*(sender(n, 10, widget, bot) for n in range(60)))
    assert [status for one in filled for status, _ in one] == [201] * 600
    [(status, policy)] = await sender(60, 1, widget, {"answers": {"stars": 4}})
    assert status == 429 and "submissions-per-widget" in policy
    [(status, _)] = await sender(60, 1, other, {"answers": {"stars": 4}})
    assert status == 201


async def test_only_the_widgets_shop_origins_may_post_and_preflight(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key,
                                        allowed_origins=["https://Shop.example/"])
    path = submission_path(widget)
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}

    status, _, headers = await send(session, stack, "OPTIONS", path,
                                    Origin="https://shop.example", **preflight)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]

    # Refused, not 2xx: a browser sends no POST after this preflight.
    status, _, headers = await send(session, stack, "OPTIONS", path,
                                    Origin="https://evil.example", **preflight)
    assert status == 403 and "Access-Control-Allow-Methods" not in headers
    status, body, _ = await send(session, stack, "POST", path, json={"answers": ANSWERS},
                                 Origin="https://evil.example")
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")


async def test_a_restricted_widgets_config_varies_by_origin_even_when_none_is_sent(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    """The config is cacheable by shared caches (`public, max-age`). Asked without an
    Origin (a server, a prefetch) it is answered `*`; without `Vary: Origin` a CDN would
    hand that copy to a page on an origin the widget refuses, and the widget would show
    there."""
    _, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key,
                                        allowed_origins=["https://shop.example"])
    path = f"/public/widgets/{widget['public_id']}"
    status, _, headers = await send(session, stack, "GET", path)
    assert status == 200 and headers["Cache-Control"].startswith("public")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Vary"] == "Origin"
    status, _, headers = await send(session, stack, "GET", path, Origin="https://shop.example")
    assert (status, headers["Vary"]) == (200, "Origin")


async def test_an_oversized_submission_is_refused_readably_for_the_embed(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    shop = {"Origin": "https://shop.example"}
    # Over the widgets service's cap, and over the gateway's own (refused before relaying):
    # both in the widget API's shape, both readable from the shop's page.
    for size in (20_000, 300_000):
        status, body, headers = await send(session, stack, "POST", submission_path(widget),
                                           json={"answers": {"stars": 5, "comment": "x" * size}},
                                           **shop)
        assert (status, body["error"]["code"]) == (413, "payload_too_large"), (size, body)
        assert headers["Access-Control-Allow-Origin"] == "*"
    assert await entries_of(session, stack, tenant, widget["id"]) == []


async def test_a_theme_with_unreadable_text_is_refused_on_save(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    widget = await create_active_widget(session, stack, key)
    status, body, _ = await send(session, stack, "PATCH", f"/v1/widgets/{widget['id']}", key,
                                 json={"theme": {"primary_color": "#c2671f"}})
    assert status == 400
    [detail] = body["meta"]["error"]["details"]
    assert detail["field"] == "theme.primary_color" and "4.5:1" in detail["message"]
