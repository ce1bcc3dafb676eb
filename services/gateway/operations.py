"""The public API as data: one `Operation` per dialect, method and path.

An operation says who answers it (a domain service, forwarded to, or a function of the
gateway's own), who may call it, what the service is asked (path, query, body) and how its
answer is rendered in the dialect; and, for the OpenAPI document rendered from the same
rows, what it takes, what it gives and which errors it documents. `route(op)` is the one
handler behind every row: the table in `table.py` is the router and the document.

A dialect quirk is a small hook on a row (a query builder, a view, an `answer`), never a
copy of a handler.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel

from resonanz.shared.errors import Forbidden
from resonanz.shared.web import none_match

from .auth import PrincipalKey
from .dialects import FEEDBACKPRO, dialect_of
from .paging import Paging
from .upstream import call

Role = Literal["viewer", "editor", "admin"]
RANK: Mapping[str, int] = {"viewer": 0, "editor": 1, "admin": 2}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Hooks: what the service is asked, and how its answer becomes the dialect's.
IdRule = Callable[[web.Request, str], Awaitable[str]]
QueryHook = Callable[[web.Request], Awaitable[dict[str, str]]]
BodyHook = Callable[[web.Request], Awaitable[bytes]]
View = Callable[[web.Request, dict[str, Any]], dict[str, Any]]
Answer = Callable[[web.Request, "Operation", Any, int], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FBP, P4F = "FeedBackPro", "Pay4Feedback"


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
    # Who answers: a domain service at `upstream` (its path; `{name}` filled through
    # `ids`), or the gateway's own `handler`.
    service: str | None = None
    upstream: str | None = None
    handler: Handler | None = None
    # The least role that may call it; None: viewers read, editors write.
    role: Role | None = None
    ids: Mapping[str, IdRule] = field(default_factory=dict)
    query: QueryHook | None = None
    body: BodyHook | None = None
    view: View | None = None
    answer: Answer | None = None
    # Where a created record is read back (`{id}` from the answer).
    location: str | None = None
    # --- the document ---
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    status: int = 200
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (400, 401, 403, 404, 429)
    tags: tuple[str, ...] = ()
    description: str = ""
    # A file rather than the dialect's JSON envelope (an export): its media types.
    media: tuple[str, ...] = ()
    # Reached without a key or session (signing in, accepting an invitation).
    open: bool = False
    # A list answered with an ETag, and 304 to a matching If-None-Match: the service's
    # path answering `{"mark": …}`, which moves with every change the list could show (the
    # list itself adds it to its answer when asked with `mark=1`).
    mark: str | None = None

    @property
    def dialect(self) -> str:
        return P4F if self.path.startswith("/api/") else FBP

    @property
    def least_role(self) -> Role:
        if self.role is not None:
            return self.role
        return "editor" if self.method in WRITES else "viewer"

    @property
    def idempotent(self) -> bool:
        """A POST may carry an `Idempotency-Key` (PATCH and DELETE are idempotent already)."""
        return self.method == "POST" and not self.open


# --- path parameters -------------------------------------------------------------------


async def escaped(request: web.Request, raw: str) -> str:
    """An id passed on unjudged but escaped: a decoded `?` or `#` in it must not turn into
    the upstream's query or fragment. The service parses it (a malformed one is its 404)."""
    return quote(raw, safe="")


async def upstream_path(request: web.Request, op: Operation) -> str:
    assert op.upstream is not None
    values = {name: await op.ids.get(name, escaped)(request, raw)
              for name, raw in request.match_info.items()}
    return op.upstream.format(**values)


# --- the one handler -------------------------------------------------------------------


def require_role(request: web.Request, op: Operation) -> None:
    principal = request[PrincipalKey]
    needed = op.least_role
    if RANK[principal.role] >= RANK[needed]:
        return
    message = ("viewers cannot change anything" if needed == "editor"
               else "only admins may do this")
    raise Forbidden(message, details=[{"field": "role", "message": principal.role,
                                       "required": needed}])


def route(op: Operation) -> Handler:
    """The aiohttp handler of one row."""
    if op.handler is not None:
        local = op.handler

        async def answered_here(request: web.Request) -> web.StreamResponse:
            if not op.open:
                require_role(request, op)
            return await local(request)
        return answered_here

    async def forwarded(request: web.Request) -> web.StreamResponse:
        require_role(request, op)
        assert op.service is not None
        params = await op.query(request) if op.query else None
        if op.mark is not None:
            return await conditional(request, op, params or {})
        body = None
        if op.method in WRITES - {"DELETE"}:
            body = await op.body(request) if op.body else await request.read()
        path = await upstream_path(request, op)
        status, payload = await call(request, op.service, op.method, path,
                                     request[PrincipalKey], body=body, params=params)
        return (op.answer or one)(request, op, payload, status)
    return forwarded


# --- conditional lists (ETag, If-None-Match) ---------------------------------------------

# Part of every entity tag: raise it when a list's view changes, so that no client keeps
# an old representation for a 304.
VIEWS_VERSION = "1"
CONDITIONAL_CACHE = "private, no-cache"


def entity_tag(request: web.Request, op: Operation, params: Mapping[str, str], mark: str
               ) -> str:
    """A weak tag (the envelope's request id and timestamp differ each time): the tenant's
    change mark and everything that shapes the answer: the dialect's path, the query as
    sent and as the service reads it (`me` resolved to the caller)."""
    parts = [VIEWS_VERSION, request[PrincipalKey].tenant_id, op.method, op.path,
             request.query_string, *sorted(f"{k}={v}" for k, v in params.items()), mark]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


async def conditional(request: web.Request, op: Operation, params: dict[str, str]
                      ) -> web.StreamResponse:
    """304 when the caller's copy is current (one short read of the mark); else the list,
    tagged with the mark read just before it."""
    assert op.service is not None and op.upstream is not None and op.mark is not None
    principal = request[PrincipalKey]
    headers = {"Cache-Control": CONDITIONAL_CACHE}
    if request.headers.get("If-None-Match"):
        _, known = await call(request, op.service, "GET", op.mark, principal)
        tag = entity_tag(request, op, params, known["mark"])
        if none_match(request, tag):
            return web.Response(status=304, headers={**headers, "ETag": tag})
    path = await upstream_path(request, op)
    status, payload = await call(request, op.service, op.method, path, principal,
                                 params={**params, "mark": "1"})
    response = (op.answer or one)(request, op, payload, status)
    response.headers.update({**headers, "ETag": entity_tag(request, op, params,
                                                           payload["mark"])})
    return response


def routes_of(operations: list[Operation]) -> list[web.RouteDef]:
    return [web.route(op.method, op.path, route(op)) for op in operations]


# --- answers -----------------------------------------------------------------------------


def _view(request: web.Request, op: Operation, item: Any) -> Any:
    return op.view(request, item) if op.view is not None else item


def one(request: web.Request, op: Operation, payload: Any, status: int) -> web.Response:
    """One record; a create answers 201 with where to read it back."""
    data = _view(request, op, payload)
    if op.location is None:
        return dialect_of(request.path).ok(request, data, status=op.status)
    location = op.location.format(id=payload["id"])
    links: dict[str, str | None] | None = (
        {"self": location} if dialect_of(request.path) is FEEDBACKPRO else None)
    return dialect_of(request.path).ok(request, data, status=op.status,
                                       headers={"Location": location}, links=links)


def as_sent(request: web.Request, op: Operation, payload: Any, status: int) -> web.Response:
    """The service's status code kept (a resend is 202, a recover 200)."""
    return dialect_of(request.path).ok(request, _view(request, op, payload), status=status)


def items(request: web.Request, op: Operation, payload: Any, status: int) -> web.Response:
    """All of a short list (`{"items": [...]}`), counted: no page follows (`next` null, as
    on every list)."""
    found = [_view(request, op, item) for item in payload["items"]]
    return dialect_of(request.path).ok(request, found, meta={"total": len(found)},
                                       links={"next": None})


def rows(request: web.Request, op: Operation, payload: Any, status: int) -> web.Response:
    """Pay4Feedback's list: every row the service gave, and the cursor to the next."""
    found = [_view(request, op, item) for item in payload["items"]]
    return dialect_of(request.path).ok(request, found,
                                       links={"next": payload.get("next_cursor")})


def pages(max_limit: int, default_limit: int = 50) -> tuple[QueryHook, Answer]:
    """FeedBackPro's `page`/`limit` paging over a service's `{"items", "total"}`: the
    query to send and the answer's `meta` and `links`."""
    async def query(request: web.Request) -> dict[str, str]:
        paging = Paging.from_query(request.query, default_limit=default_limit,
                                   max_limit=max_limit)
        return {"page": str(paging.page), "limit": str(paging.limit)}

    def answer(request: web.Request, op: Operation, payload: Any, status: int
               ) -> web.Response:
        paging = Paging.from_query(request.query, default_limit=default_limit,
                                   max_limit=max_limit)
        found = [_view(request, op, item) for item in payload["items"]]
        return FEEDBACKPRO.ok(request, found, meta=paging.meta(payload["total"]),
                              links=paging.links(request, payload["total"]))
    return query, answer
