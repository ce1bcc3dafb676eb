"""Steps shared by the widget tests (this module holds no tests of its own)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer
from multidict import CIMultiDict

from resonanz.devstack.supervisor import Stack
from resonanz.shared.events import CloudEvent

from .helpers import bearer

QUESTIONS: list[dict[str, Any]] = [
    {"id": "stars", "type": "rating", "label": {"de": "Wie war's?", "en": "How was it?"},
     "required": True},
    {"id": "nps", "type": "nps", "label": "Would you recommend us?"},
    {"id": "comment", "type": "text", "label": {"de": "Was fehlt?", "en": "What is missing?"}},
    {"id": "channel", "type": "single_choice", "label": "How did you find us?",
     "options": [{"id": "search", "label": "Search"}, {"id": "friend", "label": "A friend"}]},
    {"id": "liked", "type": "multiple_choice", "label": "What did you like?",
     "options": [{"id": "price", "label": "Price"}, {"id": "speed", "label": "Speed"},
                 {"id": "choice", "label": "Choice"}]},
]


def gateway(stack: Stack) -> str:
    return stack.services["gateway"].url


async def send(session: aiohttp.ClientSession, stack: Stack, method: str, path: str,
               key: str | None = None, json: Any = None, **headers: str
               ) -> tuple[int, Any, CIMultiDict[str]]:
    """One request through the gateway: status, parsed body (or None), headers."""
    sent = {**(bearer(key) if key else {}), **headers}
    async with session.request(method, gateway(stack) + path, json=json,
                               headers=sent) as response:
        raw = await response.read()
        body = await response.json(content_type=None) if raw else None
        return response.status, body, CIMultiDict(response.headers)


async def create_active_widget(session: aiohttp.ClientSession, stack: Stack, key: str,
                               **fields: Any) -> dict[str, Any]:
    """A live widget, made through FeedBackPro's `POST /v1/widgets`."""
    body = {"name": "Checkout survey", "questions": QUESTIONS, "is_active": True, **fields}
    status, created, _ = await send(session, stack, "POST", "/v1/widgets", key, json=body)
    assert status == 201, created
    widget: dict[str, Any] = created["data"]
    return widget


async def entries_of(session: aiohttp.ClientSession, stack: Stack, tenant_id: str,
                     widget_id: str) -> list[dict[str, Any]]:
    """The feedback service's own view (internal API), outside any public rate limit."""
    headers = {"X-Tenant-Id": tenant_id,
               "X-Internal-Token": stack.env()["RESONANZ_INTERNAL_TOKEN"]}
    url = f"{stack.services['feedback'].url}/entries"
    async with session.get(url, params={"widget_id": widget_id}, headers=headers) as response:
        assert response.status == 200, await response.text()
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items


async def widget_row(stack: Stack, widget_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(stack.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT status, resume_at, updated_at, version FROM widgets.widgets WHERE id = $1",
            widget_id)
    finally:
        await conn.close()
    assert row is not None
    return row


async def outbox_types(stack: Stack, widget_id: str) -> list[str]:
    """Event types the widgets service wrote for one widget, in order."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT convert_from(payload, 'UTF8')::jsonb->>'type' AS type FROM widgets.outbox"
            " WHERE key = $1 ORDER BY id", widget_id)
    finally:
        await conn.close()
    return [r["type"] for r in rows]


async def topic_events(bootstrap: str, topic: str, wanted: int, timeout_ms: int = 15_000,
                       tenant: str | None = None) -> list[tuple[bytes | None, CloudEvent]]:
    """Read `topic` from the start until `wanted` events (of `tenant`, when given: the
    topic may be shared with other tests) arrived or the time is up."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes | None, CloudEvent]] = []
    try:
        deadline = time.monotonic() + timeout_ms / 1000
        while len(found) < wanted and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [(r.key, event) for r in records
                          if (event := CloudEvent.from_bytes(r.value)).tenantid == tenant
                          or tenant is None]
    finally:
        await consumer.stop()
    found.sort(key=lambda pair: pair[1].time)
    return found
