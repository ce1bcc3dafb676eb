"""The public edge: keys, roles, tenant isolation, rate limits, idempotency, users."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg

from resonanz.devstack.supervisor import ServiceProcess, Stack, free_port
from resonanz.shared.events import CloudEvent

from .conftest import Infra, running_stack
from .helpers import Api, admin, metric_value, new_tenant
from .support import eventually, query, query_value, topic_records

FEEDBACK = {"body": "Die Lieferung kam zwei Tage zu spät, der Karton war beschädigt.",
            "rating": 2}


async def key_for(stack: Stack, tenant: str, role: str) -> str:
    out = await admin(stack, "create-key", "--tenant", tenant, "--role", role)
    return str(out["api_key"])


# --- keys ------------------------------------------------------------------------------


async def test_the_database_holds_no_plaintext_key(shared_stack: Stack,
                                                   http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack)
    await Api(http, shared_stack, key).ok("GET", "/v1/me")
    conn = await asyncpg.connect(shared_stack.database_url)
    try:
        rows = [r for table in ("api_keys", "tenants", "users")
                for r in await conn.fetch(f"SELECT * FROM gateway.{table}")]
    finally:
        await conn.close()
    dump = "\n".join(str(dict(r)) for r in rows)
    secret = key.removeprefix("rsz_live_")
    assert secret not in dump and secret[:20] not in dump
    assert key[:15] in dump  # the visible prefix is kept for people to recognise it


async def test_a_mistyped_key_is_refused_without_a_database_lookup(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    typo = key[:-1] + ("a" if key[-1] != "a" else "b")
    gateway = shared_stack.services["gateway"].ops_url  # where its /metrics is
    before = await metric_value(http, gateway, "resonanz_gateway_key_lookups_total")
    status, body, _ = await Api(http, shared_stack, typo).call("GET", "/v1/me")
    assert status == 401 and body["meta"]["error"]["code"] == "unauthorized"
    status, _, _ = await Api(http, shared_stack, "fbp_live_7xK9mP2wQvN4").call("GET", "/v1/me")
    assert status == 401
    assert await metric_value(http, gateway, "resonanz_gateway_key_lookups_total") == before


async def test_both_header_forms_are_accepted(shared_stack: Stack,
                                              http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack)
    gateway = shared_stack.services["gateway"].url
    async with http.get(f"{gateway}/api/v1/me", headers={"X-API-Key": key}) as response:
        assert response.status == 200
        assert (await response.json())["data"]["id"] == tenant


async def test_a_revoked_key_fails_on_the_very_next_request(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, owner_key = await new_tenant(shared_stack)
    created = await admin(shared_stack, "create-key", "--tenant", tenant, "--role", "editor")
    api = Api(http, shared_stack, created["api_key"])
    await api.ok("GET", "/api/v1/me")  # cached by the gateway now
    # Through the API, not the CLI: a subprocess's start-up outlasts the one-second key
    # cache and would hide a revocation the gateway was never told of.
    await Api(http, shared_stack, owner_key).ok("DELETE", f"/v1/api-keys/{created['key']['id']}")
    status, body, _ = await api.call("GET", "/api/v1/me")
    assert status == 401 and body["success"] is False


async def test_rotation_keeps_the_old_key_for_its_24_hour_grace_and_not_after(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, _ = await new_tenant(shared_stack)
    created = await admin(shared_stack, "create-key", "--tenant", tenant, "--role", "editor")
    old_id = uuid.UUID(created["key"]["id"])
    rotated = await admin(shared_stack, "rotate-key", "--id", created["key"]["id"])
    old, new = (Api(http, shared_stack, k) for k in (created["api_key"], rotated["api_key"]))
    await old.ok("GET", "/v1/me")
    await new.ok("GET", "/v1/me")
    grace = await query_value(shared_stack.database_url, "SELECT expires_at - now()"
                              " FROM gateway.api_keys WHERE id = $1", old_id)
    assert timedelta(hours=23, minutes=59) < grace <= timedelta(hours=24)
    # The last minute of the grace: still accepted.
    await query(shared_stack.database_url, "UPDATE gateway.api_keys SET expires_at ="
                " now() + interval '1 minute' WHERE id = $1", old_id)
    await old.ok("GET", "/v1/me")
    # The grace over (plain SQL holds everywhere within the key cache's one second).
    await query(shared_stack.database_url, "UPDATE gateway.api_keys SET expires_at ="
                " now() - interval '1 second' WHERE id = $1", old_id)
    await eventually(lambda: old.call("GET", "/v1/me"), lambda r: r[0] == 401, within=3,
                     what="the rotated-out key refused after its grace")
    await new.ok("GET", "/v1/me")


async def test_a_key_unused_for_twelve_months_expires(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, _ = await new_tenant(shared_stack)
    idle, recent = [await admin(shared_stack, "create-key", "--tenant", tenant,
                                "--role", "editor") for _ in range(2)]
    for created, days_ago in ((idle, 366), (recent, 364)):
        await query(shared_stack.database_url,
                    "UPDATE gateway.api_keys SET created_at = now() - make_interval(days => $2),"
                    " last_used_at = NULL WHERE id = $1",
                    uuid.UUID(created["key"]["id"]), days_ago)
    status, body, _ = await Api(http, shared_stack, idle["api_key"]).call("GET", "/v1/me")
    assert status == 401, body
    await Api(http, shared_stack, recent["api_key"]).ok("GET", "/v1/me")
    # Used 364 days ago counts from the use, not from the creation.
    await query(shared_stack.database_url,
                "UPDATE gateway.api_keys SET created_at = now() - interval '800 days',"
                " last_used_at = now() - interval '364 days' WHERE id = $1",
                uuid.UUID(idle["key"]["id"]))
    await eventually(lambda: Api(http, shared_stack, idle["api_key"]).call("GET", "/v1/me"),
                     lambda r: r[0] == 200, within=3, what="a key used within the year")


WRITE_ROUTES = [
    ("POST", "/v1/feedback"), ("PATCH", "/v1/feedback/{id}"), ("DELETE", "/v1/feedback/{id}"),
    ("POST", "/v1/users"), ("DELETE", "/v1/users/{id}"), ("PATCH", "/v1/widgets/{id}"),
    ("POST", "/v1/widgets/{id}/pause"), ("POST", "/v1/widgets/{id}/resume"),
    ("POST", "/api/v1/responses/{id}/approve"), ("POST", "/api/v1/responses/{id}/reject"),
    ("POST", "/api/v1/campaigns"), ("PATCH", "/api/v1/campaigns/{id}"),
    ("POST", "/api/v1/campaigns/{id}/pause"), ("POST", "/api/v1/campaigns/{id}/resume"),
    ("POST", "/api/v1/webhooks"), ("DELETE", "/api/v1/webhooks/{id}"),
]


async def test_viewer_keys_get_403_on_every_write_route(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, owner_key = await new_tenant(shared_stack)
    entry = (await Api(http, shared_stack, owner_key).ok("POST", "/v1/feedback", FEEDBACK))
    viewer = Api(http, shared_stack, await key_for(shared_stack, tenant, "viewer"))
    for method, path in WRITE_ROUTES:
        status, body, _ = await viewer.call(method, path.format(id=entry["data"]["id"]), {})
        assert status == 403, (method, path, body)
    await viewer.ok("GET", "/v1/feedback")


async def test_another_tenants_resources_are_404_never_403(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key_a = await new_tenant(shared_stack, "Shop A")
    _, key_b = await new_tenant(shared_stack, "Shop B")
    a, b = Api(http, shared_stack, key_a), Api(http, shared_stack, key_b)
    theirs = (await b.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    for method, path, body in [
        ("GET", f"/v1/feedback/{theirs}", None),
        ("PATCH", f"/v1/feedback/{theirs}", {"status": "pending"}),
        ("DELETE", f"/v1/feedback/{theirs}", None),
        ("GET", f"/api/v1/responses/{theirs}", None),
        ("POST", f"/api/v1/responses/{theirs}/approve", None),
        ("POST", f"/api/v1/responses/{theirs}/reject", {"reason": "x"}),
    ]:
        status, _, _ = await a.call(method, path, body)
        assert status == 404, (method, path)
    assert (await b.ok("GET", f"/v1/feedback/{theirs}"))["data"]["status"] == "new"


# --- rate limits -----------------------------------------------------------------------


async def test_feedbackpro_writes_are_limited_to_20_per_minute(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack, limited=True)
    api = Api(http, shared_stack, key)
    results = [await api.call("POST", "/v1/feedback", FEEDBACK) for _ in range(21)]
    assert [s for s, _, _ in results] == [201] * 20 + [429]
    _, body, headers = results[-1]
    assert body["meta"]["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["RateLimit-Policy"] == '"writes";q=20;w=60'
    assert results[0][2]["RateLimit"].startswith('"writes";r=19;')
    await api.ok("GET", "/v1/feedback")  # reads have their own budget


async def test_feedbackpro_reads_are_limited_to_60_per_minute(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack, limited=True)
    api = Api(http, shared_stack, key)
    results = [await api.call("GET", "/v1/feedback") for _ in range(61)]
    assert [s for s, _, _ in results] == [200] * 60 + [429]
    assert results[-1][2]["RateLimit-Policy"] == '"reads";q=60;w=60'
    assert (await api.call("POST", "/v1/feedback", FEEDBACK))[0] == 201  # writes: their own


async def test_pay4feedback_allows_60_per_minute_then_answers_like_the_reference(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack, limited=True)
    api = Api(http, shared_stack, key)
    statuses = [(await api.call("GET", "/api/v1/me"))[0] for _ in range(60)]
    assert statuses == [200] * 60
    status, body, headers = await api.call("GET", "/api/v1/me")
    assert status == 429
    assert body["success"] is False
    assert body["error"] == f"Rate limit exceeded. Retry in {headers['Retry-After']}s."


async def test_refusals_too_say_what_is_left_of_the_quota_in_both_dialects(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """A 400, 403, 404 or 409 has spent quota like a 200: the OpenAPI document lists the
    RateLimit fields on each, and a client pacing itself by them must see them there too."""
    tenant, key = await new_tenant(shared_stack, limited=True)
    viewer = Api(http, shared_stack, await key_for(shared_stack, tenant, "viewer"))
    api = Api(http, shared_stack, key)
    missing = "00000000-0000-0000-0000-000000000000"
    calls = [
        (api, "GET", f"/v1/feedback/{missing}", None, 404, '"reads";r=59;'),
        (api, "GET", "/v1/feedback?status=bogus", None, 400, '"reads";r=58;'),
        (viewer, "POST", "/v1/feedback", FEEDBACK, 403, '"writes";r=19;'),
        (api, "GET", f"/api/v1/responses/{missing}", None, 404, '"api";r=59;'),
        (viewer, "POST", f"/api/v1/responses/{missing}/approve", None, 403, '"api";r=58;'),
    ]
    for client, method, path, body, status, left in calls:
        got, _, headers = await client.call(method, path, body)
        assert got == status, (method, path, got)
        assert headers.get("RateLimit", "").startswith(left), (path, dict(headers))
        assert "RateLimit-Policy" in headers, path


async def test_get_users_is_limited_to_30_per_minute(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack, limited=True)
    api = Api(http, shared_stack, key)
    statuses = [(await api.call("GET", "/v1/users"))[0] for _ in range(31)]
    assert statuses == [200] * 30 + [429]


async def test_a_tenant_created_with_a_limit_of_its_own_is_held_to_it(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    out = await admin(shared_stack, "create-tenant", "--name", "Kleiner Shop", "--owner-email",
                      "owner@kleiner-shop.example", "--rate-limit", "feedbackpro.writes=3")
    assert out["tenant"]["rate_limits"] == {"feedbackpro.writes": 3}
    api = Api(http, shared_stack, out["api_key"])
    results = [await api.call("POST", "/v1/feedback", FEEDBACK) for _ in range(4)]
    assert [s for s, _, _ in results] == [201] * 3 + [429]
    assert results[-1][2]["RateLimit-Policy"] == '"writes";q=3;w=60'
    for wrong in ("feedbackpro.write=3", "feedbackpro.writes=0", "feedbackpro.writes",
                  "feedbackpro.writes=2147483648"):
        refused = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "resonanz.gateway", "admin", "create-tenant",
                             "--name", "Nie", "--owner-email", "owner@nie.example",
                             "--rate-limit", wrong],
            env=shared_stack.env(), capture_output=True, text=True)
        assert refused.returncode == 2, wrong
        assert "--rate-limit" in refused.stderr, refused.stderr
    assert await query_value(shared_stack.database_url,
                             "SELECT count(*) FROM gateway.tenants WHERE name = 'Nie'") == 0


async def test_failed_authentication_spends_no_tenant_quota_and_is_limited_per_address(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(shared_stack, limited=True)
    created = await admin(shared_stack, "create-key", "--tenant", tenant, "--role", "editor")
    await admin(shared_stack, "revoke-key", "--id", created["key"]["id"])
    # From an address of this test's own: other tests' failures from 127.0.0.1 don't count.
    address = f"127.{secrets.randbelow(200) + 50}.{secrets.randbelow(250) + 1}.1"
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0))) as own:
        revoked = Api(own, shared_stack, created["api_key"])
        statuses = [(await revoked.call("GET", "/api/v1/me"))[0] for _ in range(31)]
        # The limit is per address: another address still gets its 401.
        assert (await Api(http, shared_stack, created["api_key"]).call(
            "GET", "/api/v1/me"))[0] == 401
    assert statuses == [401] * 30 + [429]  # RESONANZ_AUTH_FAILURES_PER_MINUTE's default 30
    fine = [(await Api(http, shared_stack, key).call("GET", "/api/v1/me"))[0]
            for _ in range(60)]
    assert fine == [200] * 60  # the tenant's 60 are untouched


# --- idempotency -----------------------------------------------------------------------


async def test_idempotency_key_replays_the_first_response_and_creates_once(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", "/v1/feedback", FEEDBACK, headers=headers)
    again = await api.call("POST", "/v1/feedback", FEEDBACK, headers=headers)
    assert first[0] == again[0] == 201
    assert first[1]["data"] == again[1]["data"]
    assert again[2]["Location"] == first[2]["Location"]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert (await api.ok("GET", "/v1/feedback"))["meta"]["total"] == 1
    status, body, _ = await api.call("POST", "/v1/feedback", {**FEEDBACK, "rating": 5},
                                     headers=headers)
    assert status == 422
    assert body["meta"]["error"]["code"] == "idempotency_key_reused"


async def test_a_request_refused_as_invalid_leaves_its_key_for_the_corrected_one(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """Stripe's rule: a request that failed validation did nothing and is not kept, so the
    client may fix it and send it again under the same key."""
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    status, body, _ = await api.call("POST", "/v1/feedback", {**FEEDBACK, "rating": 9},
                                     headers=headers)
    assert status == 400, body
    fixed = await api.call("POST", "/v1/feedback", FEEDBACK, headers=headers)
    assert fixed[0] == 201 and "Idempotent-Replayed" not in fixed[2]
    again = await api.call("POST", "/v1/feedback", FEEDBACK, headers=headers)
    assert again[0] == 201 and again[2]["Idempotent-Replayed"] == "true"
    assert again[1]["data"]["id"] == fixed[1]["data"]["id"]
    assert (await api.ok("GET", "/v1/feedback"))["meta"]["total"] == 1


async def test_idempotency_keys_are_scoped_by_tenant(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    headers = {"Idempotency-Key": "order-4711"}
    for name in ("Scope A", "Scope B"):
        _, key = await new_tenant(shared_stack, name)
        status, _, response_headers = await Api(http, shared_stack, key).call(
            "POST", "/v1/feedback", FEEDBACK, headers=headers)
        assert status == 201 and "Idempotent-Replayed" not in response_headers


async def test_concurrent_requests_with_one_key_do_the_work_once(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    results = await asyncio.gather(*(api.call("POST", "/v1/feedback", FEEDBACK,
                                              headers=headers) for _ in range(5)))
    assert {s for s, _, _ in results} <= {201, 409}
    assert (await api.ok("GET", "/v1/feedback"))["meta"]["total"] == 1


async def test_a_request_while_the_first_with_its_key_still_runs_gets_409(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    conn = await asyncpg.connect(shared_stack.database_url)
    try:
        held = conn.transaction()
        await held.start()
        await conn.execute("LOCK TABLE feedback.entries IN SHARE MODE")  # inserts wait
        first = asyncio.ensure_future(api.call("POST", "/v1/feedback", FEEDBACK,
                                               headers=headers))
        await eventually(lambda: query_value(
            shared_stack.database_url, "SELECT state FROM gateway.idempotency_keys"
            " WHERE key = $1", headers["Idempotency-Key"]), lambda s: s == "in_flight",
            within=5, what="the first request running")
        status, body, _ = await api.call("POST", "/v1/feedback", FEEDBACK, headers=headers)
        assert status == 409, body
        await held.rollback()
    finally:
        await conn.close()
    assert (await first)[0] == 201
    again = await api.call("POST", "/v1/feedback", FEEDBACK, headers=headers)
    assert again[0] == 201 and again[2]["Idempotent-Replayed"] == "true"
    assert (await api.ok("GET", "/v1/feedback"))["meta"]["total"] == 1


async def test_an_idempotency_key_holds_for_24_hours_and_on_any_post(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    widget = {"name": "Checkout survey"}
    first = await api.call("POST", "/v1/widgets", widget, headers=headers)
    assert first[0] == 201

    async def aged(interval: str) -> tuple[int, Any, Any]:
        await query(shared_stack.database_url, "UPDATE gateway.idempotency_keys SET"
                    f" created_at = now() - interval '{interval}' WHERE key = $1",
                    headers["Idempotency-Key"])
        return await api.call("POST", "/v1/widgets", widget, headers=headers)

    within = await aged("23 hours 59 minutes")
    assert within[0] == 201 and within[2]["Idempotent-Replayed"] == "true"
    assert within[1]["data"]["id"] == first[1]["data"]["id"]
    after = await aged("24 hours 1 second")
    assert after[0] == 201 and "Idempotent-Replayed" not in after[2]
    assert after[1]["data"]["id"] != first[1]["data"]["id"]
    assert (await api.ok("GET", "/v1/widgets"))["meta"]["total"] == 2


# --- team members ------------------------------------------------------------------------


async def read_topic(infra: Infra, topic: str, wanted: int) -> list[CloudEvent]:
    return [CloudEvent.from_bytes(r.value)
            for r in await topic_records(infra.bootstrap_servers, topic, wanted, within=20)]


async def test_inviting_and_removing_a_member_emits_events_and_reassigns_their_entries(
    shared_stack: Stack, infra: Infra, http: aiohttp.ClientSession,
) -> None:
    tenant, key = await new_tenant(shared_stack, "Team")
    api = Api(http, shared_stack, key)
    status, body, headers = await api.call("POST", "/v1/users", {
        "email": "marlene.hoffmann@shopware-ag.de", "role": "editor"})
    assert status == 201, body
    invited = body["data"]
    assert invited["status"] == "pending" and invited["invitation_token"]
    assert headers["Location"] == f"/v1/users/{invited['id']}"
    status, body, _ = await api.call("POST", "/v1/users", {
        "email": "Marlene.Hoffmann@shopware-ag.de"})
    assert status == 409
    users = (await api.ok("GET", "/v1/users"))["data"]
    assert {u["email"] for u in users} >= {"marlene.hoffmann@shopware-ag.de"}
    assert all({"role", "last_active_at", "email_verified"} <= set(u) for u in users)

    entry = (await api.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    await api.ok("PATCH", f"/v1/feedback/{entry}", {"assignee": invited["id"]})

    status, body, _ = await api.call("DELETE", f"/v1/users/{invited['id']}")
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "X-Confirm"
    await api.ok("DELETE", f"/v1/users/{invited['id']}", headers={"X-Confirm": "true"})

    owner = (await admin(shared_stack, "list-tenants"))
    owner_id = next(t["owner_id"] for t in owner if t["id"] == tenant)
    await eventually(lambda: api.ok("GET", f"/v1/feedback/{entry}"),
                     lambda b: b["data"]["assigned_to"] == owner_id,
                     what="the removed member's entry reassigned to the owner")
    topic = shared_stack.extra_env["RESONANZ_TOPIC_IDENTITY"]

    def members(events: list[Any]) -> list[str]:  # the keys' api_key.* events aside
        return [e.type for e in events if e.tenantid == tenant and e.type.startswith("user.")]
    types = members(await read_topic(infra, topic, 1))
    await eventually(lambda: read_topic(infra, topic, 2),
                     lambda evs: members(evs) == ["user.invited", "user.removed"])
    assert types[0] == "user.invited"


async def test_only_admins_manage_members(shared_stack: Stack,
                                          http: aiohttp.ClientSession) -> None:
    tenant, _ = await new_tenant(shared_stack)
    editor = Api(http, shared_stack, await key_for(shared_stack, tenant, "editor"))
    status, _, _ = await editor.call("POST", "/v1/users", {"email": "x@example.com"})
    assert status == 403


# --- upstream failure and several gateways ----------------------------------------------


async def test_a_service_that_is_down_yields_503_in_the_dialect(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    analytics = shared_stack.services["analytics"]
    analytics.stop()
    try:
        status, body, _ = await api.call("GET", "/v1/analytics/summary")
        assert status == 503
        assert body["meta"]["error"]["code"] == "service_unavailable"
    finally:
        analytics.start()
        await asyncio.to_thread(shared_stack.wait_ready, ("analytics",))


async def test_two_gateways_sharing_redis_hold_60_per_minute(
    infra: Infra, redis: str, tmp_path: Any, http: aiohttp.ClientSession,
) -> None:
    env = {"RESONANZ_RATE_LIMIT_BACKEND": "redis", "RESONANZ_REDIS_URL": f"{redis}/14"}
    async with running_stack(infra, tmp_path / "run", env) as stack:
        second = ServiceProcess("gateway", free_port(), tmp_path / "gateway2.log",
                                env={**stack.services["gateway"].env})
        second.env["RESONANZ_PORT"] = str(second.port)
        second.start()
        try:
            await asyncio.to_thread(_wait_http, second)
            _, key = await new_tenant(stack, limited=True)
            urls = [stack.services["gateway"].url, second.url]

            async def one(i: int) -> int:
                async with http.get(f"{urls[i % 2]}/api/v1/me",
                                    headers={"X-API-Key": key}) as response:
                    return response.status
            statuses = await asyncio.gather(*(one(i) for i in range(240)))
        finally:
            second.stop()
    allowed = statuses.count(200)
    print(f"two gateways, 240 concurrent requests: {allowed} allowed (limit 60)")
    assert allowed == 60
    assert statuses.count(429) == 240 - allowed


def _wait_http(proc: ServiceProcess) -> None:
    import time

    deadline = time.monotonic() + 20
    while not proc.ready():
        assert time.monotonic() < deadline, "second gateway not ready"
        time.sleep(0.1)
