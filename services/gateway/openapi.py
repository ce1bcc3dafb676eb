"""OpenAPI 3.1 for both dialects, rendered from the pydantic contract models.

Served at `/openapi.json`, and as OpenAPI 3.0.3 at `/v3/api-docs`; Swagger UI at
`/swagger-ui/index.html` with assets from the swagger-ui-py package (no CDN).
Rendering takes tens of milliseconds of CPU, so the gateway renders it once at
start (`publish_document`) and serves those bytes, with an ETag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from resonanz.shared import contracts as c
from resonanz.shared.params import MAX_PAGE_NUMBER

from .openapi30 import as_openapi_30

FBP, P4F = "FeedBackPro", "Pay4Feedback"
REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    where: str = "query"
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    status: int = 200
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (400, 401, 403, 404, 429)
    tags: tuple[str, ...] = field(default=())
    # Reached without a key or session (signing in, accepting an invitation).
    open: bool = False

    @property
    def dialect(self) -> str:
        return P4F if self.path.startswith("/api/") else FBP


def _int(lo: int, hi: int | None = None) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, **({"maximum": hi} if hi else {})}


UUID = {"type": "string", "format": "uuid"}
STRING = {"type": "string"}
DATE = {"type": "string", "format": "date-time"}
ID = Param("id", STRING, "path", required=True)
WIDGET = "the widget's id (UUID) or its public id (`wdg_…`, as in the embed code)"
WIDGET_ID = Param("id", STRING, "path", required=True, description=WIDGET)
FBP_PAGE = (Param("page", _int(1, MAX_PAGE_NUMBER)),
            Param("limit", _int(1), description="default 50; more than 200 is clamped to 200"))
SEARCH = ("full-text search over the body and the answers (German, English and literal"
          " words; \"quoted phrase\", -word, or)")
INBOX = (Param("rating", STRING, description="comma list of ratings 1-5"),
         Param("rating_min", _int(1, 5)), Param("rating_max", _int(1, 5)),
         Param("category", STRING, description="exact, any case"),
         Param("quality", STRING, description="comma list of quality labels: good, fair,"
               " poor, spam"),
         Param("score_min", {"type": "integer", "minimum": 0, "maximum": 100},
               description="quality score at least"),
         Param("score_max", {"type": "integer", "minimum": 0, "maximum": 100},
               description="quality score at most"),
         Param("q", {"type": "string", "maxLength": 200}, description=SEARCH))
ASSIGNEE = "a user id, `me` (the signed-in member or the key's user) or a name"
REWARD_STATES = ["pending", "approved", "rejected", "none"]
FBP_LIST = (*FBP_PAGE, Param("status", STRING, description="comma list"),
            *INBOX, Param("assignee", STRING, description=ASSIGNEE),
            Param("assigned_to", STRING, description="the same as assignee"),
            Param("reward_status", STRING, description="comma list of "
                  + ", ".join(REWARD_STATES) + " (none: the widget pays no reward)"),
            Param("widget_id", STRING, description=WIDGET), Param("from", DATE),
            Param("to", DATE),
            Param("sort", {"enum": ["created_at:desc", "created_at:asc"]}),
            Param("cursor", STRING, description="opaque; from meta.next_cursor"))
P4F_LIST = (Param("limit", _int(1), description="default 500; more is clamped to 500"),
            Param("cursor", STRING),
            Param("status", STRING, description="reward state, a comma list of "
                  + ", ".join(REWARD_STATES) + " in any case (NONE: the campaign pays no"
                  " reward)"),
            Param("campaign_id", STRING, description=WIDGET), Param("from", DATE),
            Param("to", DATE), *INBOX, Param("assignee", STRING, description=ASSIGNEE))
CONFIRM = Param("X-Confirm", {"enum": ["true"]}, "header", required=True)

OPERATIONS: list[Operation] = [
    Operation("GET", "/v1/me", "The organization this key belongs to", response=c.MeView),
    Operation("GET", "/api/v1/me", "Sanity-check your key", response=c.MeView),
    Operation("GET", "/v1/feedback", "List feedback entries", response=c.FeedbackView,
              many=True, params=FBP_LIST),
    Operation("POST", "/v1/feedback", "Create a feedback entry", request=c.EntryIn,
              response=c.FeedbackView, status=201, errors=(400, 401, 403, 404, 409, 413,
                                                           415, 422, 429)),
    Operation("GET", "/v1/feedback/{id}", "One entry with its audit trail",
              response=c.FeedbackDetailView, params=(ID,)),
    Operation("PATCH", "/v1/feedback/{id}", "Update status, assignee or add a note",
              request=c.PatchIn, response=c.FeedbackView, params=(ID,),
              errors=(400, 401, 403, 404, 409, 415, 429)),
    Operation("DELETE", "/v1/feedback/{id}", "Soft-delete an entry", params=(ID,)),
    Operation("GET", "/v1/users", "List team members", response=c.UserView, many=True,
              params=FBP_PAGE),
    Operation("GET", "/v1/users/{id}", "One team member", response=c.UserView,
              params=(ID,)),
    Operation("POST", "/v1/users", "Invite a team member", request=c.InvitationIn,
              response=c.InvitedUserView, status=201, errors=(400, 401, 403, 409, 415, 429)),
    Operation("DELETE", "/v1/users/{id}", "Remove a team member", response=c.UserView,
              params=(ID, CONFIRM), errors=(400, 401, 403, 404, 409, 429)),
    Operation("GET", "/v1/analytics/summary", "Aggregate metrics", response=c.SummaryView,
              params=(Param("period", {"enum": ["7d", "30d", "90d"]}),
                      Param("group_by", {"enum": ["day", "week", "month"]}),
                      Param("widget_id", STRING, description=WIDGET))),
    Operation("GET", "/api/v1/responses", "List feedback responses, newest first",
              response=c.ResponseView, many=True, params=P4F_LIST),
    Operation("GET", "/api/v1/responses/{id}", "One response with answers and quality",
              response=c.ResponseDetailView, params=(ID,)),
    Operation("POST", "/api/v1/responses/{id}/approve", "Approve the reward",
              request=c.ReviewIn, response=c.ResponseDetailView, params=(ID,),
              errors=(400, 401, 403, 404, 409, 429)),
    Operation("POST", "/api/v1/responses/{id}/reject", "Reject the reward",
              request=c.ReviewIn, response=c.ResponseDetailView, params=(ID,),
              errors=(400, 401, 403, 404, 409, 429)),
]


def _webhook_operations(base: str) -> list[Operation]:
    admin = (400, 401, 403, 404, 429)
    delivery = Param("delivery_id", STRING, "path", required=True)
    return [
        Operation("GET", base, "List webhook subscriptions", response=c.WebhookView,
                  many=True),
        Operation("POST", base, "Create a subscription (its secret is shown once)",
                  request=c.SubscriptionIn, response=c.WebhookCreatedView, status=201,
                  errors=(400, 401, 403, 409, 415, 422, 429)),
        Operation("GET", f"{base}/{{id}}", "One subscription", response=c.WebhookView,
                  params=(ID,)),
        Operation("DELETE", f"{base}/{{id}}", "Delete a subscription", params=(ID,)),
        Operation("POST", f"{base}/{{id}}/rotate-secret", "New secret; the old one signs"
                  " beside it for 24 h", response=c.WebhookCreatedView, params=(ID,),
                  errors=admin),
        Operation("POST", f"{base}/{{id}}/enable", "Re-enable a disabled endpoint",
                  response=c.WebhookView, params=(ID,), errors=admin),
        Operation("GET", f"{base}/{{id}}/deliveries", "Delivery log", params=(ID,)),
        Operation("GET", f"{base}/{{id}}/deliveries/{{delivery_id}}/attempts",
                  "Attempts of one delivery", params=(ID, delivery)),
        Operation("POST", f"{base}/{{id}}/deliveries/{{delivery_id}}/resend",
                  "Send one delivery again", params=(ID, delivery), errors=admin),
        Operation("POST", f"{base}/{{id}}/recover", "Redeliver failures since a time",
                  request=c.RecoverIn, params=(ID,), errors=admin),
        Operation("GET", f"{base}/events/{{event_id}}/deliveries", "Deliveries of one event",
                  params=(Param("event_id", STRING, "path", required=True),)),
    ]


def _widget_operations() -> list[Operation]:
    # The bodies are validated by the widgets service with these models; the gateway
    # only documents them (one image carries every service's code).
    from resonanz.widgets.api import PauseIn, ResumeIn, WidgetIn, WidgetPatch

    moves = (400, 401, 403, 404, 409, 415, 429)
    fbp, p4f = "/v1/widgets", "/api/v1/campaigns"
    return [
        Operation("GET", fbp, "List widgets", response=c.WidgetView, many=True,
                  params=FBP_PAGE),
        Operation("POST", fbp, "Create a widget", request=WidgetIn, response=c.WidgetView,
                  status=201, errors=moves),
        Operation("GET", f"{fbp}/{{id}}", "One widget", response=c.WidgetView, params=(WIDGET_ID,)),
        Operation("PATCH", f"{fbp}/{{id}}", "Change settings; live within 15 s",
                  request=WidgetPatch, response=c.WidgetView, params=(WIDGET_ID,), errors=moves),
        Operation("POST", f"{fbp}/{{id}}/pause", "Pause, optionally until resume_at",
                  request=PauseIn, response=c.PausedView, params=(WIDGET_ID,), errors=moves),
        Operation("POST", f"{fbp}/{{id}}/resume", "Resume; notify=true emails the admins",
                  request=ResumeIn, response=c.WidgetView, params=(WIDGET_ID,), errors=moves),
        Operation("GET", p4f, "List all campaigns", response=c.CampaignView, many=True),
        Operation("POST", p4f, "Create a campaign (starts in DRAFT)", request=WidgetIn,
                  response=c.CampaignView, status=201, errors=moves),
        Operation("GET", f"{p4f}/{{id}}", "Get one campaign", response=c.CampaignView,
                  params=(WIDGET_ID,)),
        Operation("PATCH", f"{p4f}/{{id}}", "Update a campaign", request=WidgetPatch,
                  response=c.CampaignView, params=(WIDGET_ID,), errors=moves),
        Operation("POST", f"{p4f}/{{id}}/pause", "Pause: the widget stops serving",
                  request=PauseIn, response=c.CampaignView, params=(WIDGET_ID,), errors=moves),
        Operation("POST", f"{p4f}/{{id}}/resume", "Resume from paused", request=ResumeIn,
                  response=c.CampaignView, params=(WIDGET_ID,), errors=moves),
    ]


OPERATIONS += _widget_operations()
OPERATIONS += _webhook_operations("/api/v1/webhooks") + _webhook_operations("/v1/webhooks")


def register(*operations: Operation) -> None:
    """Other route modules add their operations here."""
    OPERATIONS.extend(operations)


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


def _operation(op: Operation) -> dict[str, Any]:
    error = _ref_name("P4fError" if op.dialect == P4F else "FbpError")
    responses: dict[str, Any] = {str(op.status): {"description": "OK"} if op.status == 204
                                 else {"description": "OK", "content": {
                                     "application/json": {"schema": _envelope(op)}}}}
    for status in (*op.errors, 500, 503, 504):
        responses[str(status)] = {"description": "error",
                                  "content": {"application/json": {"schema": error}}}
    body: dict[str, Any] = {
        "summary": op.summary, "tags": list(op.tags or (op.dialect,)),
        "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}"
                       .replace("{", "").replace("}", ""),
        "parameters": [{"name": p.name, "in": p.where, "required": p.required,
                        "schema": p.schema, "description": p.description} for p in op.params],
        "responses": responses,
    }
    if op.open:
        body["security"] = []
    if op.request is not None:
        body["requestBody"] = {"required": op.open or op.method != "POST" or op.path.endswith(
            ("/feedback", "/users", "/webhooks", "/campaigns")),
            "content": {"application/json": {"schema": _ref(op.request)}}}
    return body


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
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    models = {m for op in OPERATIONS for m in (op.request, op.response) if m is not None}
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


PublishedKey = web.AppKey("openapi_document", Published)
Published30Key = web.AppKey("openapi_30_document", Published)


async def publish_document(app: web.Application) -> None:
    """on_startup: render once, before the first request; every operation is registered
    by then (route modules register theirs at import)."""
    spec = document()
    app[PublishedKey] = Published.of(spec)
    app[Published30Key] = Published.of(as_openapi_30(spec))


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
    published = request.app[Published30Key if v30 else PublishedKey]
    headers = {"ETag": published.etag, "Cache-Control": "no-cache"}
    if published.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=published.body, content_type="application/json",
                        headers=headers)


@routes.get("/swagger-ui/index.html")
async def swagger_index(request: web.Request) -> web.Response:
    return web.Response(text=SWAGGER_PAGE, content_type="text/html")


@routes.get("/swagger-ui/{name:swagger-ui(-bundle\\.js|\\.css)}")
async def swagger_asset(request: web.Request) -> web.FileResponse:
    return web.FileResponse(swagger_assets() / request.match_info["name"],
                            headers={"Cache-Control": "max-age=86400"})
