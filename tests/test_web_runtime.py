"""The shared aiohttp runtime: health, errors, internal auth, body cap, draining."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field, SecretStr

from resonanz.shared.errors import NotFound
from resonanz.shared.settings import Settings
from resonanz.shared.web import create_service_app, json_response, read_model

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
