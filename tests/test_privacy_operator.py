"""What the operator's platform does about shoppers' data on its own and from the command
line (docs/privacy.md).

Retention: an organization's entries older than its `retention_months` (24 unless set,
PATCH /v1/organization) are anonymised as an erasure does, by a job that runs at start and
then every `RESONANZ_RETENTION_INTERVAL` seconds, in batches, and picks up after a killed
service what is still due; newer entries, other organizations' shorter history and the
analytics stay as they were.

The CLI: `python -m resonanz.gateway privacy export|erase|show` files a request as the API
does, follows its progress and prints the export."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from resonanz.devstack.supervisor import Stack
from resonanz.feedback.retention import anonymise_expired
from resonanz.shared.db import create_pool
from resonanz.shared.settings import Settings

from .helpers import Api, new_tenant
from .support import eventually, places_holding, query_value

SUMMARY = "/v1/analytics/summary?period=7d&group_by=day"


@pytest.fixture
async def feedback_pool(shared_stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    dsn = Settings(database_url=shared_stack.database_url).service_dsn("feedback")
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def entry(api: Api, name: str, note: str | None = None) -> str:
    created = await api.ok("POST", "/v1/feedback", {
        "body": f"Text von {name}: die Lieferung kam zu spät", "rating": 2,
        "category": "versand", "customer_email": f"{name}@retention-shop.de",
        "answers": {"farbe": f"Antwort von {name}"}, "metadata": {"order": f"order-{name}"}})
    entry_id: str = created["data"]["id"]
    if note:
        await api.ok("PATCH", f"/v1/feedback/{entry_id}", {"status": "in_progress",
                                                           "note": note})
    return entry_id


async def backdate(stack: Stack, months: int, *ids: str) -> None:
    await query_value(stack.database_url, "UPDATE feedback.entries SET created_at = now()"
                      " - make_interval(months => $2) WHERE id = ANY($1::uuid[])",
                      list(ids), months)


async def summary(api: Api, total: int, status: str = "new") -> dict[str, Any]:
    """The analytics summary once it counts `total` entries, one of them in `status`."""
    async def probe() -> dict[str, Any]:
        data: dict[str, Any] = (await api.ok("GET", SUMMARY))["data"]
        return data
    return await eventually(probe, lambda s: s["total_submissions"] == total
                            and status in str(s["statuses"]), what=f"{total} entries counted")


def anonymised(found: dict[str, Any]) -> bool:
    return (found["customer_email"] is None and not found["body"] and not found["answers"]
            and not found["metadata"])


async def test_entries_past_the_retention_are_anonymised_newer_ones_and_analytics_kept(
        shared_stack: Stack, http: aiohttp.ClientSession,
        feedback_pool: asyncpg.Pool) -> None:
    tenant, key = await new_tenant(shared_stack, "Retention Shop")
    api = Api(http, shared_stack, key)
    _, other_key = await new_tenant(shared_stack, "Retention Default")
    other = Api(http, shared_stack, other_key)

    # The setting: 24 months unless set, 1 to 120, an admin's.
    assert (await api.ok("GET", "/v1/organization"))["data"]["retention_months"] == 24
    for wrong in (0, 121, "six"):
        status, body, _ = await api.call("PATCH", "/v1/organization",
                                         {"retention_months": wrong})
        assert status == 400 and "retention_months" in str(body), body
    changed = await api.ok("PATCH", "/v1/organization", {"retention_months": 6})
    assert changed["data"]["retention_months"] == 6
    await eventually(lambda: query_value(
        shared_stack.database_url, "SELECT months FROM feedback.tenant_retention"
        " WHERE tenant_id = $1", tenant), lambda months: months == 6,
        what="the feedback service learned the retention")

    old = await entry(api, "alt", note="Kundin angerufen, Gutschein versprochen")
    middle, new = await entry(api, "mittel"), await entry(api, "neu")
    # The other organization keeps the default: 7 months is within it, 25 is not.
    kept_elsewhere, too_old_elsewhere = await entry(other, "sieben"), await entry(other, "alt25")
    before = (await summary(api, 3, "in_progress"), await summary(other, 2))

    await backdate(shared_stack, 7, old, kept_elsewhere)
    await backdate(shared_stack, 5, middle)
    await backdate(shared_stack, 25, too_old_elsewhere)
    # The job's work, batch by batch (the platform's job sleeps for an hour after its
    # start-up run): one entry per batch, then nothing left.
    assert [await anonymise_expired(feedback_pool, batch=1) for _ in range(3)] == [1, 1, 0]

    for client, entry_id in ((api, old), (other, too_old_elsewhere)):
        found = (await client.ok("GET", f"/v1/feedback/{entry_id}"))["data"]
        assert anonymised(found), found
        assert (found["rating"], found["category"]) == (2, "versand")
    assert [n["body"] for n in (await api.ok("GET", f"/v1/feedback/{old}"))["data"]["notes"]
            ] == ["[erased]"]
    for needle in ("alt@retention-shop.de", "Text von alt:", "Antwort von alt", "order-alt",
                   "Gutschein versprochen", "alt25@retention-shop.de"):
        assert await places_holding(shared_stack.database_url, needle) == [], needle
    for client, entry_id in ((api, middle), (api, new), (other, kept_elsewhere)):
        found = (await client.ok("GET", f"/v1/feedback/{entry_id}"))["data"]
        assert found["customer_email"] and found["body"] and found["answers"], found
    assert ((await api.ok("GET", SUMMARY))["data"], (await other.ok("GET", SUMMARY))["data"]
            ) == before

    # The platform's own job: a feedback service killed and started again runs it at once
    # and anonymises what has become due meanwhile.
    feedback = shared_stack.services["feedback"]
    feedback.stop(signal.SIGKILL)
    await backdate(shared_stack, 8, middle)
    await asyncio.to_thread(shared_stack.start, ("feedback",))

    async def middle_now() -> dict[str, Any]:
        data: dict[str, Any] = (await api.ok("GET", f"/v1/feedback/{middle}"))["data"]
        return data
    await eventually(middle_now, anonymised, what="the due entry anonymised by the job")
    assert not anonymised((await api.ok("GET", f"/v1/feedback/{new}"))["data"])
    assert (await api.ok("GET", SUMMARY))["data"] == before[0]


async def privacy_cli(stack: Stack, *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "resonanz.gateway", "privacy", *args],
        env=stack.env(), capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


async def test_the_operator_cli_exports_and_erases_one_shopper_as_the_api_does(
        shared_stack: Stack, http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(shared_stack, "CLI Shop")
    api = Api(http, shared_stack, key)
    kunde, similar = "cli.kunde@retention-shop.de", "x.cli.kunde@retention-shop.de"
    hers = [await entry(api, "cli.kunde", note="Per Telefon geklärt") for _ in range(2)]
    theirs = (await api.ok("POST", "/v1/feedback", {
        "body": "Die andere Person schreibt", "rating": 4, "customer_email": similar}))["data"]

    code, out, err = await privacy_cli(shared_stack, "export", "--tenant", tenant,
                                       "--email", kunde.upper())
    assert code == 0, err
    printed = json.loads(out)
    assert printed["request"]["status"] == "completed" and "feedback: completed" in err
    assert sorted(e["id"] for e in printed["export"]["entries"]) == sorted(hers)
    assert "Die andere Person" not in out and similar not in out
    code, out, err = await privacy_cli(shared_stack, "export", "--tenant", tenant,
                                       "--email", kunde, "--csv", "notes")
    assert code == 0, err
    notes = list(csv.DictReader(io.StringIO(out)))
    assert sorted(n["entry_id"] for n in notes) == sorted(hers)
    assert {n["body"] for n in notes} == {"Per Telefon geklärt"}

    code, out, err = await privacy_cli(shared_stack, "erase", "--tenant", tenant,
                                       "--email", f" {kunde} ")
    assert code == 0, err
    erasure = json.loads(out)["request"]
    assert erasure["status"] == "completed", erasure
    assert {p["service"] for p in erasure["progress"]} == {
        "feedback", "gateway", "webhook-dispatcher"}
    assert "webhook-dispatcher: completed" in err
    # The API shows the same request, filed by the operator, and the audit log has it.
    shown = (await api.ok("GET", f"/v1/privacy/requests/{erasure['id']}"))["data"]
    assert (shown["requested_by"], shown["type"]) == ("operator", "erasure")
    audited = await query_value(
        shared_stack.database_url, "SELECT role FROM gateway.audit_events"
        " WHERE tenant_id = $1 AND target_id = $2", tenant, erasure["id"])
    assert audited == "operator"
    for entry_id in hers:
        assert anonymised((await api.ok("GET", f"/v1/feedback/{entry_id}"))["data"])
    assert (await api.ok("GET", f"/v1/feedback/{theirs['id']}"))["data"][
        "customer_email"] == similar
    code, out, _ = await privacy_cli(shared_stack, "show", "--tenant", tenant,
                                     "--id", erasure["id"])
    assert code == 0 and json.loads(out)["request"]["id"] == erasure["id"]

    # Mistakes are named, and nothing is filed.
    code, _, err = await privacy_cli(shared_stack, "erase", "--tenant", tenant,
                                     "--email", "not an email")
    assert code != 0 and "--email" in err, err
    code, _, err = await privacy_cli(shared_stack, "export", "--tenant",
                                     "00000000-0000-4000-8000-000000000000", "--email", kunde)
    assert code != 0 and "no tenant" in err, err
    assert await query_value(shared_stack.database_url, "SELECT count(*) FROM"
                             " feedback.privacy_requests WHERE tenant_id = $1", tenant) == 3
