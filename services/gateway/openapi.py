"""OpenAPI 3.1 for both dialects, rendered from the pydantic contract models.

Served at `/openapi.json`, and as OpenAPI 3.0.3 at `/v3/api-docs`; Swagger UI at
`/swagger-ui/index.html` with assets from the swagger-ui-py package (no CDN).
Rendering takes tens of milliseconds of CPU, so the gateway renders it once at
start (`publish_document`) and serves those bytes, with an ETag.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from pydantic import BaseModel

from resonanz.shared.web import HttpClientKey, none_match

from .openapi30 import as_openapi_30
from .operations import P4F, Operation, Param
from .table import OPERATIONS as TABLE
from .upstream import UpstreamsKey

log = logging.getLogger(__name__)
REF = "#/components/schemas/{model}"
STRING = {"type": "string"}
DATE = {"type": "string", "format": "date-time"}

# --- rendering -----------------------------------------------------------------------------


def _schemas(models: set[type[BaseModel]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in sorted(models, key=lambda m: m.__name__):
        for mode in ("validation", "serialization"):
            schema = model.model_json_schema(ref_template=REF, mode=mode)
            out.update(schema.pop("$defs", {}))
            if mode == "validation":
                out[model.__name__] = schema
    return out


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _envelope(op: Operation) -> dict[str, Any]:
    data: dict[str, Any] = _ref(op.response) if op.response else {"type": "object"}
    if op.many:
        data = {"type": "array", "items": data}
    if op.dialect == P4F:
        return {"type": "object", "required": ["success", "data", "timestamp"], "properties": {
            "success": {"const": True}, "data": data, "timestamp": DATE,
            "next": {"type": ["string", "null"]}}}
    return {"type": "object", "required": ["data", "meta", "links"], "properties": {
        "data": data, "meta": _ref_name("FbpMeta"), "links": _ref_name("FbpLinks")}}


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


STATIC_SCHEMAS: dict[str, Any] = {
    "FbpMeta": {"type": "object", "required": ["request_id"], "properties": {
        "request_id": STRING, "page": {"type": "integer"}, "per_page": {"type": "integer"},
        "total": {"type": ["integer", "null"]}, "next_cursor": {"type": ["string", "null"]}}},
    "FbpLinks": {"type": "object", "properties": {
        "self": STRING, "next": {"type": ["string", "null"]},
        "prev": {"type": ["string", "null"]}}},
    "FbpError": {"type": "object", "required": ["data", "meta"], "properties": {
        "data": {"type": "null"}, "links": _ref_name("FbpLinks"),
        "meta": {"type": "object", "required": ["request_id", "error"], "properties": {
            "request_id": STRING, "error": {"type": "object",
                                            "required": ["code", "message", "details"],
                                            "properties": {"code": STRING, "message": STRING,
                                                           "details": {"type": "array"}}}}}}},
    "P4fError": {"type": "object", "required": ["success", "error", "timestamp"],
                 "properties": {"success": {"const": False}, "error": STRING,
                                "timestamp": DATE, "code": STRING,
                                "details": {"type": "array"}}},
}


ERRORS = {
    304: "Not modified: the representation named by If-None-Match is still current",
    400: "Invalid input: the message and `details` name each field that is wrong",
    401: "No key or session, or one that is unknown, revoked or expired",
    403: "The key's or member's role may not do this (or another site's Origin)",
    404: "Not found, or not this organization's (the same answer: no ids are probed)",
    409: "Conflicts with the record's state (e.g. an impossible status move), with a"
         " campaign's reward limits (`reward_budget_exhausted`,"
         " `shopper_reward_limit_reached`) or with an Idempotency-Key request still"
         " running or sent with another body",
    410: "Gone: the link has expired",
    413: "The body is larger than allowed",
    415: "The body must be application/json",
    422: "Idempotency-Key reused with a different request",
    429: "Rate limit exceeded: wait Retry-After seconds",
    500: "Internal error (with a request id to quote)",
    503: "A service is unavailable: retry after Retry-After seconds",
    504: "A service did not answer in time",
}
INT_HEADER = {"schema": {"type": "integer"}}
REQUEST_ID = {"X-Request-Id": {"description": "Correlates logs; quote it in support"
                                              " requests", "schema": STRING}}
LIMIT_HEADERS = {
    "RateLimit-Policy": {"description": 'the quota: `"<name>";q=<requests>;w=<seconds>`'
                                        " (IETF RateLimit header fields)", "schema": STRING},
    "RateLimit": {"description": 'what is left: `"<name>";r=<remaining>;t=<seconds to'
                                 ' reset>`', "schema": STRING},
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", **INT_HEADER}}
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "maxLength": 255}, "header",
                        description="The same key within 24 h replays the first answer"
                        " instead of acting twice (409 while the first is running, 422 with"
                        " a different body)")


def _headers(op: Operation, status: int) -> dict[str, Any]:
    headers: dict[str, Any] = dict(REQUEST_ID)
    # A 401 spends no quota: whose it would be is what the request failed to say.
    if not op.open and status != 401:
        headers.update(LIMIT_HEADERS)
    if status in (429, 503):
        headers.update(RETRY_AFTER)
    if status in (201, 202) and status == op.status and op.location:
        headers["Location"] = {"description": "where the created record is read",
                               "schema": STRING}
    if op.mark is not None and status in (op.status, 304):
        headers["ETag"] = {"description": "weak; send it back as If-None-Match",
                           "schema": STRING}
    return headers


def operation_id(op: Operation) -> str:
    """`get_v1_feedback_id` for `GET /v1/feedback/{id}`: unique over the table."""
    return (f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}"
            .replace("{", "").replace("}", "").replace(".", "_"))


EXAMPLES = Path(__file__).parent / "data" / "examples.json"


@functools.cache
def recorded_examples() -> dict[str, Any]:
    """What each operation answered once against a running platform, by operationId
    (`make examples`, tools/record_examples.py): `status`, `media` and `body` (a JSON
    answer, or the start of a file as text)."""
    if not EXAMPLES.is_file():
        return {}  # tests/test_openapi_examples.py names every operation without one
    examples: dict[str, Any] = json.loads(EXAMPLES.read_text("utf-8"))["operations"]
    return examples


def _with_example(op: Operation, ok: dict[str, Any]) -> None:
    """The recorded answer as the example of the success response's media type (one that
    the document has no content for, such as a shopper's JSON, gets that type listed)."""
    example = recorded_examples().get(operation_id(op))
    if example is None or example["status"] != op.status or example.get("body") is None:
        return
    media = example["media"]
    if media != "application/json" and media not in ok.get("content", {}):
        return
    content = ok.setdefault("content", {}).setdefault(media, {})
    content["examples"] = {"recorded": {
        "summary": "A real answer, recorded by `make examples`", "value": example["body"]}}


def _operation(op: Operation) -> dict[str, Any]:
    error = _ref_name("P4fError" if op.dialect == P4F else "FbpError")
    ok: dict[str, Any] = {"description": "OK" if op.status < 300 else "Accepted",
                          "headers": _headers(op, op.status)}
    if op.media:
        ok["content"] = {media: {"schema": {"type": "string"}} for media in op.media}
        ok["headers"]["Content-Disposition"] = {"description": "attachment; filename=…",
                                                "schema": STRING}
        if op.response is not None:
            ok["description"] = (f"The rows as a file; each row is a {op.response.__name__}"
                                 " (CSV: one column per field)")
    elif op.status != 204 and op.path.startswith(("/v1/", "/api/v1/")):
        ok["content"] = {"application/json": {"schema": _envelope(op)}}
    _with_example(op, ok)
    responses: dict[str, Any] = {str(op.status): ok}
    # An Idempotency-Key that is malformed (400), still running (409) or reused with another
    # body (422) is refused on any POST that takes one.
    replays = (400, 409, 422) if op.idempotent else ()
    # Any body may exceed the size limit, and must be JSON.
    bodies = (413, 415) if op.request is not None else ()
    statuses = sorted({*op.errors, *replays, *bodies, 500, 503, 504})
    for status in statuses:
        responses[str(status)] = {"description": ERRORS[status],
                                  "headers": _headers(op, status)}
        if op.path.startswith(("/v1/", "/api/v1/")) and status != 304:  # 304: no body
            responses[str(status)]["content"] = {"application/json": {"schema": error}}
    params = [*op.params, *((IDEMPOTENCY_KEY,) if op.idempotent else ())]
    body: dict[str, Any] = {
        "summary": op.summary, "tags": list(op.tags or (op.dialect,)),
        "operationId": operation_id(op),
        "parameters": [{"name": p.name, "in": p.where, "required": p.required,
                        "schema": p.schema, "description": p.description} for p in params],
        "responses": responses,
    }
    if op.description:
        body["description"] = op.description
    if not op.open:
        body["description"] = (body.get("description", "") + f"\n\nRole: {op.least_role}"
                               " or higher.").strip()
    if op.open:
        body["security"] = []
    if op.request is not None:
        body["requestBody"] = {"required": op.open or op.method != "POST" or op.path.endswith(
            ("/feedback", "/users", "/webhooks", "/campaigns", "/widgets")),
            "content": {"application/json": {"schema": _ref(op.request)}}}
    return body


def operations() -> list[Operation]:
    """Every documented operation: the rows of the table."""
    return TABLE


DESCRIPTION = """One platform, two dialects: FeedBackPro under /v1 and Pay4Feedback under
/api/v1. Authenticate with `Authorization: Bearer <key>` or `X-API-Key`.

A widget (campaign) is named by its id or by its public id (`wdg_…`) on every path and
filter. Timestamps are RFC 3339 in UTC with milliseconds (`2026-12-02T07:35:01.123Z`).
Page sizes above the maximum are clamped to it (FeedBackPro 200, Pay4Feedback 500).

Where we are stricter than a reference, and why:

- **Viewer keys get 403 on every write**, PATCH and PUT included (FeedBackPro names only
  POST and DELETE): a PATCH changes an entry's status, assignee or notes as much as a POST
  creates one, and a read-only role must not do either.
- **Impossible status moves are 409** (`invalid_transition`, with the allowed moves in
  `details`), e.g. `resolved` → `new`: the request is well-formed, the entry's state
  refuses it, and 409 is how Pay4Feedback already answers state conflicts.
- **Creates answer 201** with a `Location` header in both dialects (Pay4Feedback's table
  says 200 for success): 201 is what FeedBackPro documents and what HTTP means.
- **Only admin keys manage team members and webhooks**: both change who may see data.
- **Ids are UUIDs** (FeedBackPro's example shows `fb_…`; its reference also says entries
  are fetched "by its UUID").
- **`POST /v1/widgets/{id}/pause` answers `id` as the caller named the widget** (public
  id or UUID), as the reference's example reads back `wdg_4nR7xQ`.
"""


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in operations():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    models = {m for op in operations() for m in (op.request, op.response) if m is not None}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Resonanz API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": {**STATIC_SCHEMAS, **_schemas(models)},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "rsz_session"}},
        },
    }


@dataclass(frozen=True)
class Published:
    """The document as served: its JSON bytes and their entity tag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Published:
        body = orjson.dumps(spec)
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')

    def answer(self, request: web.Request) -> web.Response:
        """The document, or 304 when the caller's copy (If-None-Match) is this one."""
        headers = {"ETag": self.etag, "Cache-Control": "no-cache"}
        if none_match(request, self.etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, content_type="application/json", headers=headers)


PublishedKey = web.AppKey("openapi_document", Published)
Published30Key = web.AppKey("openapi_30_document", Published)


def webhooks_of(catalog: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: what each subscribable webhook POSTs to a receiver, from the
    webhook dispatcher's event catalog (generated from the code that sends them)."""
    signed = [{"name": name, "in": "header", "required": True, "schema": STRING,
               "description": text} for name, text in (
        ("webhook-id", "the message id: the same on every retry (deduplicate by it)"),
        ("webhook-timestamp", "seconds since the epoch when it was signed"),
        ("webhook-signature", "`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, space"
                              " separated while a rotated secret overlaps"))]
    return {entry["name"]: {"post": {
        "summary": entry["description"], "tags": ["Webhooks"],
        "operationId": f"webhook_{entry['name']}", "parameters": signed,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {k: v for k, v in entry["schema"].items() if k != "$schema"},
            "examples": {"sample": {"value": entry["sample"]}}}}},
        "responses": {"2XX": {"description": "Received: any 2xx ends the retries"},
                      "410": {"description": "Gone: the endpoint is disabled at once"}},
    }} for entry in catalog}


LearnerKey = web.AppKey("openapi_webhook_learner", asyncio.Task)
CATALOG_TIMEOUT = 3.0
RETRY_AFTER_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


async def publish_document(app: web.Application) -> None:
    """on_startup: render once, before the first request; every operation is in the
    table by then. The outgoing webhooks are added once the dispatcher has told its
    catalog (`learn_webhooks`, in the background: no request waits for it)."""
    _publish(app, document())
    if UpstreamsKey in app:
        app[LearnerKey] = asyncio.create_task(learn_webhooks(app))
        app.on_cleanup.append(_stop_learning)


def _publish(app: web.Application, spec: dict[str, Any]) -> None:
    app[PublishedKey] = Published.of(spec)
    app[Published30Key] = Published.of(as_openapi_30(spec))


async def learn_webhooks(app: web.Application) -> None:
    """Ask the webhook dispatcher for its event catalog until it answers (it may start
    after us), then publish the document again with `webhooks`."""
    url = app[UpstreamsKey]["webhook_dispatcher"] + "/event-types"
    for attempt in itertools.count():
        try:
            async with app[HttpClientKey].get(
                    url, timeout=aiohttp.ClientTimeout(total=CATALOG_TIMEOUT)) as response:
                if response.status == 200:
                    spec = document()
                    spec["webhooks"] = webhooks_of((await response.json())["items"])
                    _publish(app, spec)
                    return
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            log.info("webhook catalog not available yet: %r", exc)
        await asyncio.sleep(RETRY_AFTER_SECONDS[min(attempt, len(RETRY_AFTER_SECONDS) - 1)])


async def _stop_learning(app: web.Application) -> None:
    app[LearnerKey].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await app[LearnerKey]


# --- routes --------------------------------------------------------------------------------

routes = web.RouteTableDef()

SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Resonanz API</title>
<link rel="stylesheet" href="/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/swagger-ui/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/v3/api-docs", dom_id: "#swagger-ui"});</script>
</body></html>"""


def swagger_assets() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


@routes.get("/v3/api-docs")
@routes.get("/openapi.json")
async def api_docs(request: web.Request) -> web.Response:
    """OpenAPI 3.0.3 at `/v3/api-docs`, as the Pay4Feedback reference promises; 3.1 at
    `/openapi.json`."""
    v30 = request.path == "/v3/api-docs"
    return request.app[Published30Key if v30 else PublishedKey].answer(request)


@routes.get("/swagger-ui/index.html")
async def swagger_index(request: web.Request) -> web.Response:
    return web.Response(text=SWAGGER_PAGE, content_type="text/html")


@routes.get("/swagger-ui/{name:swagger-ui(-bundle\\.js|\\.css)}")
async def swagger_asset(request: web.Request) -> web.FileResponse:
    return web.FileResponse(swagger_assets() / request.match_info["name"],
                            headers={"Cache-Control": "max-age=86400"})
