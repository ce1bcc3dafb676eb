"""The gateway's operational side: probes and metrics off the public port, the OpenAPI
document rendered once, one JSON access log line per request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from resonanz.devstack.supervisor import ServiceProcess, Stack, free_port
from resonanz.gateway import openapi
from resonanz.shared.kafka import ensure_topics

from .conftest import Infra, new_topics
from .helpers import bearer, metric_value, new_tenant
from .support import eventually, query


async def get(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.get(url, **kw) as response:
        return response.status, await response.json(content_type=None)


# --- the operations listener -----------------------------------------------------------------


async def test_public_port_answers_metrics_and_readyz_as_any_unknown_path(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    public = shared_stack.services["gateway"].url
    unknown_status, unknown = await get(http, f"{public}/no-such-page")
    assert unknown_status == 404
    for path in ("/metrics", "/readyz"):
        status, body = await get(http, public + path)
        assert status == 404, path
        assert body["data"] is None and body["meta"]["error"] == unknown["meta"]["error"], body
    status, body = await get(http, f"{public}/healthz")
    assert status == 200 and body["service"] == "gateway"


async def test_ops_port_serves_readiness_and_metrics_with_the_pool(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    gateway = shared_stack.services["gateway"]
    assert gateway.ops_port is not None and gateway.ops_port != gateway.port
    status, body = await get(http, f"{gateway.ops_url}/readyz")
    assert (status, body["ready"]) == (200, True)
    status, body = await get(http, f"{gateway.ops_url}/healthz")
    assert (status, body["service"]) == (200, "gateway")
    pooled = await metric_value(http, gateway.ops_url, "resonanz_db_pool_connections",
                                service="gateway")
    assert pooled >= 1
    assert shared_stack.describe()["gateway_ops"] == gateway.ops_url


# --- OpenAPI ---------------------------------------------------------------------------------


async def test_openapi_is_rendered_once_and_served_from_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders = 0
    render = openapi.document

    def counted() -> dict[str, Any]:
        nonlocal renders
        renders += 1
        return render()

    monkeypatch.setattr(openapi, "document", counted)
    app = web.Application()
    app.add_routes(openapi.routes)
    app.on_startup.append(openapi.publish_document)
    async with TestClient(TestServer(app)) as client:
        assert renders == 1  # at start, before any request
        bodies, etags = [], []
        for path in ("/v3/api-docs", "/openapi.json", "/v3/api-docs"):
            response = await client.get(path)
            assert response.status == 200 and response.content_type == "application/json"
            bodies.append(await response.read())
            etags.append(response.headers["ETag"])
        assert renders == 1
        assert bodies[0] == bodies[2] and etags[0] == etags[2] and etags[0] != etags[1]
        assert json.loads(bodies[0])["openapi"] == "3.0.3"
        assert json.loads(bodies[1])["openapi"] == "3.1.0"
        unchanged = await client.get("/v3/api-docs", headers={"If-None-Match": etags[0]})
        assert unchanged.status == 304 and not await unchanged.read()


async def test_gateway_serves_the_same_openapi_bytes_with_an_etag(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    gateway = shared_stack.services["gateway"].url
    served = []
    for path in ("/v3/api-docs", "/openapi.json", "/v3/api-docs"):
        async with http.get(gateway + path) as response:
            served.append((await response.read(), response.headers["ETag"]))
    assert served[0] == served[2] and served[0][1] != served[1][1]  # 3.0.3 and 3.1
    for path, (_, etag) in (("/v3/api-docs", served[0]), ("/openapi.json", served[1])):
        async with http.get(gateway + path, headers={"If-None-Match": etag}) as response:
            assert response.status == 304


# --- access logs -----------------------------------------------------------------------------


async def test_gateway_logs_each_request_as_json_without_the_key(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    request_id = f"req_{uuid.uuid4().hex[:16]}"
    async with http.get(f"{shared_stack.services['gateway'].url}/v1/me",
                        params={"api_key": key, "page": "1"},
                        headers={**bearer(key), "X-Request-Id": request_id,
                                 "Cookie": "session=cookie-not-logged"}) as response:
        assert response.status == 200
    log_path = shared_stack.services["gateway"].log_path

    def access_lines(text: str) -> list[dict[str, Any]]:
        lines = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
        return [e for e in lines if e.get("request_id") == request_id
                and e["name"] == "resonanz.access"]

    written = await eventually(lambda: asyncio.to_thread(log_path.read_text),
                               lambda text: bool(access_lines(text)), within=10,
                               what="the access log line")
    [line] = access_lines(written)
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/me", 200)
    assert line["tenant_id"] == tenant and line["service"] == "gateway"
    assert line["level"] == "INFO" and line["duration_ms"] > 0
    assert key not in written and key.removeprefix("rsz_live_")[:20] not in written
    assert "cookie-not-logged" not in written


# --- readiness: 503 while the database or the broker is gone or hangs -------------------------


async def test_readyz_is_503_while_the_services_database_role_cannot_connect(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    analytics = shared_stack.services["analytics"]
    assert (await get(http, f"{analytics.ops_url}/readyz"))[0] == 200
    # The service's own role refused and its connections closed: its database is gone.
    block = ("ALTER ROLE resonanz_analytics CONNECTION LIMIT 0",
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE usename = 'resonanz_analytics'")
    try:
        for statement in block:
            await query(shared_stack.database_url, statement)
        _, body = await eventually(lambda: get(http, f"{analytics.ops_url}/readyz"),
                                   lambda r: r[0] == 503, within=10,
                                   what="analytics not ready without its database")
        assert list(body["problems"]) == ["database_ready"], body
    finally:
        await query(shared_stack.database_url,
                    "ALTER ROLE resonanz_analytics CONNECTION LIMIT -1")
    await eventually(lambda: get(http, f"{analytics.ops_url}/readyz"), lambda r: r[0] == 200,
                     within=15, what="analytics ready again")


class Gap:
    """A TCP relay to the broker that can be taken away: the broker's bootstrap address
    as a service sees it, gone (connection refused) and back on the same port."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target, self.port = (host, int(port)), free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.hung = False  # new connections accepted and never answered, as by a hung broker

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.writers:
                writer.close()
            await self.server.wait_closed()
            self.server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.hung:
            self.writers.add(writer)
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_readyz_is_503_while_the_broker_is_gone(
    shared_stack: Stack, infra: Infra, http: aiohttp.ClientSession,
) -> None:
    gap = Gap(infra.bootstrap_servers.split(",")[0])
    await gap.open()
    # A second analytics process reaching the broker through the gap, on topics and a
    # consumer group of its own (it must not take the platform's events).
    topics = new_topics()
    await ensure_topics(infra.bootstrap_servers, list(topics.values()))
    second = ServiceProcess("analytics", free_port(), shared_stack.run_dir / "analytics-gap.log",
                            env={**shared_stack.services["analytics"].env, **topics,
                                 "RESONANZ_CONSUMER_GROUP_PREFIX": f"{uuid.uuid4().hex[:8]}-",
                                 "RESONANZ_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{gap.port}"})
    second.start()
    try:
        ready = f"{second.ops_url}/readyz"
        await eventually(lambda: get_or_none(http, ready), lambda r: r == 200, within=30,
                         what="the second analytics ready")
        await gap.close()
        _, body = await eventually(lambda: get(http, ready), lambda r: r[0] == 503,
                                   within=10, what="not ready without the broker")
        assert list(body["problems"]) == ["broker_ready"], body
        await gap.open()
        await eventually(lambda: get_or_none(http, ready), lambda r: r == 200, within=10,
                         what="ready once the broker is back")
        # Hung: the port still accepts connections (as a stopped broker's kernel does), but
        # nothing answers.
        gap.hung = True
        _, body = await eventually(lambda: get(http, ready), lambda r: r[0] == 503,
                                   within=10, what="not ready while the broker hangs")
        assert list(body["problems"]) == ["broker_ready"], body
        gap.hung = False
        await eventually(lambda: get_or_none(http, ready), lambda r: r == 200, within=10,
                         what="ready once the broker answers again")
    finally:
        second.stop()
        await gap.close()


async def get_or_none(http: aiohttp.ClientSession, url: str) -> int | None:
    try:
        return (await get(http, url))[0]
    except aiohttp.ClientConnectionError:
        return None
