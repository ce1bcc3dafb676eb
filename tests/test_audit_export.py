"""Issue 18 through the gateway on a real stack: the organization's audit log (who, what,
when, from which key or session; filters; admins only; never a body), restoring a
soft-deleted entry, and the inbox export as CSV and JSON Lines (streamed, typed, the
list's filters, safe against formula injection)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from resonanz.devstack.supervisor import Stack
from resonanz.feedback.export import neutralised
from resonanz.gateway.audit_log import RETENTION_DAYS, AuditEvent, insert_events
from resonanz.gateway.housekeeping import purge_expired
from resonanz.shared.db import create_pool, migrate
from resonanz.shared.settings import Settings

from .helpers import Api, admin, bearer, new_tenant
from .support import eventually, places_holding, query, query_value
from .test_feedback_contract import fbp_error, p4f_ok
from .test_identity import Browser, member

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack


async def audit(api: Api, **filters: Any) -> list[dict[str, Any]]:
    return (await api.ok("GET", f"/v1/audit-log?{urlencode(filters)}"))["data"]


async def new_entry(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"body": "Lieferung kam pünktlich", "rating": 4, **fields}
    return (await api.ok("POST", "/v1/feedback", body))["data"]


async def test_a_change_by_key_and_by_session_is_in_the_log_without_its_body(
        shared_stack: Stack, http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack, "Audit Shop")
    api = Api(http, shared_stack, key)
    me = (await api.ok("GET", "/v1/me"))["data"]["key"]
    entry = await new_entry(api)
    secret_note = f"note-{uuid.uuid4().hex}"
    before = datetime.now(UTC) - timedelta(seconds=1)
    await api.ok("PATCH", f"/v1/feedback/{entry['id']}",
                 {"status": "in_progress", "note": secret_note})

    rows = await audit(api, target_id=entry["id"], method="PATCH")
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["key_id"] == me["id"] and row["session_id"] is None
    assert row["role"] == "admin" and row["method"] == "PATCH" and row["status"] == 200
    assert row["operation"] == "/v1/feedback/{id}"
    assert row["path"] == f"/v1/feedback/{entry['id']}" and row["request_id"]
    assert before <= datetime.fromisoformat(row["at"]) <= datetime.now(UTC)

    # A member's browser session: the user and the session, not a key.
    user_id, address = await member(shared_stack, key, "editor")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as jar:
        browser = Browser(jar, shared_stack)
        assert (await browser.sign_in(address))[0] == 201
        status, body, _ = await browser.call("PATCH", f"/v1/feedback/{entry['id']}",
                                             {"status": "resolved"})
    assert status == 200, body
    by_member = await audit(api, actor=user_id, method="PATCH")
    assert [r["target_id"] for r in by_member] == [entry["id"]]
    assert by_member[0]["session_id"] and by_member[0]["key_id"] is None
    assert by_member[0]["user_id"] == user_id and by_member[0]["role"] == "editor"

    # The note is the entry's (its trail), never the log's.
    assert all(not place.startswith("gateway.")
               for place in await places_holding(shared_stack.database_url, secret_note))
    assert await query_value(shared_stack.database_url,
                             "SELECT count(*) FROM gateway.audit_events WHERE tenant_id = $1",
                             uuid.UUID(tenant)) >= 3


async def test_the_log_filters_pages_and_is_for_admins(shared_stack: Stack,
                                                      http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack, "Filter Shop")
    api = Api(http, shared_stack, key)
    first, second = await new_entry(api), await new_entry(api)
    for entry in (first, second):
        await api.ok("PATCH", f"/v1/feedback/{entry['id']}", {"category": "Versand"})
    await api.ok("DELETE", f"/v1/feedback/{second['id']}")

    # Creations come through the buffer, a moment later.
    created = await eventually(lambda: audit(api, method="POST", operation="/v1/feedback"),
                               lambda rows: len(rows) == 2, what="creations in the log")
    assert {r["target_id"] for r in created} == {first["id"], second["id"]}
    assert [r["method"] for r in await audit(api, action="delete")] == ["DELETE"]
    assert {r["target_id"] for r in await audit(api, path="/v1/feedback/")} == {
        first["id"], second["id"]}
    assert len(await audit(api, target_id=second["id"])) == 3
    assert await audit(api, **{"from": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
                       ) == []
    every = await audit(api)
    assert [r["at"] for r in every] == sorted((r["at"] for r in every), reverse=True)

    page = await api.ok("GET", "/v1/audit-log?limit=2")
    walked = [r["id"] for r in page["data"]]
    while page["meta"]["next_cursor"]:
        page = await api.ok("GET", f"/v1/audit-log?limit=2&cursor={page['meta']['next_cursor']}")
        walked += [r["id"] for r in page["data"]]
    assert walked == [r["id"] for r in every]
    assert p4f_ok(await api.ok("GET", "/api/v1/audit-log"))[0]["id"] == every[0]["id"]

    for bad, field in (({"actor": "somebody"}, "actor"), ({"method": "GET"}, "method"),
                       ({"cursor": "bogus"}, "cursor"), ({"from": "yesterday"}, "from")):
        status, body, _ = await api.call("GET", f"/v1/audit-log?{urlencode(bad)}")
        assert status == 400 and fbp_error(body)["details"][0]["field"] == field, body

    for role in ("viewer", "editor"):
        other = Api(http, shared_stack, (await admin(
            shared_stack, "create-key", "--tenant", tenant, "--role", role))["api_key"])
        status, body, _ = await other.call("GET", "/v1/audit-log")
        assert status == 403 and fbp_error(body)["code"] == "forbidden", body
    # Another organization sees none of it.
    _, stranger = await new_tenant(shared_stack, "Other Shop")
    assert await audit(Api(http, shared_stack, stranger)) == []


async def test_a_day_as_the_end_of_the_logs_range_includes_that_day(
        api: Api) -> None:
    """`to=2026-12-07` means up to and including that day, as in the entry lists; an
    instant is the first one left out."""
    await api.ok("PATCH", f"/v1/feedback/{(await new_entry(api))['id']}", {"status": "pending"})
    [row] = await audit(api, method="PATCH")
    day = datetime.fromisoformat(row["at"]).date()
    for dialect in ("/v1/audit-log", "/api/v1/audit-log"):
        for filters, found in (({"to": day}, 1), ({"from": day, "to": day}, 1),
                               ({"until": day}, 1), ({"to": day - timedelta(days=1)}, 0),
                               ({"to": f"{day}T00:00:00Z"}, 0), ({"to": row["at"]}, 0),
                               ({"to": "9999-12-31"}, 1)):
            body = await api.ok("GET", f"{dialect}?{urlencode({'method': 'PATCH', **filters})}")
            assert len(body["data"]) == found, (dialect, filters)


async def test_a_deleted_entry_is_restored_with_its_event(shared_stack: Stack,
                                                         http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack, "Restore Shop")
    api = Api(http, shared_stack, key)
    entry = await new_entry(api)
    path = f"/v1/feedback/{entry['id']}"
    status, body, _ = await api.call("POST", f"{path}/restore")
    assert status == 404 and fbp_error(body)["code"] == "not_found", body  # not deleted

    await api.ok("DELETE", path)
    assert (await api.call("GET", path))[0] == 404
    viewer = Api(http, shared_stack, (await admin(
        shared_stack, "create-key", "--tenant", tenant, "--role", "viewer"))["api_key"])
    assert (await viewer.call("POST", f"{path}/restore"))[0] == 403

    restored = (await api.ok("POST", f"{path}/restore"))["data"]
    assert restored == {"id": entry["id"], "restored": True, "status": "new"}
    assert [e["id"] for e in (await api.ok("GET", "/v1/feedback"))["data"]] == [entry["id"]]
    trail = (await api.ok("GET", path))["data"]["audit_trail"]
    assert [r["action"] for r in trail] == ["created", "deleted", "restored"]
    assert (await api.call("POST", f"{path}/restore"))[0] == 404  # once
    assert (await api.call("POST", f"/v1/feedback/{uuid.uuid4()}/restore"))[0] == 404
    assert [r["operation"] for r in await audit(api, target_id=entry["id"], method="POST")
            if r["operation"].endswith("/restore")] == ["/v1/feedback/{id}/restore"]

    events = await query(shared_stack.database_url,
                         "SELECT payload FROM feedback.outbox"
                         " WHERE convert_from(payload, 'UTF8')::jsonb->>'subject' = $1"
                         " ORDER BY id",
                         entry["id"])
    types = [orjson.loads(r["payload"])["type"] for r in events]
    assert types == ["feedback.created", "feedback.deleted", "feedback.restored"], types
    restored_event = orjson.loads(events[-1]["payload"])
    assert restored_event["data"]["entry"]["deleted"] is False

    # Analytics counts it again (its consumer applied the event).
    async def total() -> int:
        summary = await api.ok("GET", "/v1/analytics/summary?period=7d")
        return int(summary["data"]["total_submissions"])
    await eventually(total, lambda n: n == 1, what="the restored entry counted")


# --- export ------------------------------------------------------------------------------


async def export(http: aiohttp.ClientSession, stack: Stack, key: str, path: str
                 ) -> tuple[int, bytes, Any]:
    async with http.get(stack.services["gateway"].url + path, headers=bearer(key)) as response:
        return response.status, await response.read(), response.headers


def csv_rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode())))


TRICKY = ["=HYPERLINK(\"http://evil.example\")", "+1+2", "-3", "@SUM(A1)"]


def test_cells_a_spreadsheet_would_run_start_with_an_apostrophe() -> None:
    # Bodies arrive trimmed, so a tab or carriage return can only lead a cell here.
    for cell in ("\tcmd", "\r=1", *TRICKY):
        assert neutralised(cell) == "'" + cell
    assert neutralised("Alles gut") == "Alles gut" and neutralised("") == ""


async def test_export_csv_and_jsonl_match_the_api(shared_stack: Stack,
                                                 http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack, "Export Shop")
    api = Api(http, shared_stack, key)
    entries = [await new_entry(api, body=text, rating=1 + i % 5, category="Versand",
                               answers={"q1": i}, metadata={"order": f"A-{i}"})
               for i, text in enumerate([*TRICKY, "Alles gut, danke schön"])]
    await api.ok("PATCH", f"/v1/feedback/{entries[0]['id']}",
                 {"status": "in_progress", "note": "angerufen"})

    status, raw, headers = await export(http, shared_stack, key, "/v1/feedback/export")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == 'attachment; filename="feedback.csv"'
    rows = csv_rows(raw)
    total = (await api.ok("GET", "/v1/feedback"))["meta"]["total"]
    assert len(rows) == total == len(entries)
    assert list(rows[0]) == ["id", "created_at", "updated_at", "status", "rating", "category",
                             "body", "customer_email", "widget_id", "assignee",
                             "quality_score", "quality_label", "reward_status",
                             "payout_status", "notes_count", "answers", "metadata"]
    by_id = {r["id"]: r for r in rows}
    for text, entry in zip(TRICKY, entries, strict=False):
        assert by_id[entry["id"]]["body"] == "'" + text  # a spreadsheet shows it as text
    one = (await api.ok("GET", f"/v1/feedback/{entries[0]['id']}"))["data"]
    row = by_id[one["id"]]
    assert (row["created_at"], row["updated_at"], row["status"], row["rating"],
            row["category"], row["quality_score"]) == (
        one["created_at"], one["updated_at"], one["status"], str(one["rating"]),
        one["category"], str(one["quality_score"]))
    assert row["notes_count"] == "1" and orjson.loads(row["answers"]) == one["answers"]
    assert orjson.loads(row["metadata"]) == one["metadata"]
    assert row["customer_email"] == "" and row["assignee"] == ""

    status, raw, headers = await export(http, shared_stack, key,
                                        "/v1/feedback/export?format=jsonl&rating=1,2")
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in raw.splitlines()]
    listed = (await api.ok("GET", "/v1/feedback?rating=1,2"))["data"]
    assert [r["id"] for r in lines] == [e["id"] for e in listed] and len(lines) == 2
    detail = p4f_ok(await api.ok("GET", f"/api/v1/responses/{lines[0]['id']}"))
    assert lines[0]["answers"] == detail["answers"] and lines[0]["body"] == detail["text"]
    assert lines[0]["quality_label"] == detail["quality"]["label"]
    assert lines[0]["reward_status"] == detail["status"].lower()

    status, raw, _ = await export(http, shared_stack, key,
                                  "/api/v1/responses/export?format=csv&q=" + quote("danke"))
    assert status == 200 and [r["body"] for r in csv_rows(raw)] == ["Alles gut, danke schön"]
    status, raw, _ = await export(http, shared_stack, key, "/v1/feedback/export?status=resolved")
    assert status == 200 and csv_rows(raw) == [] and raw.startswith(b"id,created_at")

    for path, field in (("/v1/feedback/export?format=xlsx", "format"),
                        ("/v1/feedback/export?rating=9", "rating"),
                        ("/api/v1/responses/export?status=paid", "status")):
        status, raw, _ = await export(http, shared_stack, key, path)
        assert status == 400 and field in raw.decode(), raw


async def test_a_large_export_streams(shared_stack: Stack, http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack, "Bulk Shop")
    api = Api(http, shared_stack, key)
    await new_entry(api)  # the tenant's first entry, through the API
    await query(
        shared_stack.database_url,
        "INSERT INTO feedback.entries (id, tenant_id, body, rating, created_at, updated_at)"
        " SELECT gen_random_uuid(), $1, 'bulk ' || n, 1 + n % 5,"
        " now() - n * interval '1 second', now() - n * interval '1 second'"
        " FROM generate_series(1, 4999) n", uuid.UUID(tenant))
    total = (await api.ok("GET", "/v1/feedback"))["meta"]["total"]
    assert total == 5000
    url = shared_stack.services["gateway"].url + "/v1/feedback/export?format=csv"
    async with http.get(url, headers=bearer(key)) as response:
        assert response.status == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.headers
        chunks = [chunk async for chunk in response.content.iter_any()]
    assert len(chunks) > 1
    assert len(csv_rows(b"".join(chunks))) == 5000


async def test_audit_rows_are_purged_after_their_retention(database_url: str) -> None:
    await migrate(database_url, "gateway")
    pool = await create_pool(Settings(database_url=database_url).service_dsn("gateway"))
    try:
        tenant = uuid.uuid4()
        old = AuditEvent(str(tenant), datetime.now(UTC) - timedelta(days=RETENTION_DAYS + 1),
                         None, None, None, "admin", "PATCH", "/v1/feedback/{id}",
                         "/v1/feedback/x", "x", 200, None)
        recent = AuditEvent(**{**old.__dict__, "at": old.at + timedelta(days=2)})
        await insert_events(pool, [old, old, recent])
        assert await purge_expired(pool, batch=1) == 1
        assert await purge_expired(pool) == 1
        assert await purge_expired(pool) == 0
        left = await pool.fetch("SELECT at FROM audit_events WHERE tenant_id = $1", tenant)
        assert [r["at"] for r in left] == [recent.at]
    finally:
        await pool.close()
