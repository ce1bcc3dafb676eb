"""`python -m resonanz.gateway privacy export|erase|show …`: a data-subject request filed by
the operator (docs/privacy.md), for a shop that asks the operator rather than the API.

It takes the API's path: an erasure first deletes the gateway's stored replays naming the
address (public/privacy.forget_replays), then the request is filed with the feedback
service, which keeps it and coordinates; the gateway's audit log records it with the role
`operator`. The command follows the request's progress per service on stderr until it is
complete (or `--wait` runs out) and prints the request as JSON, with an export's document
(or one kind of it as CSV with `--csv KIND`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
from pydantic import ValidationError

from resonanz.shared.caller import GATEWAY_REPLAYS_ERASED, Caller
from resonanz.shared.contracts import PrivacyRequestIn
from resonanz.shared.db import create_pool
from resonanz.shared.web import INTERNAL_TOKEN_HEADER

from .app import GatewaySettings
from .audit_log import AuditEvent, insert_events
from .public.privacy import CSV_KINDS, forget_replays

SERVICE = "gateway"
ACTOR = "operator"
POLL = 0.5


def register(commands: argparse._SubParsersAction, settings: GatewaySettings) -> None:
    privacy = commands.add_parser("privacy", help="data-subject requests (GDPR access and"
                                  " erasure) for one customer email").add_subparsers(
        dest="privacy_command", required=True)
    export = privacy.add_parser("export", help="everything held about the email, as JSON"
                                " (or one kind as CSV)")
    erase = privacy.add_parser("erase", help="erase the email's data in every service")
    show = privacy.add_parser("show", help="a request with its progress per service")
    for parser in (export, erase):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--email", required=True)
    show.add_argument("--tenant", required=True)
    show.add_argument("--id", required=True)
    export.add_argument("--csv", choices=CSV_KINDS, help="print this kind as CSV instead")
    for parser in (export, erase, show):
        parser.add_argument("--wait", type=float, default=60.0,
                            help="seconds to wait for the request to complete (default 60)")
        parser.set_defaults(handler=lambda args: run(args, settings))


def run(args: argparse.Namespace, settings: GatewaySettings) -> None:
    code, output = asyncio.run(_run(args, settings))
    sys.stdout.write(output if isinstance(output, str)
                     else json.dumps(output, indent=2, ensure_ascii=False, default=str) + "\n")
    raise SystemExit(code)


def _tenant(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise SystemExit(f"privacy: --tenant: not a tenant id: {raw!r}") from None


async def _run(args: argparse.Namespace, settings: GatewaySettings) -> tuple[int, Any]:
    tenant = _tenant(args.tenant)
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    token = settings.internal_token.get_secret_value()
    try:
        if not await pool.fetchval("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)",
                                   uuid.UUID(tenant)):
            raise SystemExit(f"privacy: no tenant {tenant}")
        async with aiohttp.ClientSession(
                base_url=settings.feedback_url, headers={INTERNAL_TOKEN_HEADER: token},
                timeout=aiohttp.ClientTimeout(total=30)) as http:
            client = Feedback(http, Caller(tenant, ACTOR, "admin", uuid.uuid4().hex))
            if args.privacy_command == "show":
                request = await client.get(f"/privacy/requests/{args.id}")
            else:
                request = await file(pool, settings, client, args)
            request = await follow(client, request, args.wait)
            if request["status"] != "completed":
                return 1, {"request": request}
            if args.privacy_command == "export" and request["export_available"]:
                path = f"/privacy/requests/{request['id']}/export"
                if args.csv:
                    return 0, await client.text(f"{path}/{args.csv}")
                return 0, {"request": request, "export": await client.get(path)}
            return 0, {"request": request}
    finally:
        await pool.close()


class Feedback:
    """The feedback service's internal API, as the gateway calls it for an admin."""

    def __init__(self, http: aiohttp.ClientSession, caller: Caller) -> None:
        self.http, self.caller = http, caller

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, bytes]:
        headers = {**self.caller.headers(), **kw.pop("headers", {})}
        try:
            async with self.http.request(method, path, headers=headers, **kw) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SystemExit(f"privacy: the feedback service is unavailable: {exc!r}") from None

    async def get(self, path: str) -> Any:
        return json.loads(await self.text(path))

    async def text(self, path: str) -> str:
        status, raw = await self.call("GET", path)
        _refused(status, raw)
        return raw.decode()

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        status, raw = await self.call("POST", path, json=body, headers=headers)
        _refused(status, raw)
        return json.loads(raw)


def _refused(status: int, raw: bytes) -> None:
    if status >= 400:
        try:
            message = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = raw.decode(errors="replace")[:200]
        raise SystemExit(f"privacy: {status}: {message}")


async def file(pool: asyncpg.Pool, settings: GatewaySettings, client: Feedback,
               args: argparse.Namespace) -> dict[str, Any]:
    """The request as the API files it: the gateway's part of an erasure first, then the
    feedback service's; audited like the API's POST."""
    kind = "export" if args.privacy_command == "export" else "erasure"
    try:
        asked = PrivacyRequestIn(type=kind, customer_email=args.email)
    except ValidationError as exc:
        raise SystemExit(f"privacy: --email: {exc.errors()[0]['msg']}") from None
    headers = {}
    if kind == "erasure":
        count = await forget_replays(pool, settings.key_ring(), client.caller.tenant_id,
                                     asked.customer_email)
        headers[GATEWAY_REPLAYS_ERASED] = str(count)
    request: dict[str, Any] = await client.post(
        "/privacy/requests", asked.model_dump(), headers)
    await insert_events(pool, [AuditEvent(
        tenant_id=client.caller.tenant_id, at=datetime.now(UTC), user_id=None, key_id=None,
        session_id=None, role=ACTOR, method="POST", operation="/v1/privacy/requests",
        path=f"python -m resonanz.gateway privacy {args.privacy_command}",
        target_id=request["id"], status=202, request_id=client.caller.request_id)])
    return request


async def follow(client: Feedback, request: dict[str, Any], wait: float) -> dict[str, Any]:
    """Poll until complete or `wait` runs out; each service's part on stderr as it is done."""
    deadline = time.monotonic() + wait
    told: dict[str, str] = {}
    while True:
        for step in request["progress"]:
            if told.get(step["service"]) != step["status"]:
                told[step["service"]] = step["status"]
                print(f"{request['id']} {step['service']}: {step['status']}", file=sys.stderr)
        if request["status"] == "completed" or time.monotonic() >= deadline:
            print(f"{request['id']} {request['type']}: {request['status']}", file=sys.stderr)
            return request
        await asyncio.sleep(POLL)
        request = await client.get(f"/privacy/requests/{request['id']}")
