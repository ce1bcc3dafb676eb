"""The aiohttp runtime every service is built on.

`create_service_app` wires the middlewares (request id and access log, metrics,
errors, internal auth), `/healthz`, `/readyz` and `/metrics`; `serve` runs it with
graceful shutdown on SIGTERM. A service given an `ops_port` (the public gateway)
serves `/readyz` and `/metrics` only on that second listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from .db import TRANSIENT_DB_ERRORS, database_unavailable
from .errors import DomainError, InvalidInput, validation_details
from .logs import configure_logging, request_id_var, tenant_id_var
from .metrics import DB_POOL_IDLE, DB_POOL_SIZE, HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS
from .settings import Settings
from .timestamps import rfc3339

log = logging.getLogger(__name__)
access_log = logging.getLogger("resonanz.access")

ReadinessCheck = Callable[[web.Application], Awaitable[None]]
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
INTERNAL_TOKEN_HEADER = "X-Internal-Token"
CLIENT_CLOSED = 499  # the client went away before the answer (nginx's convention)
# Scrapes and probes are short: no need to wait long for them when stopping.
OPS_SHUTDOWN_TIMEOUT = 2.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

ServiceNameKey = web.AppKey("service_name", str)
SettingsKey = web.AppKey("settings", Settings)
ReadinessKey = web.AppKey("readiness", list)
HttpClientKey = web.AppKey("http_client", ClientSession)
# On an operations app: the service app whose readiness and metrics it reports.
ServedAppKey = web.AppKey("served_app", web.Application)


@dataclass(frozen=True)
class OpsListener:
    """The second listener of a service: `/metrics`, `/readyz` and `/healthz` on `port`."""

    app: web.Application
    port: int


OpsListenerKey = web.AppKey("ops_listener", OpsListener)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    """Every JSON answer of every service; datetimes in the one format (rfc3339)."""
    return web.Response(
        body=orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME),
        status=status, content_type="application/json", headers=headers,
    )


def none_match(request: web.Request, tag: str) -> bool:
    """If-None-Match names this entity tag (weak comparison: `W/` ignored) or is `*`: the
    caller's copy is current, answer 304."""
    header = request.headers.get("If-None-Match", "")
    sent = {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}
    return "*" in sent or tag.removeprefix("W/") in sent


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


M = TypeVar("M", bound=BaseModel)


async def read_model(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body at the edge; field-level details on failure."""
    return parse_model(await request.read(), model)


def parse_model(raw: bytes, model: type[M]) -> M:
    """Validate JSON bytes with `model`; a 400 naming each field that is wrong."""
    try:
        parsed = model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise InvalidInput.naming(validation_details(exc.errors(), model)) from None
    if b"\\u0000" in raw:
        # PostgreSQL text and jsonb cannot store U+0000: refuse it here, not with a 500,
        # naming each field that holds one (`questions.0.label.en`), as every 400 does.
        found = _nul_fields(parsed.model_dump())
        if found:
            raise InvalidInput.naming([
                {"field": field, "message": "may not contain NUL (U+0000) characters"}
                for field in found])
    return parsed


def _nul_fields(value: Any, path: str = "") -> list[str]:
    """The dotted path of every string (or key) under `value` that holds a NUL; the body
    itself is `body`."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key).replace("\x00", "\\u0000")
            where = f"{path}.{name}" if path else name
            if isinstance(key, str) and "\x00" in key:
                found.append(path or "body")
            found.extend(_nul_fields(item, where))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(_nul_fields(item, f"{path}.{index}" if path else str(index)))
    return found


# --- middlewares -------------------------------------------------------------------


def request_context(*, trust_tenant_header: bool = True) -> Any:
    """Request id and tenant for every log line of the request, then its access log line.

    Behind the internal token the caller's `X-Tenant-Id` names the tenant; on a public
    app only authentication may, so a stranger cannot write a tenant into our logs.
    """

    @web.middleware
    async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = given_request_id(request) or f"req_{uuid.uuid4().hex[:16]}"
        request_id_var.set(request_id)
        tenant_id_var.set(request.headers.get("X-Tenant-Id") if trust_tenant_header else None)
        status = 500
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            log_access(request, status, started)
        response.headers["X-Request-Id"] = request_id
        return response

    return context


# A caller's own request id is kept only when it is short printable ASCII: it is echoed in
# a header and in every error body, logged, and passed on to the services.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


def given_request_id(request: web.Request) -> str | None:
    given = request.headers.get("X-Request-Id")
    return given if given is not None and _REQUEST_ID.fullmatch(given) else None


def log_access(request: web.Request, status: int, started: float) -> None:
    """One line per request. Only method, path (never the query string, which may carry
    a key), status and time: no header and no body is logged. Probes only at DEBUG."""
    level = logging.DEBUG if request.path in OPEN_PATHS else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    access_log.log(level, "%s %s %s %.2f ms", request.method, request.path, status,
                   duration_ms, extra={"method": request.method, "path": request.path,
                                       "status": status, "duration_ms": duration_ms})


ErrorRenderer = Callable[[web.Request, DomainError], web.StreamResponse]


def render_error(request: web.Request, exc: DomainError) -> web.StreamResponse:
    """The services' own error shape: `{"error": {"code", "message", "details"}}`."""
    return json_response(exc.to_body(), status=exc.status, headers=exc.headers)


def body_too_large(limit: int) -> DomainError:
    """A body over `limit` bytes: the 413 that names the field and the cap, as every other
    limit's refusal does (aiohttp's own says only "Request Entity Too Large")."""
    cap = f"may be at most {limit} bytes"
    return DomainError(f"body: {cap}", code="request_entity_too_large", status=413,
                       details=[{"field": "body", "message": cap}])


def error_middleware(render: ErrorRenderer = render_error, *,
                     renders_bugs: Callable[[web.Request], bool] = lambda _: True) -> Any:
    """The one error ladder: domain errors, aiohttp's 4xx and 5xx, a database away for
    a moment (503) and bugs (500), each rendered by `render` (the gateway renders in the
    caller's dialect). A bug on a request `renders_bugs` declines goes on to the next
    middleware out."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except DomainError as exc:
            return render(request, exc)
        except web.HTTPRequestEntityTooLarge:
            # The application's cap (RESONANZ_MAX_BODY_BYTES), which aiohttp enforced.
            return render(request, body_too_large(request.client_max_size))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return render(request, DomainError(
                exc.reason, code=exc.reason.lower().replace(" ", "_"), status=exc.status,
                headers=_passthrough(exc)))
        except RequestPayloadError:  # a body that cannot be read, e.g. broken gzip
            return render(request, DomainError(
                "the request body could not be read", code="unreadable_body", status=400,
                details=[{"field": "body", "message": "cannot be read as sent (check its"
                                                     " Content-Encoding)"}]))
        except TRANSIENT_DB_ERRORS as exc:
            if isinstance(exc, ConnectionResetError) and _client_gone(request):
                # The caller hung up (e.g. mid-body): nobody reads the answer, and it is
                # no database outage to alert on.
                log.info("client went away on %s %s", request.method, request.path)
                return render(request, DomainError("the client closed the connection",
                                                   code="client_closed_request", status=400))
            log.warning("database unavailable on %s %s: %r", request.method, request.path, exc)
            return render(request, database_unavailable())
        except Exception:
            if not renders_bugs(request):
                raise
            log.exception("unhandled error on %s %s", request.method, request.path)
            return render(request, DomainError("internal error", code="internal_error",
                                               status=500))

    return errors


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _passthrough(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}


def metrics_middleware(service: str) -> Any:
    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route_of(request)
        started = time.perf_counter()
        HTTP_IN_FLIGHT.labels(service).inc()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            HTTP_IN_FLIGHT.labels(service).dec()
            HTTP_REQUESTS.labels(service, request.method, route, str(status)).inc()
            HTTP_LATENCY.labels(service, request.method, route).observe(
                time.perf_counter() - started
            )

    return measure


def _route_of(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def internal_auth(token: str, only_prefix: str = "/") -> Any:
    """Only callers holding the shared internal token reach a domain service
    (or, on the public gateway, its `/internal/` routes)."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or not request.path.startswith(only_prefix):
            return await handler(request)
        given = request.headers.get(INTERNAL_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            raise DomainError("internal token missing or wrong", code="unauthorized", status=401)
        return await handler(request)

    return check


# --- health, readiness, metrics ------------------------------------------------------


def _served(request: web.Request) -> web.Application:
    """The service app a probe is about: its own, or the one an operations app serves."""
    served = request.app.get(ServedAppKey)
    return request.app if served is None else served


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "service": _served(request)[ServiceNameKey]})


async def readyz(request: web.Request) -> web.Response:
    app = _served(request)
    problems = {}
    for check in app[ReadinessKey]:
        try:
            await asyncio.wait_for(check(app), 2.0)
        except Exception as exc:
            problems[getattr(check, "__name__", "check")] = repr(exc)
    status = 503 if problems else 200
    body: dict[str, object] = {"ready": not problems, "problems": problems}
    if instance := app[SettingsKey].instance_id:
        body["instance"] = instance
    return json_response(body, status=status)


async def metrics(request: web.Request) -> web.Response:
    from .db import PoolKey

    app = _served(request)
    service = app[ServiceNameKey]
    pool = app.get(PoolKey)
    if pool is not None:
        DB_POOL_SIZE.labels(service).set(pool.get_size())
        DB_POOL_IDLE.labels(service).set(pool.get_idle_size())
    body = generate_latest()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- app factory and serving ---------------------------------------------------------


def create_service_app(
    service: str,
    settings: Settings,
    *,
    routes: Iterable[web.AbstractRouteDef],
    cleanup_ctxs: Iterable[CleanupCtx] = (),
    readiness: Iterable[ReadinessCheck] = (),
    public: bool = False,
    middlewares: Iterable[Any] = (),
    ops_port: int | None = None,
) -> web.Application:
    """One app per service: the same runtime, its own routes and background work.

    `public` apps (the gateway) authenticate callers themselves; every other app
    accepts only calls carrying the internal token. With an `ops_port`, `/readyz` and
    `/metrics` (tenant ids in label values, exception text) leave the service's port
    for an operations app that `serve` runs on that port; `/healthz` stays on both.
    """
    chain = [request_context(trust_tenant_header=not public), metrics_middleware(service),
             error_middleware(), internal_auth(settings.internal_token.get_secret_value(),
                                               "/internal/" if public else "/")]
    chain.extend(middlewares)
    app = web.Application(middlewares=chain, client_max_size=settings.max_body_bytes)
    app[ServiceNameKey] = service
    app[SettingsKey] = settings
    app[ReadinessKey] = list(readiness)
    if ops_port is None:
        _add_probes(app)
    else:
        app.router.add_get("/healthz", healthz)
        app[OpsListenerKey] = OpsListener(ops_app(service, app), ops_port)
    app.add_routes(list(routes))
    app.cleanup_ctx.extend(cleanup_ctxs)
    return app


def _add_probes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def ops_app(service: str, served: web.Application) -> web.Application:
    """The probes of `served` as an app of their own, for a listener off the public port.
    It starts nothing itself: the pool and the checks are those of `served`."""
    ops = web.Application(middlewares=[request_context(), metrics_middleware(service),
                                       error_middleware()])
    ops[ServedAppKey] = served
    _add_probes(ops)
    return ops


def http_client_ctx(settings: Settings, *, timeout: float = 10.0,
                    limit: int = 200) -> CleanupCtx:
    """A pooled client for calls to other services; it carries the internal token."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        session = ClientSession(
            connector=TCPConnector(limit=limit, limit_per_host=limit, keepalive_timeout=60),
            timeout=ClientTimeout(total=timeout, connect=2.0),
            headers={INTERNAL_TOKEN_HEADER: settings.internal_token.get_secret_value()},
            json_serialize=lambda v: orjson.dumps(v).decode(),
        )
        app[HttpClientKey] = session
        yield
        await session.close()

    return ctx


async def freeze_startup_heap(app: web.Application) -> None:
    """What startup built (modules, schemas, pools) lives as long as the process: take it
    out of the collector's sight, so a full collection scans only what requests leave
    behind (about 20 ms of pause for the startup heap otherwise)."""
    gc.collect()
    gc.freeze()


def serve(service: str, settings: Settings, app_factory: Callable[[], web.Application]) -> None:
    """Run until SIGTERM/SIGINT, then drain in-flight requests and stop background work."""
    import uvloop

    configure_logging(service, settings.log_level)
    log.info("starting %s with %s", service, settings.safe_summary())
    uvloop.install()
    app = app_factory()
    app.on_startup.append(freeze_startup_heap)  # after the cleanup contexts have started
    with contextlib.suppress(asyncio.CancelledError):  # stopped while still starting
        asyncio.run(run_listeners(app, settings))


async def run_listeners(app: web.Application, settings: Settings) -> None:
    """The service's listener, then its operations listener if it has one, until a signal.

    The operations listener opens last, so `/readyz` cannot answer before the service's
    port is open, and closes first, so a draining service no longer reports ready.
    """
    serving, stopping = asyncio.Event(), asyncio.Event()
    _handle_stop_signals(serving, stopping)
    main = await _listen(app, settings.host, settings.port, settings.shutdown_timeout)
    try:
        ops_listener = app.get(OpsListenerKey)
        ops = None if ops_listener is None else await _listen(
            ops_listener.app, settings.host, ops_listener.port, OPS_SHUTDOWN_TIMEOUT)
        try:
            serving.set()
            log.info("serving on %s:%s%s", settings.host, settings.port,
                     f", operations on port {ops_listener.port}" if ops_listener else "")
            await stopping.wait()
        finally:
            if ops is not None:
                await ops.cleanup()
    finally:
        await main.cleanup()  # drains in-flight requests, then stops the background work


def _handle_stop_signals(serving: asyncio.Event, stopping: asyncio.Event) -> None:
    """Once serving, SIGTERM/SIGINT begin the graceful stop; before that they abandon the
    start (as aiohttp's run_app does) rather than wait on a database that may not answer."""
    loop = asyncio.get_running_loop()
    starting = asyncio.current_task()

    def stop() -> None:
        if serving.is_set():
            stopping.set()
        elif starting is not None:
            starting.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)


async def _listen(app: web.Application, host: str, port: int, shutdown_timeout: float
                  ) -> web.AppRunner:
    # access_log=None: log_access in the middleware writes the one line per request.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
