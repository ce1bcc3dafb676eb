"""Scheduled resume: on time (within a second), across restarts, once with two replicas."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from resonanz.devstack.supervisor import ServiceProcess, Stack, free_port

from .helpers import new_tenant
from .support import eventually
from .test_widgets_support import create_active_widget, outbox_types, send, widget_row

ON_TIME = timedelta(seconds=1)
log = logging.getLogger(__name__)


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def pause_until(http: aiohttp.ClientSession, stack: Stack, key: str, widget_id: str,
                      resume_at: datetime) -> None:
    status, body, _ = await send(http, stack, "POST", f"/api/v1/campaigns/{widget_id}/pause",
                                 key, json={"reason": "maintenance", "resume_at": at(resume_at)})
    assert status == 200 and body["data"]["status"] == "PAUSED", body


async def resumed(stack: Stack, widget_id: str, within: float = 30.0) -> datetime:
    """When the widget came back (its last change), once it did."""
    row = await eventually(lambda: widget_row(stack, widget_id),
                           lambda r: r["status"] == "ACTIVE", within=within, interval=0.1,
                           what=f"widget {widget_id} resuming")
    moment: datetime = row["updated_at"]
    return moment


@pytest.fixture
async def second_replica(stack: Stack) -> AsyncIterator[ServiceProcess]:
    """Another widgets process on the same database and topics."""
    first = stack.services["widgets"]
    port = free_port()
    replica = ServiceProcess("widgets", port, stack.run_dir / "widgets-2.log",
                             env={**first.env, "RESONANZ_PORT": str(port)})
    replica.start()
    try:
        await eventually(lambda: asyncio.to_thread(replica.ready), lambda ok: ok, within=30,
                         interval=0.1, what="the second widgets replica")
        yield replica
    finally:
        await asyncio.to_thread(replica.stop)


async def test_a_paused_widget_resumes_on_time_although_the_service_restarted_meanwhile(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    widget = await create_active_widget(http, stack, key)
    resume_at = datetime.now(UTC) + timedelta(seconds=12)
    await pause_until(http, stack, key, widget["id"], resume_at)

    widgets = stack.services["widgets"]
    await asyncio.to_thread(widgets.stop)
    widgets.start()
    await asyncio.to_thread(stack.wait_ready, ("widgets",))
    assert datetime.now(UTC) < resume_at, "the restart took too long to prove anything"

    came_back = await resumed(stack, widget["id"])
    log.info("resumed %s after resume_at (with a restart)", came_back - resume_at)
    assert timedelta(0) <= came_back - resume_at < ON_TIME, came_back - resume_at
    assert await outbox_types(stack, widget["id"]) == [
        "widget.created", "widget.paused", "widget.resumed"]


async def test_two_replicas_resume_each_widget_exactly_once(
    stack: Stack, http: aiohttp.ClientSession, second_replica: ServiceProcess,
) -> None:
    _, key = await new_tenant(stack)
    ids = [(await create_active_widget(http, stack, key, name=f"W{i}"))["id"]
           for i in range(6)]
    base = datetime.now(UTC) + timedelta(seconds=4)
    due = {widget_id: base + timedelta(milliseconds=150 * i) for i, widget_id in enumerate(ids)}
    for widget_id, resume_at in due.items():
        await pause_until(http, stack, key, widget_id, resume_at)

    for widget_id, resume_at in due.items():
        came_back = await resumed(stack, widget_id)
        log.info("resumed %s after resume_at (two replicas)", came_back - resume_at)
        assert timedelta(0) <= came_back - resume_at < ON_TIME, (widget_id, came_back)
    assert second_replica.ready() and stack.services["widgets"].ready()
    for widget_id in ids:
        assert await outbox_types(stack, widget_id) == [
            "widget.created", "widget.paused", "widget.resumed"]
        assert (await widget_row(stack, widget_id))["version"] == 3
