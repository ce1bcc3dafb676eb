"""Data-subject requests (docs/privacy.md): an export holds one shopper's data and nobody
else's; an erasure removes the shopper's email and text from every table of every schema,
leaves a shopper with a similar address untouched and the analytics as they were, tells
integrators with the `customer_erased` webhook, and may be repeated."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from resonanz.devstack.supervisor import Stack
from resonanz.gateway.public.privacy import mentions

from .conftest import Infra
from .helpers import Api, admin, bearer, new_tenant
from .support import TEXT_COLUMNS, eventually, places_holding, query, query_value
from .test_rewards_and_events import campaign_with
from .test_webhooks_support import Receiver, receiving
from .test_widgets_support import create_active_widget

ANNA = "Anna.Schmidt@Beispiel-Shop.de"
# Other people: a longer address containing hers, and one hers is the end of.
OTHERS = ("anna.schmidt.b@beispiel-shop.de", "joanna.schmidt@beispiel-shop.de")
ANNA_TEXTS = ("Der Reißverschluss der Jacke klemmte nach einer Woche",
              "Lieferung an die Packstation Nummer 4711 kam beschädigt an")
ANNA_ANSWER = "Größe passt, Farbe Tannengrün"
ANNA_NOTE = "Kundin am Dienstag zurückgerufen, Ersatz versprochen"
ANNA_REASON = "Frau Schmidt hat den Mangel mit Fotos belegt"
ANNA_META = "order-ANNA-20419"
ANNA_WIDGET_TEXT = "Im Widget: Gutschein-Code wurde an der Kasse nicht angenommen"
ANNA_PAGE = "https://shop.example/danke?bestellung=ANNA-77310"


@pytest.fixture
def stack(receiving_stack: Stack) -> Stack:
    return receiving_stack


async def echo(request: web.Request) -> web.StreamResponse:
    """A receiver that answers with what it was sent: the log keeps the start of it."""
    return web.Response(body=await request.read())


def sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def finished(api: Api, location: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return (await api.ok("GET", location))["data"]
    return await eventually(probe, lambda r: r["status"] == "completed", within=30,
                            what="the request completed")


async def file(api: Api, kind: str, email: str) -> tuple[dict[str, Any], str]:
    status, body, headers = await api.call("POST", "/v1/privacy/requests",
                                           {"type": kind, "customer_email": email})
    assert status == 202, body
    assert headers["Location"] == f"/v1/privacy/requests/{body['data']['id']}"
    return body["data"], headers["Location"]


async def test_erasing_one_shopper_leaves_nothing_of_her_and_everyone_else_intact(
        stack: Stack, infra: Infra, http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(stack, "Privacy Shop")
    api = Api(http, stack, key)
    receiver = Receiver(echo)
    async with receiving(receiver):
        await api.ok("POST", "/v1/webhooks", {
            "url": receiver.url,
            "events": ["feedback_created", "reward_approved", "payout_completed",
                       "customer_erased"]})
        campaign = await campaign_with(api, stack, {"amount": "5.00", "currency": "EUR"})

        annas = []
        for i, text in enumerate(ANNA_TEXTS):
            created = await api.ok("POST", "/v1/feedback", {
                "body": text, "rating": 2 + i, "category": "versand",
                "customer_email": ANNA if i == 0 else ANNA.lower(),
                "answers": {"groesse": ANNA_ANSWER}, "metadata": {"order": ANNA_META},
                **({"widget_id": campaign} if i == 0 else {})},
                headers={"Idempotency-Key": f"anna-{i}"})
            annas.append(created["data"]["id"])
        await api.ok("PATCH", f"/v1/feedback/{annas[1]}",
                     {"status": "in_progress", "note": ANNA_NOTE})
        await api.ok("POST", f"/api/v1/responses/{annas[0]}/approve",
                     {"reason": ANNA_REASON})
        # And once through a widget on the shop's page.
        widget = await create_active_widget(http, stack, key)
        async with http.post(
                f"{stack.services['gateway'].url}/public/widgets/{widget['public_id']}"
                "/submissions", headers={"Origin": "https://shop.example"},
                json={"answers": {"stars": 3, "comment": ANNA_WIDGET_TEXT},
                      "customer_email": ANNA, "page_url": ANNA_PAGE, "language": "de"}
                ) as response:
            assert response.status == 201, await response.text()
            annas.append((await response.json())["id"])
        others = {}
        for email in OTHERS:
            text = f"Schnelle Lieferung, danke ({email.split('@')[0]})"
            created = await api.ok("POST", "/v1/feedback", {
                "body": text, "rating": 5, "category": "versand", "customer_email": email},
                headers={"Idempotency-Key": f"other-{email}"})
            others[created["data"]["id"]] = (email, text)

        # A cash payout is paid once the shop says so.
        payout = (await api.ok("GET", f"/api/v1/responses/{annas[0]}"))["data"]["payout"]
        await api.ok("POST", f"/api/v1/payouts/{payout['id']}/mark-paid")
        await eventually(lambda: query_value(
            stack.database_url, "SELECT count(*) FROM feedback.payouts WHERE entry_id = $1"
            " AND status = 'paid'", annas[0]), lambda n: n == 1, what="the payout")
        await eventually(lambda: _count(receiver), lambda n: n >= 7, within=30,
                         what="five feedback_created, one reward_approved and one"
                              " payout_completed webhook")
        summary = (await api.ok("GET", "/v1/analytics/summary"))["data"]
        # The events carry no text or email; the webhooks and the payout mail have them
        # from the feedback service.
        created = {p["data"]["entry"]["id"]: p["data"]
                   for p in await _of_type(receiver, "feedback_created")}
        stored_anna = await _stored_email(stack, annas[0])
        assert (created[annas[0]]["body"], created[annas[0]]["customer_email"]) == (
            ANNA_TEXTS[0], stored_anna)
        for entry_id, (email, text) in others.items():
            assert (created[entry_id]["body"], created[entry_id]["customer_email"]) == (
                text, email)
        [paid] = await _of_type(receiver, "payout_completed")
        assert paid["data"]["customer_email"] == stored_anna
        # The team's reason, which may name her, is in the webhook but not in the event.
        [approved] = await _of_type(receiver, "reward_approved")
        assert approved["data"]["reason"] == ANNA_REASON
        await eventually(lambda: query_value(
            stack.database_url, "SELECT count(*) FROM webhooks.outgoing_mail"
            " WHERE kind = 'payout' AND recipient = $1", stored_anna), lambda n: n == 1,
            what="the payout mail to her")

        # Export: hers, all of it, nobody else's.
        request, location = await file(api, "export", ANNA.upper())
        assert request["type"] == "export" and request["subject_sha256"] == sha256(ANNA)
        assert ANNA.lower() not in str(request) and ANNA not in str(request)
        done = await finished(api, location)
        assert done["export_available"] is True
        export = (await api.ok("GET", f"{location}/export"))["data"]
        assert sorted(e["id"] for e in export["entries"]) == sorted(annas)
        by_id = {e["id"]: e for e in export["entries"]}
        assert {by_id[i]["body"] for i in annas} == {*ANNA_TEXTS, ANNA_WIDGET_TEXT}
        assert by_id[annas[2]]["metadata"]["page_url"] == ANNA_PAGE
        assert by_id[annas[0]]["answers"] == {"groesse": ANNA_ANSWER}
        assert by_id[annas[0]]["metadata"] == {"order": ANNA_META}
        assert [n["body"] for n in by_id[annas[1]]["notes"]] == [ANNA_NOTE]
        assert by_id[annas[0]]["reward"]["status"] == "approved"
        assert by_id[annas[0]]["payout"]["amount"] == "5.00"
        assert not any(email in str(export) or text in str(export)
                       for email, text in others.values())
        # The same as CSV, one file per kind, in either dialect.
        files = {kind: await csv_rows(http, stack, key, f"{location}/export/{kind}")
                 for kind in ("entries", "answers", "notes")}
        files["payouts"] = await csv_rows(http, stack, key, f"/api{location}/export/payouts")
        assert sorted(r["id"] for r in files["entries"]) == sorted(annas)
        assert {r["body"] for r in files["entries"]} == {*ANNA_TEXTS, ANNA_WIDGET_TEXT}
        assert {r["customer_email"].lower() for r in files["entries"]} == {ANNA.lower()}
        assert {(r["entry_id"], r["question"], r["answer"]) for r in files["answers"]} >= {
            (annas[0], "groesse", ANNA_ANSWER), (annas[2], "comment", ANNA_WIDGET_TEXT)}
        assert [(r["entry_id"], r["body"]) for r in files["notes"]] == [(annas[1], ANNA_NOTE)]
        assert [(r["entry_id"], r["amount"], r["currency"], r["status"])
                for r in files["payouts"]] == [(annas[0], "5.00", "EUR", "paid")]
        assert not any(email in str(files) or text in str(files)
                       for email, text in others.values())
        status, _, _ = await api.call("GET", f"{location}/export/vouchers")
        assert status == 404

        # Erasure, asked in the other dialect.
        status, body, headers = await api.call("POST", "/api/v1/privacy/requests", {
            "type": "erasure", "customer_email": f"  {ANNA}  "})
        assert status == 202, body
        erasure = await finished(api, headers["Location"])
        progress = {p["service"]: p for p in erasure["progress"]}
        assert set(progress) == {"feedback", "webhook-dispatcher", "gateway"}
        # The gateway's replays of her entries (sealed, kept 24 h) are gone, the others'
        # are kept.
        assert progress["gateway"]["counts"] == {"replays": 2}
        assert sorted(await query_value(
            stack.database_url, "SELECT array_agg(key) FROM gateway.idempotency_keys"
            " WHERE tenant_id = $1", tenant)) == sorted(f"other-{e}" for e in OTHERS)
        assert progress["feedback"]["counts"]["entries"] == 3
        assert progress["feedback"]["counts"]["payouts"] == 1
        assert progress["webhook-dispatcher"]["counts"]["deliveries"] >= 3

        erased = await eventually(lambda: _of_type(receiver, "customer_erased"),
                                  lambda found: len(found) == 1, within=30,
                                  what="the customer_erased webhook")
        data = erased[0]["data"]
        assert data["subject_sha256"] == sha256(ANNA)
        assert sorted(data["entry_ids"]) == sorted(annas)
        assert data["request_id"] == erasure["id"]

    # Nothing of hers in any table of any schema: her address in any spelling (but not
    # as the end of joanna's), her texts, answers, metadata and the note about her.
    assert await places_matching(stack, ADDRESS_OF_ANNA) == []
    assert await places_matching(stack, ADDRESS_OF_JOANNA) != []
    for needle in (*ANNA_TEXTS, ANNA_ANSWER, ANNA_NOTE, ANNA_REASON, ANNA_META,
                   ANNA_WIDGET_TEXT, ANNA_PAGE):
        assert await places_holding(stack.database_url, needle) == [], needle
    # Nor in any record the broker retains, on any of the platform's topics.
    records = await retained(stack, infra)
    assert len(records) > 10
    assert [r for r in records if re.search(ADDRESS_OF_ANNA, r, re.IGNORECASE)] == []
    for needle in (*ANNA_TEXTS, ANNA_ANSWER, ANNA_NOTE, ANNA_REASON, ANNA_META,
                   ANNA_WIDGET_TEXT, ANNA_PAGE):
        assert [r for r in records if needle in r] == [], needle
    # Everyone else's is where it was.
    for entry_id, (email, text) in others.items():
        entry = (await api.ok("GET", f"/v1/feedback/{entry_id}"))["data"]
        assert (entry["customer_email"], entry["body"]) == (email, text)
    # Her entries keep what the numbers are made of; the payout its bookkeeping.
    kept = (await api.ok("GET", f"/v1/feedback/{annas[1]}"))["data"]
    assert not kept["body"] and not kept["answers"] and not kept["metadata"]
    assert (kept["customer_email"], kept["rating"], kept["status"]) == (None, 3, "in_progress")
    assert [n["body"] for n in kept["notes"]] == ["[erased]"]
    reviewed = (await api.ok("GET", f"/api/v1/responses/{annas[0]}"))["data"]
    assert reviewed["review_reason"] == "[erased]"
    assert await query_value(stack.database_url, "SELECT amount::text FROM feedback.payouts"
                             " WHERE entry_id = $1", annas[0]) == "5.00"
    assert (await api.ok("GET", "/v1/analytics/summary"))["data"] == summary
    # The audit: who asked for the erasure and when, in the gateway's log, and the request
    # record with each part's time, neither with her address (the scans above).
    [audited] = await query(stack.database_url, "SELECT method, key_id, status FROM"
                            " gateway.audit_events WHERE tenant_id = $1 AND target_id = $2",
                            tenant, erasure["id"])
    assert (audited["method"], audited["status"]) == ("POST", 202) and audited["key_id"]
    assert erasure["requested_by"] and all(p["completed_at"] for p in erasure["progress"])
    # The earlier export is gone with her.
    status, _, _ = await api.call("GET", f"{location}/export")
    assert status == 404

    # Again: nothing left to erase, completed all the same, nobody else touched.
    _, again = await file(api, "erasure", ANNA)
    repeated = await finished(api, again)
    assert {p["service"]: p["counts"].get("entries") for p in repeated["progress"]
            }["feedback"] == 0
    for entry_id, (email, _) in others.items():
        entry = (await api.ok("GET", f"/v1/feedback/{entry_id}"))["data"]
        assert entry["customer_email"] == email


async def test_requests_are_for_admins_and_named_fields(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    tenant, key = await new_tenant(stack, "Privacy Rules")
    api = Api(http, stack, key)
    status, body, _ = await api.call("POST", "/v1/privacy/requests",
                                     {"type": "forget", "customer_email": "a@b.de"})
    assert status == 400 and "type" in str(body), body
    status, body, _ = await api.call("POST", "/api/v1/privacy/requests",
                                     {"type": "export", "customer_email": "not an email"})
    assert status == 400 and "customer_email" in str(body), body
    status, _, _ = await api.call("GET", "/v1/privacy/requests/"
                                  "00000000-0000-4000-8000-000000000000")
    assert status == 404
    editor = (await admin(stack, "create-key", "--tenant", tenant, "--role", "editor"))
    status, _, _ = await Api(http, stack, editor["api_key"]).call(
        "POST", "/v1/privacy/requests", {"type": "export", "customer_email": "a@b.de"})
    assert status == 403
    # Another organization's request is no request of this one.
    request, location = await file(api, "export", "a@b.de")
    _, stranger = await new_tenant(stack, "Privacy Stranger")
    status, _, _ = await Api(http, stack, stranger).call("GET", location)
    assert status == 404
    # An erasure has no export to download.
    _, erasure = await file(api, "erasure", "a@b.de")
    status, _, _ = await api.call("GET", f"{erasure}/export")
    assert status == 404
    assert request["progress"][0]["service"] == "feedback"


async def test_an_address_python_and_postgresql_lower_differently_is_found_and_erased(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    """`İ` (Turkish capital dotted I) is `i` to PostgreSQL's lower(), `i̇` to Python's: the
    address exactly as the shopper gave it still finds her entry, for the export and the
    erasure, and names her by the hash the dispatcher gives her mail's recipient."""
    _, key = await new_tenant(stack, "Privacy Dotted I")
    api = Api(http, stack, key)
    address = "İlayda.Yilmaz@beispiel-shop.de"
    entry = (await api.ok("POST", "/v1/feedback", {
        "body": "Die Stiefel in Größe 38 hatten eine lose Sohle", "rating": 2,
        "customer_email": address}))["data"]
    assert entry["customer_email"] == address
    recipient_hash = await query_value(
        stack.database_url, "SELECT encode(sha256(convert_to(lower(btrim($1)), 'UTF8')),"
        " 'hex')", address)

    export, location = await file(api, "export", address)
    assert export["progress"][0]["counts"] == {"entries": 1}
    assert export["subject_sha256"] == recipient_hash
    document = (await api.ok("GET", f"{location}/export"))["data"]
    assert [e["id"] for e in document["entries"]] == [entry["id"]]

    erasure, location = await file(api, "erasure", address)
    assert erasure["subject_sha256"] == recipient_hash
    assert erasure["progress"][0]["counts"]["entries"] == 1
    erased = (await api.ok("GET", f"/v1/feedback/{entry['id']}"))["data"]
    assert erased["customer_email"] is None and not erased["body"]
    assert await places_holding(stack.database_url, "Stiefel in Größe 38") == []
    assert (await finished(api, location))["status"] == "completed"
    status, _, _ = await api.call("GET", f"/v1/privacy/requests/{export['id']}/export")
    assert status == 404  # her earlier export went with her


ADDRESS_OF_ANNA = r"(^|[^a-z0-9.])anna\.schmidt@beispiel-shop\.de"
ADDRESS_OF_JOANNA = r"joanna\.schmidt@beispiel-shop\.de"


async def places_matching(stack: Stack, pattern: str) -> list[str]:
    """Every column of every table in every schema with a value matching `pattern`, any
    case (places_holding finds a substring, which would take joanna's address for hers)."""
    found = []
    for col in await query(stack.database_url, TEXT_COLUMNS):
        column = f'"{col["column_name"]}"'
        value = (f"encode({column}, 'escape')" if col["data_type"] == "bytea"
                 else f"{column}::text")
        table = f'"{col["table_schema"]}"."{col["table_name"]}"'
        if await query_value(stack.database_url, f"SELECT EXISTS (SELECT 1 FROM {table}"
                             f" WHERE {value} ~* $1)", pattern):
            found.append(f"{col['table_schema']}.{col['table_name']}.{col['column_name']}")
    return found


async def retained(stack: Stack, infra: Infra) -> list[str]:
    """Every record still on the platform's topics (dead letters too), as text."""
    topics = [v for k, v in stack.extra_env.items() if k.startswith("RESONANZ_TOPIC_")]
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap_servers,
                                enable_auto_commit=False)
    await consumer.start()
    records: list[str] = []
    try:
        known = await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics if t in known
                      for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)

        async def more() -> bool:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(r.value.decode(errors="replace") for r in batch if r.value)
            return all([await consumer.position(tp) >= ends[tp] for tp in partitions])
        await eventually(more, lambda done: done, within=30, what="the topics read")
    finally:
        await consumer.stop()
    return records


async def csv_rows(http: aiohttp.ClientSession, stack: Stack, key: str, path: str
                   ) -> list[dict[str, str]]:
    async with http.get(stack.services["gateway"].url + path, headers=bearer(key)) as got:
        text = await got.text()
        assert got.status == 200, text
        assert got.content_type == "text/csv"
        assert got.headers["Content-Disposition"].startswith("attachment")
    return list(csv.DictReader(io.StringIO(text)))


async def _stored_email(stack: Stack, entry_id: str) -> str:
    return str(await query_value(stack.database_url, "SELECT customer_email FROM"
                                 " feedback.entries WHERE id = $1", entry_id))


async def _count(receiver: Receiver) -> int:
    return len(receiver.received)


async def _of_type(receiver: Receiver, name: str) -> list[Any]:
    return [r.payload for r in receiver.received if r.payload.get("type") == name]


async def test_an_erasure_waits_for_a_killed_dispatcher_and_completes_once_it_is_back(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    """The drill: the dispatcher is killed (SIGKILL), an erasure is filed meanwhile; the
    feedback service's part is done at once and the request stays in progress until the
    dispatcher, started again, has done its part from the event waiting on the broker."""
    _, key = await new_tenant(stack, "Privacy Drill")
    api = Api(http, stack, key)
    bea, text = "bea.drill@beispiel-shop.de", "Die Rücksendung wurde nie abgeholt, Drill"
    receiver = Receiver(echo)
    async with receiving(receiver):
        await api.ok("POST", "/v1/webhooks", {"url": receiver.url,
                                              "events": ["feedback_created", "customer_erased"]})
        await api.ok("POST", "/v1/feedback", {"body": text, "rating": 1,
                                              "customer_email": bea})
        await eventually(lambda: _count(receiver), lambda n: n == 1, what="her webhook")
        dispatcher = stack.services["webhook_dispatcher"]
        assert dispatcher.proc is not None
        dispatcher.proc.kill()
        await asyncio.to_thread(dispatcher.proc.wait)
        try:
            request, location = await file(api, "erasure", bea)
            await asyncio.sleep(2)
            waiting = (await api.ok("GET", location))["data"]
            parts = {p["service"]: p["status"] for p in waiting["progress"]}
            assert waiting["status"] == "in_progress", waiting
            assert parts == {"feedback": "completed", "gateway": "completed",
                             "webhook-dispatcher": "pending"}, parts
            held = set(await places_holding(stack.database_url, text))
            assert "webhooks.deliveries.body" in held, held
            assert held <= {"webhooks.deliveries.body", "webhooks.attempts.response_body"}
        finally:
            dispatcher.start()
            await asyncio.to_thread(stack.wait_ready, ("webhook_dispatcher",))
        done = await finished(api, location)
        assert done["id"] == request["id"]
        await eventually(lambda: _of_type(receiver, "customer_erased"), lambda f: len(f) == 1,
                         within=30, what="the customer_erased webhook")
    assert await places_holding(stack.database_url, text) == []
    assert await places_holding(stack.database_url, bea) == []


def test_an_address_is_found_whole_and_in_any_case() -> None:
    assert mentions('{"customer_email":"Anna@X.de"}', " anna@x.de ")
    assert mentions("to anna@x.de, thanks", "ANNA@X.DE")
    # As the database lower-cases the dotted capital I (the feedback service's match).
    assert mentions('{"customer_email":"\u0130layda@x.de"}', "ilayda@x.de")
    assert mentions('{"customer_email":"ilayda@x.de"}', "\u0130LAYDA@x.de")
    for other in ("joanna@x.de", "anna.b@x.de", "b.anna@x.de", "anna@x.de.example",
                  "anna@x.dev", "anna+1@x.de"):
        assert not mentions(f'{{"customer_email":"{other}"}}', "anna@x.de"), other
