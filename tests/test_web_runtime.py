"""The shared aiohttp runtime: health, errors, internal auth, body cap, draining, the
operations listener, access logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field, SecretStr

from resonanz.devstack.supervisor import answers_ok, free_port, wait_until_ok
from resonanz.shared.errors import NotFound
from resonanz.shared.logs import json_handler
from resonanz.shared.settings import Settings
from resonanz.shared.web import (
    OpsListenerKey,
    access_log,
    create_service_app,
    json_response,
    read_model,
)

from .helpers import metric_value
from .support import eventually

TOKEN = "test-internal-token"


class Rating(BaseModel):
    rating: int = Field(ge=1, le=5)


def build_app() -> web.Application:
    routes = web.RouteTableDef()

    @routes.post("/ratings")
    async def rate(request: web.Request) -> web.Response:
        body = await read_model(request, Rating)
        return json_response({"rating": body.rating}, status=201)

    @routes.get("/missing")
    async def missing(request: web.Request) -> web.Response:
        raise NotFound("no such thing")

    @routes.get("/boom")
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return json_response({"done": True})

    settings = Settings(internal_token=SecretStr(TOKEN), max_body_bytes=1024)
    return create_service_app("test", settings, routes=routes)


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app())) as c:
        yield c


AUTH = {"X-Internal-Token": TOKEN}


async def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert "resonanz_http_requests_total" in metrics


async def test_calls_without_the_internal_token_are_refused(client: TestClient) -> None:
    response = await client.post("/ratings", json={"rating": 3})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    wrong = await client.post("/ratings", json={"rating": 3},
                              headers={"X-Internal-Token": "nope"})
    assert wrong.status == 401


async def test_invalid_body_gets_field_level_details(client: TestClient) -> None:
    response = await client.post("/ratings", json={"rating": 9}, headers=AUTH)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "rating"


async def test_domain_errors_and_crashes_share_one_shape(client: TestClient) -> None:
    missing = await client.get("/missing", headers=AUTH)
    assert missing.status == 404
    assert (await missing.json())["error"] == {
        "code": "not_found", "message": "no such thing", "details": []}
    crash = await client.get("/boom", headers=AUTH)
    assert crash.status == 500
    assert "secret detail" not in await crash.text()


async def test_oversized_bodies_are_refused_with_413(client: TestClient) -> None:
    response = await client.post("/ratings", data=b"x" * 4096,
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 413
    assert "error" in await response.json()


async def test_request_id_is_echoed_or_created(client: TestClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "req_given"})
    assert given.headers["X-Request-Id"] == "req_given"
    made = await client.get("/healthz")
    assert made.headers["X-Request-Id"].startswith("req_")


async def test_a_request_id_that_is_not_short_printable_ascii_is_replaced(
    client: TestClient,
) -> None:
    for given in ("x" * 129, "two words", "caf\u00e9", "a\tb"):
        response = await client.get("/healthz", headers={"X-Request-Id": given})
        assert response.headers["X-Request-Id"].startswith("req_"), given
        assert response.headers["X-Request-Id"] != given


async def test_a_body_that_cannot_be_decompressed_is_a_400_not_a_500(
    client: TestClient,
) -> None:
    response = await client.post("/ratings", data=b"not gzip", headers={
        **AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "unreadable_body"


async def test_shutdown_drains_requests_in_flight() -> None:
    runner = web.AppRunner(build_app(), shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        pending = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/slow",
                                                  headers=AUTH))
        await asyncio.sleep(0.1)  # let the request reach the handler before shutdown
        await runner.cleanup()
        response = await pending
        assert response.status == 200
        assert await response.json() == {"done": True}


def test_settings_mask_secrets_for_logs() -> None:
    settings = Settings(database_url=SecretStr("postgresql://u:hunter2@db:5432/x"),
                        internal_token=SecretStr("tok-123"))
    summary = settings.safe_summary()
    assert "hunter2" not in str(summary)
    assert "tok-123" not in str(summary)
    assert summary["database_url"] == "postgresql://u:***@db:5432/x"


# --- the operations listener ------------------------------------------------------------


class Switch:
    """A readiness check whose answer the test sets."""

    def __init__(self) -> None:
        self.broken = False

    async def broker_reachable(self, app: web.Application) -> None:
        if self.broken:
            raise ConnectionError("broker unreachable")


async def test_an_ops_port_takes_readyz_and_metrics_off_the_service_port() -> None:
    switch = Switch()
    app = create_service_app("test", Settings(internal_token=SecretStr(TOKEN)), routes=[],
                             readiness=[switch.broker_reachable], ops_port=0)
    ops = app[OpsListenerKey].app
    async with TestClient(TestServer(app)) as public, TestClient(TestServer(ops)) as operations:
        for path in ("/metrics", "/readyz"):
            hidden = await public.get(path)
            assert hidden.status == 404, path
            assert (await hidden.json())["error"]["code"] == "not_found"
        assert (await public.get("/healthz")).status == 200
        health = await operations.get("/healthz")
        assert health.status == 200 and (await health.json())["service"] == "test"
        assert (await operations.get("/readyz")).status == 200
        metrics = await (await operations.get("/metrics")).text()
        assert 'resonanz_http_requests_total{method="GET",route="/healthz",service="test"' \
            in metrics
        # The ops app asks the service app's own readiness checks.
        switch.broken = True
        not_ready = await operations.get("/readyz")
        assert not_ready.status == 503
        assert "broker unreachable" in (await not_ready.json())["problems"]["broker_reachable"]


def test_without_an_ops_port_there_is_no_second_listener() -> None:
    assert OpsListenerKey not in build_app()


# --- access logs -------------------------------------------------------------------------


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """What the access logger writes, through the services' own JSON handler."""
    stream = io.StringIO()
    handler = json_handler("test", stream)
    level = access_log.level
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    yield stream
    access_log.removeHandler(handler)
    access_log.setLevel(level)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_each_request_is_one_json_line_without_credentials(
    client: TestClient, access_lines: io.StringIO,
) -> None:
    secrets = {"Authorization": "Bearer rsz_live_notlogged", "Cookie": "session=notlogged",
               "X-API-Key": "rsz_live_notlogged2"}
    response = await client.get("/missing?api_key=querynotlogged&page=2",
                                headers={**AUTH, **secrets, "X-Request-Id": "req_logged"})
    assert response.status == 404
    [line] = [entry for entry in lines_of(access_lines) if entry["request_id"] == "req_logged"]
    assert line["name"] == "resonanz.access" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/missing", 404)
    assert line["service"] == "test" and line["duration_ms"] >= 0
    written = access_lines.getvalue()
    for secret in ("notlogged", "querynotlogged", TOKEN):
        assert secret not in written


async def test_probes_are_logged_only_at_debug(client: TestClient,
                                               access_lines: io.StringIO) -> None:
    await client.get("/healthz", headers={"X-Request-Id": "req_probe"})
    assert not [e for e in lines_of(access_lines) if e["request_id"] == "req_probe"]
    access_log.setLevel(logging.DEBUG)
    await client.get("/healthz", headers={"X-Request-Id": "req_probe_debug"})
    [line] = [e for e in lines_of(access_lines) if e["request_id"] == "req_probe_debug"]
    assert line["level"] == "DEBUG" and line["status"] == 200


async def test_a_public_app_logs_no_tenant_a_caller_merely_claims(
    access_lines: io.StringIO,
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/internal/ping")
    @routes.get("/ping")
    async def ping(request: web.Request) -> web.Response:
        return json_response({})

    app = create_service_app("edge", Settings(internal_token=SecretStr(TOKEN)), routes=routes,
                             public=True)
    async with TestClient(TestServer(app)) as edge:
        await edge.get("/ping", headers={"X-Tenant-Id": "t_claimed", "X-Request-Id": "req_a"})
        await edge.get("/internal/ping", headers={**AUTH, "X-Tenant-Id": "t_internal",
                                                  "X-Request-Id": "req_b"})
    tenants = {e["request_id"]: e["tenant_id"] for e in lines_of(access_lines)}
    assert tenants == {"req_a": None, "req_b": None}


async def test_an_internal_app_logs_the_tenant_its_caller_names(
    client: TestClient, access_lines: io.StringIO,
) -> None:
    await client.get("/missing", headers={**AUTH, "X-Tenant-Id": "t_42",
                                          "X-Request-Id": "req_tenant"})
    [line] = [e for e in lines_of(access_lines) if e["request_id"] == "req_tenant"]
    assert line["tenant_id"] == "t_42"


# --- serve: a real process ---------------------------------------------------------------

SLOW_SERVICE = """
import asyncio, sys
from aiohttp import web
from pydantic import SecretStr
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app, json_response, serve

routes = web.RouteTableDef()

@routes.get("/slow")
async def slow(request):
    await asyncio.sleep(float(request.query["seconds"]))
    return json_response({"done": True})

async def never_starts(app):
    print("waiting for a dependency that never answers", flush=True)
    await asyncio.Event().wait()
    yield

settings = Settings(port=int(sys.argv[1]), internal_token=SecretStr("t" * 32),
                    shutdown_timeout=10)
serve("slowpoke", settings, lambda: create_service_app(
    "slowpoke", settings, routes=routes, ops_port=int(sys.argv[2]),
    cleanup_ctxs=[never_starts] if sys.argv[3:] == ["hang"] else []))
"""


Slowpoke = tuple[asyncio.subprocess.Process, int, int, Path]  # process, ports, its log


async def start_slowpoke(tmp_path: Path, *args: str) -> Slowpoke:
    port, ops_port = free_port(), free_port()
    script, log = tmp_path / "slowpoke.py", tmp_path / "slowpoke.log"
    script.write_text(SLOW_SERVICE)
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), str(port), str(ops_port), *args, stdout=out,
            stderr=subprocess.STDOUT)
    return proc, port, ops_port, log


async def test_serve_runs_both_listeners_and_drains_on_sigterm(tmp_path: Path) -> None:
    proc, port, ops_port, log = await start_slowpoke(tmp_path)
    base, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
    try:
        await asyncio.to_thread(wait_until_ok, f"{ops}/readyz", time.monotonic() + 30,
                                "slowpoke")
        async with aiohttp.ClientSession(headers={"X-Internal-Token": "t" * 32}) as http:
            assert (await http.get(f"{base}/readyz")).status == 404
            slow = asyncio.create_task(http.get(f"{base}/slow", params={"seconds": "3"}))
            # Both listeners' requests count: the scrape is one, the slow request the other.
            await eventually(lambda: metric_value(http, ops, "resonanz_http_requests_in_flight",
                                                  service="slowpoke"),
                             lambda n: n >= 2, within=10, what="the slow request in flight")
            proc.send_signal(signal.SIGTERM)
            # The operations listener closes first: a draining service is not ready.
            await eventually(lambda: asyncio.to_thread(answers_ok, f"{ops}/healthz"),
                             lambda ok: not ok, within=10, what="the ops port closing")
            assert not slow.done()
            response = await slow
            assert response.status == 200 and await response.json() == {"done": True}
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    slow_lines = [e for e in logged if e.get("path") == "/slow"]
    assert [e["status"] for e in slow_lines] == [200], log.read_text()


async def test_sigterm_during_a_start_that_never_ends_stops_the_process(tmp_path: Path) -> None:
    proc, _, _, log = await start_slowpoke(tmp_path, "hang")
    try:
        await eventually(lambda: asyncio.to_thread(log.read_text),
                         lambda text: "never answers" in text, within=30,
                         what="the start under way")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
