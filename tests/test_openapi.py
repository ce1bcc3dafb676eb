"""The OpenAPI document: valid 3.1, covering both dialects, served with Swagger UI offline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from openapi_spec_validator import validate

from resonanz.gateway.openapi import document
from resonanz.shared.devstack import Stack


def test_document_is_valid_openapi_3_1() -> None:
    spec = document()
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_document_covers_every_reference_endpoint() -> None:
    paths = document()["paths"]
    expected = {
        ("get", "/v1/feedback"), ("post", "/v1/feedback"), ("get", "/v1/feedback/{id}"),
        ("patch", "/v1/feedback/{id}"), ("get", "/v1/users"), ("post", "/v1/users"),
        ("delete", "/v1/users/{id}"), ("get", "/v1/analytics/summary"), ("get", "/api/v1/me"),
        ("get", "/api/v1/responses"), ("get", "/api/v1/responses/{id}"),
        ("post", "/api/v1/responses/{id}/approve"), ("post", "/api/v1/responses/{id}/reject"),
    }
    present = {(method, path) for path, ops in paths.items() for method in ops}
    assert expected <= present


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_gateway_serves_the_spec_and_swagger_ui_without_a_cdn(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    gateway = shared_stack.services["gateway"].url
    for path in ("/v3/api-docs", "/openapi.json"):
        async with http.get(gateway + path) as response:
            assert response.status == 200
            assert (await response.json())["openapi"] == "3.1.0"
    async with http.get(f"{gateway}/swagger-ui/index.html") as response:
        page = await response.text()
        assert response.status == 200 and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        async with http.get(f"{gateway}/swagger-ui/{asset}") as response:
            assert response.status == 200 and len(await response.read()) > 10_000
