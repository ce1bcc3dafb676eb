"""The OpenAPI documents: valid 3.1 and, at `/v3/api-docs`, valid 3.0.3, covering both
dialects, served with Swagger UI offline."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from resonanz.devstack.supervisor import Stack
from resonanz.gateway.app import GatewaySettings, create_app
from resonanz.gateway.openapi import document
from resonanz.gateway.openapi30 import as_openapi_30, schema_30
from resonanz.gateway.public.webhooks import DELIVERY_FILTERS
from resonanz.shared.contracts import DELIVERY_STATUSES
from resonanz.webhook_dispatcher.catalog import CATALOG

from .support import eventually

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack


def test_document_is_valid_openapi_3_1() -> None:
    spec = document()
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_the_3_0_rendering_is_valid_openapi_3_0() -> None:
    spec = as_openapi_30(document())
    assert spec["openapi"] == "3.0.3"
    validate(spec, cls=OpenAPIV30SpecValidator)
    assert document()["openapi"] == "3.1.0"  # the 3.1 document is left as it was


def test_3_1_schema_keywords_become_their_3_0_forms() -> None:
    assert schema_30({"type": ["string", "null"]}) == {"type": "string", "nullable": True}
    assert schema_30({"const": True}) == {"enum": [True]}
    assert schema_30({"anyOf": [{"$ref": "#/x"}, {"type": "null"}], "title": "T"}) == {
        "title": "T", "nullable": True, "allOf": [{"$ref": "#/x"}]}
    assert schema_30({"anyOf": [{"enum": ["a"], "type": "string"}, {"type": "null"}]}) == {
        "enum": ["a", None], "type": "string", "nullable": True}
    assert schema_30({"type": "integer", "exclusiveMinimum": 0, "examples": [3]}) == {
        "type": "integer", "minimum": 0, "exclusiveMinimum": True, "example": 3}
    assert schema_30({"type": "object", "propertyNames": {"enum": ["a"]},
                      "properties": {"type": {"type": ["integer", "null"]}}}) == {
        "type": "object", "properties": {"type": {"type": "integer", "nullable": True}}}


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


async def test_gateway_serves_the_spec_and_swagger_ui_without_a_cdn(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    gateway = shared_stack.services["gateway"].url
    served = {}
    for path, version in (("/v3/api-docs", "3.0.3"), ("/openapi.json", "3.1.0")):
        async with http.get(gateway + path) as response:
            assert response.status == 200
            served[version] = await response.json()
            assert served[version]["openapi"] == version
    # The outgoing webhooks, from the dispatcher's catalog once the gateway has learnt it:
    # every subscribable one, with its payload schema and a sample that the schema accepts.
    async def current() -> dict[str, Any]:
        async with http.get(gateway + "/openapi.json") as response:
            document: dict[str, Any] = await response.json()
            return document

    served["3.1.0"] = await eventually(current, lambda d: "webhooks" in d,
                                       what="the webhooks in the document")
    webhooks = served["3.1.0"]["webhooks"]
    assert set(webhooks) == {entry["name"] for entry in CATALOG}
    validate(served["3.1.0"])
    OpenAPIV30SpecValidator(served["3.0.3"]).validate()
    for item in webhooks.values():
        content = item["post"]["requestBody"]["content"]["application/json"]
        jsonschema.validate(content["examples"]["sample"]["value"], content["schema"])
    async with http.get(f"{gateway}/swagger-ui/index.html") as response:
        page = await response.text()
        assert response.status == 200 and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        async with http.get(f"{gateway}/swagger-ui/{asset}") as response:
            assert response.status == 200 and len(await response.read()) > 10_000


async def test_gateway_serves_the_asyncapi_document_without_a_key(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """The event contracts beside OpenAPI, with this deployment's topic names."""
    gateway = shared_stack.services["gateway"].url
    async with http.get(gateway + "/asyncapi.json") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        served = await response.json()
        etag = response.headers["ETag"]
    assert served["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in served["channels"].values()}
    for name in ("FEEDBACK", "WIDGETS", "IDENTITY", "WEBHOOKS"):
        assert shared_stack.extra_env[f"RESONANZ_TOPIC_{name}"] in addresses
    async with http.get(gateway + "/asyncapi.json", headers={"If-None-Match": etag}) as again:
        assert again.status == 304


PUBLIC = ("/v1/", "/api/v1/", "/public/", "/widget.js", "/demo/", "/claim")


def test_the_router_and_the_document_hold_the_same_operations() -> None:
    """Every public route is documented and every documented operation is routed: both
    come from the operations table (and the modules not yet in it register both)."""
    app = create_app(GatewaySettings(env="development"))
    routed = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.resource is not None and route.method != "HEAD"
              and route.resource.canonical.startswith(PUBLIC)}
    documented = {(method.upper(), path) for path, item in document()["paths"].items()
                  for method in item}
    assert routed == documented, {"routed only": routed - documented,
                                  "documented only": documented - routed}
    assert len(routed) > 60


def test_every_operation_is_typed_and_says_who_may_call_it() -> None:
    """No untyped `data`: each operation that answers JSON names its view model; each
    keyed one says the least role; each POST documents Idempotency-Key."""
    spec = document()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            assert "X-Request-Id" in ok["headers"], where
            schema = ok.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None and "properties" in schema:
                data = schema["properties"]["data"]
                assert "$ref" in data or "$ref" in data.get("items", {}), where
            if op.get("security") != []:
                assert "Role: " in op["description"], where
                assert "RateLimit" in ok["headers"], where
                if method == "post":
                    assert any(p["name"] == "Idempotency-Key" for p in op["parameters"]), where
            for status, answer in op["responses"].items():
                assert answer["description"] not in ("", "error"), (where, status)


def test_the_delivery_log_documents_the_filters_it_forwards() -> None:
    """The delivery log's filters, which the gateway passes on by name, are in the document,
    the statuses as the dispatcher checks them (a cancelled delivery included)."""
    paths = document()["paths"]
    for base in ("/v1/webhooks", "/api/v1/webhooks"):
        params = {p["name"]: p for p in paths[f"{base}/{{id}}/deliveries"]["get"]["parameters"]
                  if p["in"] == "query"}
        assert set(DELIVERY_FILTERS) <= set(params), base
        assert params["status"]["schema"]["enum"] == list(DELIVERY_STATUSES)
    assert "cancelled" in DELIVERY_STATUSES


def test_only_answers_that_spent_quota_document_the_rate_limit_fields() -> None:
    """A 401 names no tenant whose quota it could count against; every other answer of a
    keyed operation says what is left."""
    for path, item in document()["paths"].items():
        for method, op in item.items():
            if op.get("security") == []:
                continue
            for status, answer in op["responses"].items():
                assert ("RateLimit" in answer["headers"]) == (status != "401"), (
                    method, path, status)
