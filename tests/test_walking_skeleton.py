"""The walking skeleton: POST through the gateway → entry + outbox row → relay →
broker → analytics consumer → summary, with real processes end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from resonanz.devstack.supervisor import Stack, TansuBroker

from .conftest import Infra, running_stack
from .helpers import bearer, metric_value, new_tenant
from .support import eventually

FEEDBACK = {
    "body": "Checkout button was unresponsive on mobile Safari.",
    "rating": 2,
    "category": "usability",
    "customer_email": "lars.mueller@web.de",
    "metadata": {"page_url": "/checkout", "browser": "Safari 17.2"},
}


async def post_feedback(http: aiohttp.ClientSession, stack: Stack, key: str
                        ) -> dict[str, Any]:
    gateway = stack.services["gateway"].url
    async with http.post(f"{gateway}/v1/feedback", json=FEEDBACK,
                            headers=bearer(key)) as response:
        assert response.status == 201, await response.text()
        assert response.headers["Location"].startswith("/v1/feedback/")
        body: dict[str, Any] = await response.json()
        return body


async def total_submissions(http: aiohttp.ClientSession, stack: Stack, key: str) -> int:
    gateway = stack.services["gateway"].url
    async with http.get(f"{gateway}/v1/analytics/summary?period=7d&group_by=week",
                           headers=bearer(key)) as response:
        assert response.status == 200, await response.text()
        return int((await response.json())["data"]["total_submissions"])


async def replay_topic(bootstrap: str, topic: str) -> int:
    """Publish every event on `topic` a second time: a duplicate delivery of the history."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    try:
        records = await consumer.getmany(timeout_ms=3000)
        replayed = 0
        for batch in records.values():
            for record in batch:
                await producer.send_and_wait(topic, record.value, key=record.key)
                replayed += 1
        return replayed
    finally:
        await consumer.stop()
        await producer.stop()


async def test_feedback_posted_through_gateway_is_counted_once_by_analytics(
    stack: Stack, infra: Infra, topics: dict[str, str], http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(stack)
    created = await post_feedback(http, stack, key)
    assert created["data"]["status"] == "new"
    assert created["meta"]["request_id"]

    conn = await asyncpg.connect(stack.database_url)
    try:
        outbox = await conn.fetch("SELECT topic, key FROM feedback.outbox")
    finally:
        await conn.close()
    assert [(r["topic"], r["key"]) for r in outbox] == [
        (topics["RESONANZ_TOPIC_FEEDBACK"], created["data"]["id"])
    ]

    await eventually(lambda: total_submissions(http, stack, key), lambda n: n == 1,
                     what="analytics counting the entry")

    replayed = await replay_topic(infra.bootstrap_servers, topics["RESONANZ_TOPIC_FEEDBACK"])
    assert replayed == 1
    analytics = stack.services["analytics"].url
    await eventually(
        lambda: metric_value(http, analytics, "resonanz_consumer_events_total",
                             outcome="duplicate"),
        lambda n: n >= 1, what="the replayed event reaching analytics")
    assert await total_submissions(http, stack, key) == 1


async def test_feedback_is_accepted_while_the_broker_is_down_and_counted_when_it_returns(
    infra: Infra, tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    # A broker of this test's own, whatever the run's comes from (the environment, a
    # container): only a broker the test started can be made to hang.
    broker = TansuBroker(log_path=tmp_path / "broker.log")
    broker.start()
    try:
        own = Infra(infra.server_url, broker.bootstrap_servers, broker)
        async with running_stack(own, tmp_path / "run") as stack:
            await _accepted_while_the_broker_hangs(stack, broker, http)
    finally:
        broker.stop()


async def _accepted_while_the_broker_hangs(stack: Stack, broker: TansuBroker,
                                           http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack)
    await post_feedback(http, stack, key)
    await eventually(lambda: total_submissions(http, stack, key), lambda n: n == 1)

    # Frozen, not stopped: this broker keeps its log only in memory, and a durable
    # broker's outage must not be modelled by one that forgets everything.
    broker.freeze()
    try:
        await post_feedback(http, stack, key)
        await post_feedback(http, stack, key)
        feedback = stack.services["feedback"].url
        await eventually(
            lambda: metric_value(http, feedback, "resonanz_outbox_backlog"),
            lambda n: n == 2, what="both events waiting in the outbox")
    finally:
        broker.thaw()

    await eventually(lambda: total_submissions(http, stack, key), lambda n: n == 3,
                     within=60, what="the outbox draining once the broker is back")


async def test_rebuild_recomputes_a_tenants_aggregates_from_the_feedback_service(
    stack: Stack, http: aiohttp.ClientSession,
) -> None:
    import asyncio
    import json
    import subprocess
    import sys

    tenant, key = await new_tenant(stack)
    for _ in range(3):
        await post_feedback(http, stack, key)
    await eventually(lambda: total_submissions(http, stack, key), lambda n: n == 3)
    conn = await asyncpg.connect(stack.database_url)
    try:  # an operator's accident: the aggregates are lost
        for table in ("stats", "counts", "durations"):
            await conn.execute(f"DELETE FROM analytics.{table} WHERE tenant_id = $1", tenant)
    finally:
        await conn.close()
    assert await total_submissions(http, stack, key) == 0
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "resonanz.analytics", "rebuild", "--tenant",
                         tenant], env=stack.env(), capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {"tenant_id": tenant, "entries": 3}
    assert await total_submissions(http, stack, key) == 3
