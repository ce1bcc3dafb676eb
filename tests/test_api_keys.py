"""API keys and team roles through the public API (issue 18), against the real stack:
keys created (the whole key once, then only its prefix), rotated (the old key works for
its grace), revoked (refused on the very next request), admins only; members' roles
changed and invitations sent again."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from .helpers import Api
from .test_webhooks_support import topic
from .test_widgets_support import topic_events

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack


def as_key(api: Api, key: str) -> Api:
    """The same platform, called with another key."""
    other = copy.copy(api)
    other.key = key
    return other


async def new_key(api: Api, role: str = "editor", base: str = "/v1", **extra: Any
                  ) -> dict[str, Any]:
    status, body, headers = await api.call(
        "POST", f"{base}/api-keys", {"name": f"{role} integration", "role": role, **extra})
    assert status == 201, body
    key: dict[str, Any] = body["data"]
    assert headers["Location"] == f"{base}/api-keys/{key['id']}"
    return key


def named_fields(body: dict[str, Any]) -> set[str]:
    """The fields an error names, in either dialect."""
    details = body["meta"]["error"]["details"] if "meta" in body else body["details"]
    return {d["field"] for d in details}


def error_message(body: dict[str, Any]) -> str:
    return str(body["meta"]["error"]["message"] if "meta" in body else body["error"])


async def test_a_key_is_shown_once_then_only_its_prefix_in_both_dialects(api: Api) -> None:
    created = await new_key(api, "editor")
    assert created["key"].startswith(created["prefix"]) and len(created["key"]) > 30
    assert created["role"] == "editor" and created["status"] == "active"
    assert created["expires_at"] is None and created["revoked_at"] is None
    # Made with the owner's key: the owner is recorded as who created it.
    assert created["created_by"]["email"].startswith("owner@")
    me = await as_key(api, created["key"]).ok("GET", "/v1/me")
    assert me["data"]["key"] == {"id": created["id"], "role": "editor"}

    p4f = await new_key(api, "viewer", base="/api/v1")
    _, body, _ = await api.call("POST", "/api/v1/api-keys", {"name": "x", "role": "viewer"})
    assert body["success"] is True and body["data"]["key"].startswith("rsz_live_")

    for base in ("/v1", "/api/v1"):
        status, listed, _ = await api.call("GET", f"{base}/api-keys")
        assert status == 200
        text = json.dumps(listed)
        for secret in (created["key"], p4f["key"], body["data"]["key"]):
            assert secret not in text, "a listed key shows its prefix only"
        rows = {k["id"]: k for k in listed["data"]}
        assert rows[created["id"]]["prefix"] == created["prefix"]
        assert "key" not in rows[created["id"]] and len(rows) == 4  # and the owner's key
        one = await api.ok("GET", f"{base}/api-keys/{created['id']}")
        assert one["data"]["name"] == "editor integration" and "key" not in one["data"]


async def test_an_expiry_must_lie_ahead_within_two_years_and_errors_name_the_field(
        api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    far = (datetime.now(UTC) + timedelta(days=800)).isoformat()
    for base in ("/v1", "/api/v1"):
        for sent, field in (({"name": "k", "expires_at": past}, "expires_at"),
                            ({"name": "k", "expires_at": far}, "expires_at"),
                            ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
                            ({"name": "", "role": "viewer"}, "name"),
                            ({"role": "viewer"}, "name"),
                            ({"name": "k", "role": "owner"}, "role")):
            status, body, _ = await api.call("POST", f"{base}/api-keys", sent)
            assert status == 400, (base, sent, body)
            assert field in named_fields(body) and field in error_message(body), body
    soon = datetime.now(UTC) + timedelta(days=30)
    created = await new_key(api, "viewer", expires_at=soon.isoformat())
    ends = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert abs(ends - soon) < timedelta(seconds=1)
    await as_key(api, created["key"]).ok("GET", "/v1/me")


async def test_a_rotated_key_keeps_working_for_its_grace_beside_its_successor(api: Api) -> None:
    old = await new_key(api, "editor")
    status, body, headers = await api.call("POST", f"/v1/api-keys/{old['id']}/rotate")
    assert status == 201, body
    new = body["data"]
    assert new["id"] != old["id"] and new["key"] != old["key"]
    assert new["role"] == "editor" and new["name"] == old["name"]
    assert headers["Location"] == f"/v1/api-keys/{new['id']}"
    for key, expected in ((old, old["id"]), (new, new["id"])):
        me = await as_key(api, key["key"]).ok("GET", "/v1/me")
        assert me["data"]["key"] == {"id": expected, "role": "editor"}
    before = (await api.ok("GET", f"/v1/api-keys/{old['id']}"))["data"]
    assert before["replaced_by"] == new["id"] and before["status"] == "active"
    grace = datetime.fromisoformat(before["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=59) < grace - datetime.now(UTC) <= timedelta(hours=24)
    assert json.dumps(before).count(new["key"]) == 0

    # Rotating through the Pay4Feedback path answers its envelope.
    status, body, _ = await api.call("POST", f"/api/v1/api-keys/{new['id']}/rotate")
    assert status == 201 and body["success"] is True and body["data"]["key"] != new["key"]


async def test_a_revoked_key_is_refused_on_the_next_request(api: Api) -> None:
    created = await new_key(api, "admin")
    holder = as_key(api, created["key"])
    await holder.ok("GET", "/v1/api-keys")  # cached on the gateway now
    status, body, _ = await api.call("DELETE", f"/v1/api-keys/{created['id']}")
    assert status == 200 and body["data"]["status"] == "revoked", body
    status, _, _ = await holder.call("GET", "/v1/me")
    assert status == 401
    status, body, _ = await api.call("POST", f"/v1/api-keys/{created['id']}/rotate")
    assert status == 409 and "id" in named_fields(body), "a revoked key is not rotated"
    status, _, _ = await api.call("DELETE", f"/api/v1/api-keys/{uuid.uuid4()}")
    assert status == 404


async def test_viewers_and_editors_cannot_see_or_manage_keys(api: Api) -> None:
    target = await new_key(api, "viewer")
    for role in ("viewer", "editor"):
        caller = as_key(api, (await new_key(api, role))["key"])
        for base in ("/v1", "/api/v1"):
            for method, path, sent in (
                    ("GET", f"{base}/api-keys", None),
                    ("GET", f"{base}/api-keys/{target['id']}", None),
                    ("POST", f"{base}/api-keys", {"name": "mine", "role": "viewer"}),
                    ("POST", f"{base}/api-keys/{target['id']}/rotate", None),
                    ("DELETE", f"{base}/api-keys/{target['id']}", None)):
                status, body, _ = await caller.call(method, path, sent)
                assert status == 403, (role, method, path, body)
    listed = (await api.ok("GET", "/v1/api-keys"))["data"]
    assert {k["id"]: k["status"] for k in listed}[target["id"]] == "active"
    assert len(listed) == 4


async def test_another_organizations_key_is_not_found(api: Api, shared_stack: Any) -> None:
    from .helpers import new_tenant

    _, other_key = await new_tenant(shared_stack, "Other")
    other = as_key(api, other_key)
    mine = await new_key(api, "editor")
    for method, path in (("GET", f"/v1/api-keys/{mine['id']}"),
                         ("POST", f"/v1/api-keys/{mine['id']}/rotate"),
                         ("DELETE", f"/v1/api-keys/{mine['id']}")):
        status, _, _ = await other.call(method, path)
        assert status == 404, (method, path)
    await as_key(api, mine["key"]).ok("GET", "/v1/me")


# --- team: roles and invitations -------------------------------------------------------------


async def accept(api: Api, token: str, http: aiohttp.ClientSession) -> tuple[int, Any]:
    async with http.post(api.base + "/v1/invitations/accept",
                         json={"token": token, "password": "Feedback-Lesen-2026"}) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_a_members_role_changes_but_not_ones_own_nor_the_owners(api: Api) -> None:
    invited = (await api.ok("POST", "/v1/users", {"email": f"r-{uuid.uuid4().hex[:8]}@team.example",
                                                  "role": "viewer"}))["data"]
    # The jar keeps the session cookie of an IP address's site (the stack's gateway).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        status, _ = await accept(api, invited["invitation_token"], browser)
        assert status == 200
        changed = await api.ok("PATCH", f"/v1/users/{invited['id']}", {"role": "editor"})
        assert changed["data"]["role"] == "editor"
        async with browser.get(api.base + "/v1/session") as answer:
            assert (await answer.json())["data"]["user"]["role"] == "editor", "at once"
    listed = {u["id"]: u for u in (await api.ok("GET", "/v1/users"))["data"]}
    assert listed[invited["id"]]["role"] == "editor"

    status, body, _ = await api.call("PATCH", f"/v1/users/{invited['id']}", {"role": "boss"})
    assert status == 400 and "role" in named_fields(body)
    owner = next(u for u in listed.values() if u["email"].startswith("owner@"))
    status, body, _ = await api.call("PATCH", f"/v1/users/{owner['id']}", {"role": "editor"})
    assert status == 403 and "id" in named_fields(body), "the owner's key is the owner's own"
    other_admin = as_key(api, (await new_key(api, "admin"))["key"])
    status, body, _ = await other_admin.call("PATCH", f"/v1/users/{owner['id']}",
                                             {"role": "viewer"})
    assert status == 409 and "role" in named_fields(body), "the owner stays an admin"
    editor = as_key(api, (await new_key(api, "editor"))["key"])
    status, _, _ = await editor.call("PATCH", f"/v1/users/{invited['id']}", {"role": "admin"})
    assert status == 403
    status, _, _ = await api.call("PATCH", f"/v1/users/{uuid.uuid4()}", {"role": "viewer"})
    assert status == 404


async def test_an_invitation_sent_again_replaces_the_old_link(api: Api) -> None:
    address = f"again-{uuid.uuid4().hex[:8]}@team.example"
    invited = (await api.ok("POST", "/v1/users", {"email": address, "role": "editor"}))["data"]
    status, body, _ = await api.call("POST", f"/v1/users/{invited['id']}/invitation")
    assert status == 200, body
    again = body["data"]
    assert again["invitation_token"] != invited["invitation_token"]
    assert again["status"] == "pending" and again["email"] == address
    async with aiohttp.ClientSession() as browser:
        status, body = await accept(api, invited["invitation_token"], browser)
        assert status == 400 and "token" in named_fields(body), "the old link is dead"
        status, _ = await accept(api, again["invitation_token"], browser)
        assert status == 200
    status, body, _ = await api.call("POST", f"/v1/users/{invited['id']}/invitation")
    assert status == 409 and "id" in named_fields(body), "accepted already"


async def test_a_pending_invitation_is_revoked_and_its_link_dies(api: Api) -> None:
    address = f"revoked-{uuid.uuid4().hex[:8]}@team.example"
    invited = (await api.ok("POST", "/v1/users", {"email": address, "role": "viewer"}))["data"]
    status, _, _ = await api.call("DELETE", f"/v1/users/{invited['id']}")
    assert status == 400, "removal asks for X-Confirm"
    await api.ok("DELETE", f"/v1/users/{invited['id']}", headers={"X-Confirm": "true"})
    async with aiohttp.ClientSession() as browser:
        status, _ = await accept(api, invited["invitation_token"], browser)
    assert status == 400
    assert invited["id"] not in {u["id"] for u in (await api.ok("GET", "/v1/users"))["data"]}
    # The address may be invited afresh.
    await api.ok("POST", "/v1/users", {"email": address, "role": "viewer"})


async def test_each_key_change_is_an_event_without_the_key(api: Api, shared_stack: Any) -> None:
    """api_key.created, .rotated and .revoked on the identity topic: id, prefix and role for a
    security team's trail, never the key."""
    me = (await api.ok("GET", "/v1/me"))["data"]
    created = await new_key(api, "viewer")
    rotated = (await api.ok("POST", f"/v1/api-keys/{created['id']}/rotate"))["data"]
    await api.ok("DELETE", f"/v1/api-keys/{rotated['id']}")
    events = await topic_events(shared_stack.bootstrap_servers,
                                topic(shared_stack, "identity"), 4, tenant=me["tenant"]["id"])
    ours = {created["id"], rotated["id"]}  # the owner's key was an event too
    changes = [(e.type, e.data) for _, e in events
               if e.type.startswith("api_key.") and e.data["key_id"] in ours]
    assert changes == [
        ("api_key.created", {"key_id": created["id"], "prefix": created["prefix"],
                             "role": "viewer"}),
        ("api_key.rotated", {"key_id": rotated["id"], "prefix": rotated["prefix"],
                             "role": "viewer", "replaces": created["id"]}),
        ("api_key.revoked", {"key_id": rotated["id"], "prefix": rotated["prefix"],
                             "role": "viewer"}),
    ], changes
    raw = json.dumps([e.data for _, e in events])
    assert created["key"] not in raw and rotated["key"] not in raw
