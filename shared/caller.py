"""Who is asking a domain service, as the gateway (or another service) says it: the
tenant, the actor (a member's user id, `key:<id>`, `widget:<public id>`, or a system
name), the actor's role and the request id. Sent with `Caller.headers()` and read with
`caller_of()`: one definition for every service, behind the internal token."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .errors import InvalidInput

TENANT, ACTOR, ROLE, REQUEST_ID = "X-Tenant-Id", "X-Actor-Id", "X-Actor-Role", "X-Request-Id"
# With an erasure the gateway forwards: how many of its stored replays it deleted (its part
# of the erasure, done before it asked; docs/privacy.md).
GATEWAY_REPLAYS_ERASED = "X-Gateway-Replays-Erased"


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    actor_id: str | None = None
    role: str | None = None
    request_id: str | None = None

    def headers(self) -> dict[str, str]:
        found = {TENANT: self.tenant_id, ACTOR: self.actor_id, ROLE: self.role,
                 REQUEST_ID: self.request_id}
        return {name: value for name, value in found.items() if value}


def caller_of(request: web.Request) -> Caller:
    """The caller of an internal request; every keyed operation names its tenant."""
    tenant = request.headers.get(TENANT)
    if not tenant:
        raise InvalidInput(f"{TENANT} header is required",
                           details=[{"field": TENANT, "message": "required"}])
    return Caller(tenant, request.headers.get(ACTOR), request.headers.get(ROLE),
                  request.headers.get(REQUEST_ID))
