"""One-time secrets never rest in plaintext: a replayed idempotent response that carries
a webhook's signing secret is kept sealed and replayed only to the key that asked; an
invitation token is kept as a digest or sealed wherever it travels."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import aiohttp

from resonanz.devstack.supervisor import Stack

from .helpers import admin, bearer, new_tenant
from .support import eventually, places_holding, query_value

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

BODY = {"url": "https://hooks.shop.example/resonanz", "events": ["feedback_created"]}


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


async def test_an_invitation_token_rests_only_as_a_digest_or_sealed(
        shared_stack: Stack, http: aiohttp.ClientSession) -> None:
    """The invitee's token is answered once; the users store keeps its digest, the replay
    store, the outbox, the topic and the mail queue keep it sealed."""
    _, key = await new_tenant(shared_stack, "Sealed Invitations")
    email = "ines.wagner@sealed-invitations.example"
    async with http.post(f"{shared_stack.services['gateway'].url}/v1/users",
                         json={"email": email, "role": "editor"},
                         headers={**bearer(key), "Idempotency-Key": "invite-1"}) as response:
        assert response.status == 201
        token = (await response.json())["data"]["invitation_token"]

    def queued() -> Awaitable[int]:
        return query_value(shared_stack.database_url,
                           "SELECT count(*) FROM webhooks.outgoing_mail WHERE recipient = $1",
                           email)

    await eventually(queued, lambda n: n == 1, within=30, what="the invitation mail queued")
    assert await places_holding(shared_stack.database_url, token) == []
