"""One-time secrets never rest in plaintext: a replayed idempotent response that carries
a webhook's signing secret is kept sealed and replayed only to the key that asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from resonanz.shared.devstack import Stack

from .helpers import admin, bearer, new_tenant
from .support import places_holding

BODY = {"url": "https://hooks.shop.example/resonanz", "events": ["feedback_created"]}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def create_webhook(http: aiohttp.ClientSession, stack: Stack, key: str,
                         idempotency_key: str) -> tuple[int, dict[str, str], Any]:
    headers = {**bearer(key), "Idempotency-Key": idempotency_key}
    async with http.post(f"{stack.services['gateway'].url}/api/v1/webhooks", json=BODY,
                         headers=headers) as response:
        return response.status, dict(response.headers), await response.json()


async def test_a_replayed_webhook_secret_is_sealed_at_rest_and_replayed_only_to_its_key(
        shared_stack: Stack, http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack, "Sealed Replays")
    other = (await admin(shared_stack, "create-key", "--tenant", tenant, "--role", "admin"))
    status, _, first = await create_webhook(http, shared_stack, key, "create-hook-1")
    assert status == 201
    secret = first["data"]["secret"]

    status, headers, again = await create_webhook(http, shared_stack, key, "create-hook-1")
    assert (status, headers.get("Idempotent-Replayed")) == (201, "true")
    assert again["data"]["secret"] == secret

    status, _, stolen = await create_webhook(http, shared_stack, other["api_key"],
                                             "create-hook-1")
    assert status == 422 and secret not in str(stolen)

    for needle in (secret, secret.removeprefix("whsec_"), key, other["api_key"]):
        assert await places_holding(shared_stack.database_url, needle) == [], needle
