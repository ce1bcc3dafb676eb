"""The rest of the dashboard's API (issue 16): an entry names the moves it allows, the lists
answer an ETag and 304 while nothing changed, bulk triage and bulk reward reviews report
each entry, and the rewards queue's running totals — in both dialects, through the
gateway, each answer checked against the OpenAPI document (tests/helpers.Api)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode

from resonanz.devstack.supervisor import Stack

from .helpers import Api
from .support import eventually, query
from .test_feedback_contract import fbp_error, p4f_error, p4f_ok
from .test_rewards_and_events import GOOD_REVIEW, campaign_with

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack


async def entry(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"body": "Die Jacke passt gut, die Lieferung kam pünktlich.", "rating": 4, **fields}
    created: dict[str, Any] = (await api.ok("POST", "/v1/feedback", body))["data"]
    return created


async def owner_id(api: Api) -> str:
    users = (await api.ok("GET", "/v1/users"))["data"]
    return str(users[0]["id"])


async def viewer(api: Api, stack: Stack) -> Api:
    created = await api.ok("POST", "/v1/api-keys", {"name": "read only", "role": "viewer"})
    return Api(api.http, stack, created["data"]["key"])


# --- allowed moves -------------------------------------------------------------------------


async def test_an_entry_names_the_moves_it_allows_in_both_dialects(api: Api) -> None:
    made = await entry(api)
    assert made["allowed_transitions"] == ["pending", "in_progress", "resolved", "archived"]
    resolved = (await api.ok("PATCH", f"/v1/feedback/{made['id']}",
                             {"status": "resolved"}))["data"]
    assert resolved["allowed_transitions"] == ["pending", "archived"]
    detail = (await api.ok("GET", f"/v1/feedback/{made['id']}"))["data"]
    assert detail["allowed_transitions"] == ["pending", "archived"]
    listed = (await api.ok("GET", "/v1/feedback"))["data"]
    assert listed[0]["allowed_transitions"] == ["pending", "archived"]
    # Every move the entry does not name is refused with the same list.
    status, body, _ = await api.call("PATCH", f"/v1/feedback/{made['id']}", {"status": "new"})
    assert status == 409
    assert fbp_error(body)["details"][0]["allowed"] == ["archived", "pending"]

    response = p4f_ok(await api.ok("GET", f"/api/v1/responses/{made['id']}"))
    assert response["status"] == "PENDING"
    assert response["allowed_transitions"] == ["APPROVED", "REJECTED"]
    approved = p4f_ok(await api.ok("POST", f"/api/v1/responses/{made['id']}/approve"))
    assert approved["allowed_transitions"] == []


# --- ETag ----------------------------------------------------------------------------------


async def test_lists_answer_an_etag_and_304_until_something_they_show_changes(
        api: Api) -> None:
    first = await entry(api)
    status, body, headers = await api.call("GET", "/v1/feedback?limit=10")
    assert status == 200 and [e["id"] for e in body["data"]] == [first["id"]]
    tag = headers["ETag"]
    assert tag.startswith('W/"') and "private" in headers["Cache-Control"]

    async def again(path: str, etag: str) -> tuple[int, Any, Any]:
        return await api.call("GET", path, headers={"If-None-Match": etag})

    status, body, headers = await again("/v1/feedback?limit=10", tag)
    assert (status, body, headers["ETag"]) == (304, None, tag)
    status, _, _ = await again("/v1/feedback?limit=10", f'"other", {tag}')
    assert status == 304, "any of the tags sent"
    assert (await again("/v1/feedback?limit=10", "*"))[0] == 304
    # Another query is another representation.
    status, _, other = await again("/v1/feedback?limit=10&status=new", tag)
    assert status == 200 and other["ETag"] != tag

    # Each kind of change moves the tag: a new entry, a triage, a delete.
    second = await entry(api, rating=2)
    status, body, headers = await again("/v1/feedback?limit=10", tag)
    assert status == 200 and body["data"][0]["id"] == second["id"]
    tag = headers["ETag"]
    await api.ok("PATCH", f"/v1/feedback/{first['id']}", {"assignee": "Lena"})
    status, body, headers = await again("/v1/feedback?limit=10", tag)
    assert status == 200 and body["data"][1]["assigned_to"] == "Lena"
    tag = headers["ETag"]
    await api.ok("DELETE", f"/v1/feedback/{second['id']}")
    status, body, headers = await again("/v1/feedback?limit=10", tag)
    assert status == 200 and [e["id"] for e in body["data"]] == [first["id"]]
    assert (await again("/v1/feedback?limit=10", headers["ETag"]))[0] == 304

    # Pay4Feedback's list: the same, and a review moves it.
    status, _, headers = await api.call("GET", "/api/v1/responses?status=pending")
    p4f_tag = headers["ETag"]
    assert p4f_tag != tag
    assert (await again("/api/v1/responses?status=pending", p4f_tag))[0] == 304
    await api.ok("POST", f"/api/v1/responses/{first['id']}/approve")
    status, body, _ = await again("/api/v1/responses?status=pending", p4f_tag)
    assert status == 200 and p4f_ok(body) == []


async def test_an_erasure_moves_the_lists_etags_however_long_ago_the_entry_changed(
        api: Api, shared_stack: Stack) -> None:
    """An erasure removes what both lists show (email, text): a client polling with its
    ETag fetches again, also when the erased entry last changed long before the
    organization's newest change (an entry of last week, a new one since)."""
    email = "erase.me@beispiel-shop.de"
    old = await entry(api, customer_email=email)
    await query(shared_stack.database_url, "UPDATE feedback.entries"
                " SET updated_at = updated_at - interval '7 days' WHERE id = $1",
                uuid.UUID(old["id"]))
    await entry(api)
    tags = {}
    for path in ("/v1/feedback", "/api/v1/responses"):
        status, body, headers = await api.call("GET", path)
        assert status == 200 and email in [e["customer_email"] for e in body["data"]]
        tags[path] = headers["ETag"]

    erasure = await api.ok("POST", "/v1/privacy/requests",
                           {"type": "erasure", "customer_email": email})

    async def progress() -> dict[str, Any]:
        return (await api.ok("GET", f"/v1/privacy/requests/{erasure['data']['id']}"))["data"]
    await eventually(progress, lambda r: r["status"] == "completed", within=30,
                     what="the erasure completed")
    for path, tag in tags.items():
        status, body, _ = await api.call("GET", path, headers={"If-None-Match": tag})
        assert status == 200, f"{path}: 304 kept showing the erased email"
        assert [e["customer_email"] for e in body["data"]] == [None, None]


# --- bulk triage ---------------------------------------------------------------------------


async def test_bulk_triage_by_ids_reports_each_entry_and_audits_each_change(api: Api) -> None:
    entries = [await entry(api, body=f"Sammel {n}: die Größe stimmt.") for n in range(3)]
    stuck = await entry(api, body="archiviert")
    await api.ok("PATCH", f"/v1/feedback/{stuck['id']}", {"status": "archived"})
    already = entries[2]
    await api.ok("PATCH", f"/v1/feedback/{already['id']}", {"status": "resolved"})
    unknown = str(uuid.uuid4())
    me = await owner_id(api)
    ids = [e["id"] for e in entries] + [stuck["id"], unknown]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    status, body, _ = await api.call("POST", "/v1/feedback/bulk", {
        "ids": ids, "set": {"status": "resolved", "assignee": me}}, headers=key)
    assert status == 200, body
    result = body["data"]
    assert (result["requested"], result["succeeded"], result["failed"]) == (5, 3, 2)
    items = {i["id"]: i for i in result["items"]}
    assert [i["id"] for i in result["items"]] == ids, "in the order asked"
    for made in entries:
        assert items[made["id"]]["ok"] and items[made["id"]]["entry"]["status"] == "resolved"
        assert items[made["id"]]["entry"]["assigned_to"] == me
    assert items[already["id"]]["changed"], "its assignee changed"
    refused = items[stuck["id"]]
    assert (refused["ok"], refused["status"], refused["error"]["code"]) == (
        False, 409, "invalid_transition")
    assert "archived" in refused["error"]["message"]
    assert (items[unknown]["status"], items[unknown]["error"]["code"]) == (404, "not_found")

    # One audit row per entry: in the entry's own trail and in the organization's log.
    trail = (await api.ok("GET", f"/v1/feedback/{entries[0]['id']}"))["data"]["audit_trail"]
    assert [r["action"] for r in trail] == ["created", "updated"]
    log = (await api.ok("GET", "/v1/audit-log?operation=/v1/feedback/bulk"))["data"]
    assert sorted(r["target_id"] for r in log) == sorted(e["id"] for e in entries)

    # The same request again with the same key is the first answer, not a second change.
    status, replayed, headers = await api.call("POST", "/v1/feedback/bulk", {
        "ids": ids, "set": {"status": "resolved", "assignee": me}}, headers=key)
    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    assert replayed["data"]["items"] == result["items"]
    trail = (await api.ok("GET", f"/v1/feedback/{entries[0]['id']}"))["data"]["audit_trail"]
    assert len(trail) == 2
    # Sent again without a key: nothing left to change.
    status, body, _ = await api.call("POST", "/v1/feedback/bulk", {
        "ids": ids[:3], "set": {"status": "resolved"}})
    assert status == 200 and body["data"]["changed"] == 0 and body["data"]["succeeded"] == 3


async def test_bulk_triage_by_filter_changes_what_the_list_would_show(api: Api) -> None:
    low = [await entry(api, body=f"Zu klein {n}", rating=n) for n in (1, 2)]
    high = await entry(api, body="Super", rating=5)
    done = await entry(api, body="Schon erledigt", rating=1)
    await api.ok("PATCH", f"/v1/feedback/{done['id']}", {"status": "resolved"})
    status, body, _ = await api.call("POST", "/v1/feedback/bulk", {
        "filter": {"status": "new", "rating": [1, 2]}, "set": {"status": "in_progress"}})
    assert status == 200, body
    assert [i["id"] for i in body["data"]["items"]] == [e["id"] for e in reversed(low)]
    assert body["data"]["changed"] == 2
    listed = (await api.ok("GET", "/v1/feedback?status=in_progress"))["data"]
    assert sorted(e["id"] for e in listed) == sorted(e["id"] for e in low)
    assert (await api.ok("GET", f"/v1/feedback/{high['id']}"))["data"]["status"] == "new"
    # Assigned to `me`: the user the key belongs to.
    status, body, _ = await api.call("POST", "/v1/feedback/bulk", {
        "filter": {"q": "Super"}, "set": {"assignee": "me"}})
    assert status == 200 and body["data"]["items"][0]["entry"]["assigned_to"] == \
        await owner_id(api)


async def test_bulk_triage_refuses_what_it_cannot_do_naming_the_field(
        api: Api, shared_stack: Stack) -> None:
    made = await entry(api)

    async def refused(payload: dict[str, Any], status: int = 400) -> str:
        code, body, _ = await api.call("POST", "/v1/feedback/bulk", payload)
        assert code == status, body
        return str(fbp_error(body)["message"])

    assert "ids" in await refused({"ids": [str(uuid.uuid4()) for _ in range(501)],
                                   "set": {"status": "resolved"}})
    assert "either ids or filter" in await refused({"set": {"status": "resolved"}})
    assert "filter.stauts" in await refused({"filter": {"stauts": "new"},
                                             "set": {"status": "resolved"}})
    assert "filter.rating" in await refused({"filter": {"rating": "9"},
                                             "set": {"status": "resolved"}})
    assert "filter.reward_status" in await refused({"filter": {"reward_status": "paid"},
                                                    "set": {"status": "resolved"}})
    assert "set" in await refused({"ids": [made["id"]], "set": {}})
    assert "set.status" in await refused({"ids": [made["id"]], "set": {"status": "done"}})
    status, body, _ = await api.call("POST", "/v1/feedback/bulk", {
        "ids": [made["id"]], "set": {"assignee": str(uuid.uuid4())}})
    assert status == 404 and fbp_error(body)["details"][0]["field"] == "set.assignee"
    reader = await viewer(api, shared_stack)
    status, body, _ = await reader.call("POST", "/v1/feedback/bulk", {
        "ids": [made["id"]], "set": {"status": "resolved"}})
    assert status == 403, body
    status, body, _ = await reader.call("POST", "/api/v1/responses/bulk", {
        "ids": [made["id"]], "action": "approve"})
    assert status == 403, body
    assert (await api.ok("GET", f"/v1/feedback/{made['id']}"))["data"]["status"] == "new"


async def test_a_filter_matching_more_than_the_cap_is_a_400_and_changes_nothing(
        api: Api, shared_stack: Stack) -> None:
    for start in range(0, 501, 25):
        await asyncio.gather(*(entry(api, body=f"Menge {n}", rating=3)
                               for n in range(start, min(start + 25, 501))))
    status, body, _ = await api.call("POST", "/v1/feedback/bulk", {
        "filter": {"rating": 3}, "set": {"status": "resolved"}})
    assert status == 400, body
    error = fbp_error(body)
    assert "500" in error["message"] and error["details"][0]["field"] == "filter"
    total = (await api.ok("GET", "/v1/feedback?status=resolved&limit=1"))["meta"]["total"]
    assert total == 0
    status, body, _ = await api.call("POST", "/api/v1/responses/bulk", {
        "filter": {"status": "pending"}, "action": "approve"})
    assert status == 400 and "500" in p4f_error(body)


# --- rewards: bulk review, totals ------------------------------------------------------------


async def test_bulk_reviews_and_the_running_totals(api: Api, shared_stack: Stack) -> None:
    campaign = await campaign_with(api, shared_stack, {"amount": "5.00", "currency": "EUR"})
    other = await campaign_with(api, shared_stack, {"amount": "2.50", "currency": "CHF"})
    made = [await entry(api, **GOOD_REVIEW, widget_id=campaign,
                        customer_email=f"k{n}@example.de") for n in range(4)]
    swiss = await entry(api, **GOOD_REVIEW, widget_id=other, customer_email="s@example.ch")
    plain = await entry(api, body="Ohne Kampagne", rating=3)
    totals = p4f_ok(await api.ok("GET", "/api/v1/rewards/totals"))
    assert (totals["pending"], totals["approved"], totals["rejected"]) == (6, 0, 0)
    assert totals["pending_amounts"] == [
        {"currency": "CHF", "amount": "2.50", "count": 1},
        {"currency": "EUR", "amount": "20.00", "count": 4}]
    assert totals["approved_amounts"] == [] and totals["paid_amounts"] == []

    ids = [m["id"] for m in made[:3]] + [swiss["id"]]
    await api.ok("POST", f"/api/v1/responses/{made[0]['id']}/approve")
    status, body, _ = await api.call("POST", "/api/v1/responses/bulk", {
        "ids": ids, "action": "approve"}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert status == 200, body
    result = p4f_ok(body)
    assert (result["requested"], result["succeeded"], result["failed"]) == (4, 3, 1)
    first = result["items"][0]
    assert (first["ok"], first["status"], first["error"]["code"]) == (
        False, 409, "already_reviewed")
    assert all(i["response"]["status"] == "APPROVED" for i in result["items"][1:])
    status, body, _ = await api.call("POST", "/api/v1/responses/bulk", {
        "filter": {"status": "pending", "campaign_id": campaign}, "action": "reject",
        "reason": "Doppelt eingereicht"})
    assert status == 200, body
    rejected = p4f_ok(body)["items"]
    assert [i["id"] for i in rejected] == [made[3]["id"]]
    assert rejected[0]["response"]["review_reason"] == "Doppelt eingereicht"

    async def now() -> dict[str, Any]:
        return dict(p4f_ok(await api.ok("GET", "/api/v1/rewards/totals")))

    totals = await now()
    assert (totals["pending"], totals["approved"], totals["rejected"]) == (1, 4, 1)
    assert totals["pending_amounts"] == []  # the one left has no campaign: nothing to pay
    assert totals["approved_amounts"] == [
        {"currency": "CHF", "amount": "2.50", "count": 1},
        {"currency": "EUR", "amount": "15.00", "count": 3}]
    assert totals["paid_amounts"] == []  # cash waits for the shop to pay it
    pending = p4f_ok(await api.ok("GET", "/api/v1/payouts?status=pending"))
    assert len(pending) == 4
    for payout in pending:
        await api.ok("POST", f"/api/v1/payouts/{payout['id']}/mark-paid")
    paid = await eventually(now, lambda t: t["paid_amounts"] == t["approved_amounts"],
                            within=30, what="the marked payouts counted as paid")
    assert paid["payouts_blocked"] == 0
    booked = await query(shared_stack.database_url,
                         "SELECT currency, sum(amount) AS amount FROM feedback.ledger"
                         " WHERE payout_id IN (SELECT id FROM feedback.payouts WHERE entry_id"
                         " = ANY($1::uuid[])) GROUP BY currency ORDER BY currency",
                         [m["id"] for m in made] + [swiss["id"]])
    assert [(r["currency"], f"{r['amount']:.2f}") for r in booked] == [
        (m["currency"], m["amount"]) for m in paid["paid_amounts"]]

    one = p4f_ok(await api.ok("GET", "/api/v1/rewards/totals?" + urlencode(
        {"campaign_id": other})))
    assert one["campaign_id"] == other and one["approved"] == 1
    assert one["approved_amounts"] == [{"currency": "CHF", "amount": "2.50", "count": 1}]
    assert (await api.ok("GET", f"/v1/feedback/{plain['id']}"))["data"]["status"] == "new"
