"""Broker plumbing shared by the relay and the consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .settings import Settings

log = logging.getLogger(__name__)


def all_topics(settings: Settings) -> list[str]:
    return [
        settings.topic_feedback,
        settings.topic_widgets,
        settings.topic_identity,
        settings.topic_webhooks,
        settings.topic_dead_letter,
    ]


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # Idempotence lives in the consumers (tracking table); some brokers (Tansu)
    # reject the idempotent producer, so it stays off.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
    )


# The same count a broker gives a topic it auto-creates (Tansu: 4). An in-memory dev
# broker that restarts empty re-creates topics on the first produce; equal counts keep
# the clients' cached partition maps valid across that, so no event lands in a
# partition nobody is assigned. Real Kafka keeps its topics and is not affected.
TOPIC_PARTITIONS = 4


async def ensure_topics(bootstrap_servers: str, topics: list[str],
                        partitions: int = TOPIC_PARTITIONS, replication_factor: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, replication_factor) for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()


# A Kafka ApiVersions request (key 18, version 0, correlation id 1): any broker answers it
# before authentication, so an answer proves the broker is serving, not only that its port
# accepts connections (a hung or stopped broker's kernel still completes the handshake).
_CLIENT_ID = b"resonanz-readyz"
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, len(_CLIENT_ID)) + _CLIENT_ID
_PROBE = struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS
PROBE_TIMEOUT = 1.0


async def _answers(host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(_PROBE)
        await writer.drain()
        _, correlation_id = struct.unpack(">ii", await reader.readexactly(8))
        if correlation_id != 1:
            raise ConnectionError("the broker answered another request")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def broker_ready_check(bootstrap_servers: str) -> Callable[[Any], Awaitable[None]]:
    """Readiness: at least one bootstrap broker answers a protocol request within a second."""

    async def broker_ready(app: Any) -> None:
        errors: list[BaseException] = []
        for server in bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                await asyncio.wait_for(_answers(host.strip("[]"), int(port)), PROBE_TIMEOUT)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                errors.append(exc)
                continue
            return
        raise ConnectionError(f"no broker answered: {errors!r}")

    return broker_ready
