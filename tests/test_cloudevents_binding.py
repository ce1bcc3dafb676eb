"""Our Kafka records are CloudEvents in the Kafka protocol binding's structured mode, as
a receiver using the CloudEvents SDK reads them: published by the outbox relay from real
PostgreSQL to the real broker, read raw with aiokafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import ConsumerRecord
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1 import kafka as ce_kafka_v1

from resonanz.shared.db import create_pool, migrate
from resonanz.shared.events import CloudEvent, EntrySnapshot, FeedbackCreated, new_event
from resonanz.shared.kafka import ensure_topics
from resonanz.shared.outbox import OutboxRelay, enqueue
from resonanz.shared.settings import Settings

from .conftest import Infra
from .support import eventually, topic_records

STRUCTURED = b"application/cloudevents+json; charset=UTF-8"


@pytest.fixture
async def feedback_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database_url, "feedback")
    pool = await create_pool(Settings(database_url=database_url).service_dsn("feedback"))
    yield pool
    await pool.close()


@pytest.fixture
async def topic(infra: Infra) -> str:
    name = f"binding-test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.bootstrap_servers, [name])
    return name


def created_event() -> CloudEvent:
    now = datetime.now(UTC)
    entry = EntrySnapshot(id=str(uuid.uuid4()), version=1, widget_id=None, status="new",
                          rating=2, category=None, assignee=None, created_at=now,
                          updated_at=now)
    return new_event(source="resonanz/feedback",
                     tenant_id=str(uuid.uuid4()), subject=entry.id, request_id="req_binding",
                     data=FeedbackCreated(entry=entry, body="Lieferung kam zu spät."))


async def relay_once(pool: asyncpg.Pool, database_url: str, infra: Infra) -> None:
    dsn = Settings(database_url=database_url).service_dsn("feedback")
    relay = OutboxRelay(pool, dsn, infra.bootstrap_servers, "feedback")
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"), lambda n: n == 0,
            what="the outbox relayed")
    finally:
        relay.stop()
        await task


async def the_record(infra: Infra, topic: str) -> ConsumerRecord[Any, Any]:
    (record,) = await topic_records(infra.bootstrap_servers, topic, 1, within=20)
    return record


def as_message(record: ConsumerRecord) -> ce_kafka.KafkaMessage:
    return ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key,
                                 value=record.value)


def assert_structured(message: ce_kafka.KafkaMessage) -> None:
    assert not [name for name in message.headers if name.lower().startswith("ce_")]
    content_type = message.headers["content-type"]
    assert content_type == STRUCTURED
    assert content_type.decode().startswith(JSONFormat.CONTENT_TYPE)


async def test_an_event_goes_out_as_a_structured_mode_record_the_sdk_reads(
    infra: Infra, database_url: str, feedback_pool: asyncpg.Pool, topic: str,
) -> None:
    sent = created_event()
    async with feedback_pool.acquire() as conn, conn.transaction():
        await enqueue(conn, sent, topic)
    await relay_once(feedback_pool, database_url, infra)
    record = await the_record(infra, topic)

    message = as_message(record)
    assert message.headers == {"content-type": STRUCTURED}
    assert_structured(message)
    assert record.key == sent.subject.encode()
    # The SDK picks the mode by the headers: any ce_ header would make it binary mode.
    read = ce_kafka.from_kafka(message, JSONFormat())
    assert read.get_attributes() == ce_kafka.from_structured(message, JSONFormat()
                                                             ).get_attributes()
    assert (read.get_specversion(), read.get_id(), read.get_type(), read.get_source(),
            read.get_subject()) == ("1.0", sent.id, "feedback.created", "resonanz/feedback",
                                    sent.subject)
    assert read.get_extension("tenantid") == sent.tenantid
    assert read.get_extension("requestid") == "req_binding"
    assert read.get_datacontenttype() == "application/json"
    assert read.get_time() == sent.time
    assert read.get_data() == orjson.loads(orjson.dumps(sent.data))
    assert FeedbackCreated.model_validate(read.get_data()) == sent.payload()


async def test_the_sdks_v1_kafka_api_sees_only_cloudevents_attributes(
    infra: Infra, database_url: str, feedback_pool: asyncpg.Pool, topic: str,
) -> None:
    sent = created_event()
    async with feedback_pool.acquire() as conn, conn.transaction():
        await enqueue(conn, sent, topic)
    await relay_once(feedback_pool, database_url, infra)
    record = await the_record(infra, topic)

    # This API turns every header into an attribute: a header of our own would show up
    # as one (with a name the spec does not allow, like request_id).
    read = ce_kafka_v1.from_structured(ce_kafka_v1.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value))
    assert set(read.get_attributes()) == {
        "specversion", "id", "source", "type", "time", "subject", "datacontenttype",
        "tenantid", "requestid", "partitionkey"}
    assert (read["id"], read["type"], read["tenantid"]) == (sent.id, sent.type, sent.tenantid)
    assert read.get_data() == orjson.loads(orjson.dumps(sent.data))


async def test_rows_written_with_binary_mode_headers_are_published_in_structured_mode(
    infra: Infra, database_url: str, feedback_pool: asyncpg.Pool, topic: str,
) -> None:
    sent = created_event()
    # An outbox row as earlier versions wrote it, still unsent when this version starts.
    await feedback_pool.execute(
        "INSERT INTO outbox (event_id, topic, key, payload, headers)"
        " VALUES ($1, $2, $3, $4, $5)", sent.id, topic, sent.subject, sent.to_bytes(),
        {"ce_type": sent.type, "ce_id": sent.id, "request_id": sent.requestid})
    await relay_once(feedback_pool, database_url, infra)
    record = await the_record(infra, topic)

    message = as_message(record)
    assert_structured(message)
    assert record.key == sent.subject.encode()
    read = ce_kafka.from_kafka(message, JSONFormat())
    assert (read.get_id(), read.get_type(), read.get_extension("tenantid")) == (
        sent.id, sent.type, sent.tenantid)
    assert CloudEvent.from_bytes(record.value) == sent
