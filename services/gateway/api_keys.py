"""API keys as the public API shows them: a key's status, the tenant's keys. The changes
(created, rotated and revoked by the tenant's admins) are commands (commands.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from . import store
from .auth import Principal

ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}


def status_of(key: dict[str, Any], now: datetime | None = None) -> str:
    if key["revoked_at"] is not None:
        return "revoked"
    if key["expires_at"] is not None and key["expires_at"] <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


def view(key: dict[str, Any]) -> dict[str, Any]:
    return {**key, "status": status_of(key)}


async def list_keys(pool: asyncpg.Pool, principal: Principal) -> list[dict[str, Any]]:
    return [view(k) for k in await store.key_views(pool, principal.tenant_id)]


async def get_key(pool: asyncpg.Pool, principal: Principal, key_id: str) -> dict[str, Any]:
    return view(await store.key_view(pool, principal.tenant_id, key_id))
