"""The feedback record through the gateway, in both dialects, as the references
document it: envelopes, status codes, headers and error shapes."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

REFERENCE_PAYLOAD = {
    "body": "Checkout button was unresponsive on mobile Safari.",
    "rating": 2,
    "category": "usability",
    "customer_email": "lars.mueller@web.de",
    "metadata": {"page_url": "/checkout", "browser": "Safari 17.2"},
}


def fbp_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None
    assert body["meta"]["request_id"]
    error: dict[str, Any] = body["meta"]["error"]
    return error


# --- FeedBackPro ---------------------------------------------------------------------------


async def test_post_feedback_returns_201_location_and_the_reference_fields(api: Api) -> None:
    status, body, headers = await api.call("POST", "/v1/feedback", REFERENCE_PAYLOAD)
    assert status == 201
    data = body["data"]
    assert data["status"] == "new"
    assert data["id"] and data["created_at"]
    assert headers["Location"] == f"/v1/feedback/{data['id']}"
    assert body["meta"]["request_id"]
    assert set(body) == {"data", "meta", "links"}


async def test_invalid_feedback_gets_400_with_field_level_details(api: Api) -> None:
    status, body, _ = await api.call("POST", "/v1/feedback", {**REFERENCE_PAYLOAD, "rating": 7})
    assert status == 400
    error = fbp_error(body)
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["rating"]
    status, body, _ = await api.call("POST", "/v1/feedback", data=b"{not json",
                                     headers={"Content-Type": "application/json"})
    assert status == 400
    assert fbp_error(body)["details"]


async def test_a_rating_that_is_not_a_json_number_is_400_and_nothing_is_stored(
    api: Api,
) -> None:
    """`true` is not a rating of 1, nor "2" one of 2: each is a 400 naming the field."""
    before = (await api.ok("GET", "/v1/feedback?limit=1"))["meta"]["total"]
    for rating in (True, False, "2", "five"):
        status, body, _ = await api.call("POST", "/v1/feedback",
                                         {**REFERENCE_PAYLOAD, "rating": rating})
        assert status == 400, (rating, body)
        assert [d["field"] for d in fbp_error(body)["details"]] == ["rating"], rating
    assert (await api.ok("GET", "/v1/feedback?limit=1"))["meta"]["total"] == before
    created = await api.ok("POST", "/v1/feedback", {**REFERENCE_PAYLOAD, "rating": 4.0})
    assert created["data"]["rating"] == 4


async def test_body_that_is_not_json_is_415(api: Api) -> None:
    status, body, _ = await api.call("POST", "/v1/feedback", data=b"body=x",
                                     headers={"Content-Type": "text/plain"})
    assert status == 415
    assert fbp_error(body)["code"] == "unsupported_media_type"


async def test_oversized_body_is_413_in_the_dialect(api: Api) -> None:
    huge = b'{"body": "' + b"x" * 300_000 + b'"}'
    status, body, _ = await api.call("POST", "/v1/feedback", data=huge,
                                     headers={"Content-Type": "application/json"})
    assert status == 413
    assert fbp_error(body)["code"]


async def test_an_oversized_body_names_the_field_and_the_cap_in_both_dialects(
    api: Api,
) -> None:
    """RESONANZ_MAX_BODY_BYTES (256 KiB) is a documented limit: its 413 says which field
    and how much is allowed, like every other limit's refusal, in the caller's dialect."""
    huge = b'{"body": "' + b"x" * 300_000 + b'"}'
    json = {"Content-Type": "application/json"}
    status, body, _ = await api.call("POST", "/v1/feedback", data=huge, headers=json)
    assert status == 413
    error = fbp_error(body)
    assert error["message"] == "body: may be at most 262144 bytes"
    assert error["details"] == [{"field": "body", "message": "may be at most 262144 bytes"}]
    status, body, _ = await api.call("POST", "/api/v1/webhooks", data=huge, headers=json)
    assert status == 413
    assert (body["success"], body["error"]) == (False, "body: may be at most 262144 bytes")


async def test_list_pages_filters_and_sorts_as_the_node_snippet_expects(api: Api) -> None:
    ids = [(await api.ok("POST", "/v1/feedback", {**REFERENCE_PAYLOAD, "rating": r}))
           ["data"]["id"] for r in (1, 2, 3, 4, 5)]
    for entry_id in ids[:3]:
        await api.ok("PATCH", f"/v1/feedback/{entry_id}", {"status": "pending"})
    body = await api.ok("GET", "/v1/feedback?status=pending&limit=2&sort=created_at:desc")
    assert body["meta"]["total"] == 3
    assert body["meta"]["page"] == 1 and body["meta"]["per_page"] == 2
    assert [e["id"] for e in body["data"]] == [ids[2], ids[1]]
    assert body["links"]["next"] and body["links"]["prev"] is None
    page2 = await api.ok("GET", body["links"]["next"])
    assert [e["id"] for e in page2["data"]] == [ids[0]]
    assert page2["links"]["prev"]
    oldest_first = await api.ok("GET", "/v1/feedback?sort=created_at:asc&limit=200")
    assert [e["id"] for e in oldest_first["data"]] == ids
    entry = body["data"][0]
    assert entry["rating"] in range(1, 6) and entry["body"].startswith("Checkout")


async def test_list_refuses_bad_limits_and_filters(api: Api) -> None:
    for query in ("limit=0", "page=0", "status=lost", "sort=rating:up", "from=yesterday",
                  "widget_id=nope"):
        status, body, _ = await api.call("GET", f"/v1/feedback?{query}")
        assert status == 400, query
        assert fbp_error(body)["details"][0]["field"], query


async def test_a_day_as_the_end_of_the_date_range_includes_that_day(api: Api) -> None:
    """`to=2026-12-07` means up to and including that day (as the analytics' `to`); an
    instant is the first one left out."""
    created = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]
    day = date.fromisoformat(created["created_at"][:10])
    before = day - timedelta(days=1)
    for query, total in ((f"to={day}", 1), (f"from={day}&to={day}", 1), (f"until={day}", 1),
                         (f"to={before}", 0), (f"to={day}T00:00:00Z", 0),
                         (f"to={created['created_at']}", 0)):
        body = await api.ok("GET", f"/v1/feedback?{query}")
        assert body["meta"]["total"] == total, query
    assert (await api.ok("GET", "/v1/feedback?to=9999-12-31"))["meta"]["total"] == 1


async def test_unknown_query_parameters_are_ignored(api: Api) -> None:
    await api.ok("GET", "/v1/feedback?utm_source=newsletter&whatever=1")


async def test_single_entry_carries_audit_trail_and_notes(api: Api) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    await api.ok("PATCH", f"/v1/feedback/{entry_id}",
                 {"status": "pending", "assignee": "marlene", "note": "Called the customer"})
    await api.ok("PATCH", f"/v1/feedback/{entry_id}", {"status": "resolved"})
    data = (await api.ok("GET", f"/v1/feedback/{entry_id}"))["data"]
    assert data["status"] == "resolved" and data["assigned_to"] == "marlene"
    assert [n["body"] for n in data["notes"]] == ["Called the customer"]
    trail = data["audit_trail"]
    assert [t["action"] for t in trail] == ["created", "updated", "updated"]
    assert trail[1]["before"]["status"] == "new" and trail[1]["after"]["status"] == "pending"
    assert trail[2]["after"]["status"] == "resolved"
    assert all(t["actor"] and t["at"] for t in trail)


async def test_invalid_transition_is_409_with_the_allowed_moves(api: Api) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    await api.ok("PATCH", f"/v1/feedback/{entry_id}", {"status": "resolved"})
    status, body, _ = await api.call("PATCH", f"/v1/feedback/{entry_id}", {"status": "new"})
    assert status == 409
    error = fbp_error(body)
    assert error["code"] == "invalid_transition"
    assert error["details"][0]["allowed"] == ["archived", "pending"]


async def test_empty_or_unknown_patch_fields_are_400(api: Api) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    for patch in ({}, {"stauts": "pending"}, {"status": "done"}):
        status, body, _ = await api.call("PATCH", f"/v1/feedback/{entry_id}", patch)
        assert status == 400, patch
        assert fbp_error(body)["details"]


async def test_a_null_status_or_a_doubled_note_is_400_naming_the_field(api: Api) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    for patch, field in (({"status": None}, "status"),
                         ({"status": None, "note": "Called"}, "status"),
                         ({"note": "Called", "notes": "Called again"}, "notes")):
        status, body, _ = await api.call("PATCH", f"/v1/feedback/{entry_id}", patch)
        assert status == 400, patch
        assert [d["field"] for d in fbp_error(body)["details"]] == [field], body
    status, body, _ = await api.call("POST", "/v1/feedback/bulk",
                                     {"ids": [entry_id], "set": {"status": None}})
    assert status == 400, body
    assert [d["field"] for d in fbp_error(body)["details"]] == ["set.status"], body
    data = (await api.ok("GET", f"/v1/feedback/{entry_id}"))["data"]
    assert data["status"] == "new" and data["notes"] == []


async def test_a_blank_assignee_or_category_is_null_not_an_empty_string(api: Api) -> None:
    """`"assignee": ""` unassigns: an entry is never "assigned to" a name that is empty."""
    created = await api.ok("POST", "/v1/feedback", {**REFERENCE_PAYLOAD, "category": "  "})
    entry_id = created["data"]["id"]
    assert created["data"]["category"] is None
    await api.ok("PATCH", f"/v1/feedback/{entry_id}",
                 {"assignee": "marlene", "category": "usability"})
    for patch in ({"assignee": "", "category": ""}, {"assigned_to": "   "}):
        data = (await api.ok("PATCH", f"/v1/feedback/{entry_id}", patch))["data"]
        assert data["assigned_to"] is None and data["category"] is None, (patch, data)


async def test_soft_deleted_entry_is_404_but_kept_for_audit(
    api: Api, shared_stack: Stack,
) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    await api.ok("DELETE", f"/v1/feedback/{entry_id}")
    status, body, _ = await api.call("GET", f"/v1/feedback/{entry_id}")
    assert status == 404 and fbp_error(body)["code"] == "not_found"
    listed = await api.ok("GET", "/v1/feedback?limit=200")
    assert entry_id not in [e["id"] for e in listed["data"]]
    import asyncpg

    conn = await asyncpg.connect(shared_stack.database_url)
    try:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM feedback.audit_log WHERE entry_id = $1 ORDER BY id", entry_id)]
    finally:
        await conn.close()
    assert actions == ["created", "deleted"]


async def test_unknown_ids_are_404(api: Api) -> None:
    for path in ("/v1/feedback/00000000-0000-0000-0000-000000000000", "/v1/feedback/fb_nope"):
        status, body, _ = await api.call("GET", path)
        assert status == 404
        assert fbp_error(body)["code"] == "not_found"


async def test_page_and_cursor_walk_the_same_order(api: Api) -> None:
    created = [(await api.ok("POST", "/v1/feedback", {**REFERENCE_PAYLOAD, "rating": 1 + i % 5}))
               ["data"]["id"] for i in range(7)]
    by_page: list[str] = []
    for page in (1, 2, 3):
        body = await api.ok("GET", f"/v1/feedback?limit=3&page={page}")
        by_page += [e["id"] for e in body["data"]]
    by_cursor: list[str] = []
    body = await api.ok("GET", "/v1/feedback?limit=3&cursor=")
    by_cursor += [e["id"] for e in body["data"]]
    while body["links"]["next"]:
        body = await api.ok("GET", body["links"]["next"])
        by_cursor += [e["id"] for e in body["data"]]
    assert by_page == by_cursor == list(reversed(created))


# --- Pay4Feedback ----------------------------------------------------------------------------


def p4f_ok(body: dict[str, Any]) -> Any:
    assert body["success"] is True
    assert body["timestamp"].endswith("Z")
    return body["data"]


def p4f_error(body: dict[str, Any]) -> str:
    assert body["success"] is False
    assert body["timestamp"].endswith("Z")
    message: str = body["error"]
    assert isinstance(message, str) and message
    return message


@pytest.mark.parametrize("path", ["/api/v1/webhooks", "/api/v1/webhooks/event-types"])
async def test_a_complete_list_says_no_page_follows(api: Api, path: str) -> None:
    # "the response envelope will gain a next field": on every list, also the short ones
    # that come whole.
    body = await api.ok("GET", path)
    assert isinstance(p4f_ok(body), list) and body["next"] is None
    fbp = await api.ok("GET", path.replace("/api/v1", "/v1"))
    assert fbp["links"]["next"] is None


async def test_responses_list_newest_first_with_a_next_cursor(api: Api) -> None:
    ids = [(await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
           for _ in range(3)]
    body = await api.ok("GET", "/api/v1/responses")
    data = p4f_ok(body)
    assert [r["id"] for r in data] == list(reversed(ids))
    assert body["next"] is None
    first = await api.ok("GET", "/api/v1/responses?limit=2")
    assert len(p4f_ok(first)) == 2 and first["next"]
    rest = await api.ok("GET", f"/api/v1/responses?limit=2&cursor={first['next']}")
    assert [r["id"] for r in p4f_ok(rest)] == [ids[0]]
    status, body, _ = await api.call("GET", "/api/v1/responses?limit=0")
    assert status == 400
    assert p4f_error(body).startswith("limit: ")


async def test_a_listed_response_shows_what_its_own_page_shows(api: Api) -> None:
    """The list is rendered from the brief view of each entry: every field it shows must
    read as on the response's own page (pending, approved with its time, rejected with
    its reason)."""
    ids = [(await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
           for _ in range(3)]
    await api.ok("POST", f"/api/v1/responses/{ids[1]}/approve")
    await api.ok("POST", f"/api/v1/responses/{ids[2]}/reject", {"reason": "Kein Bezug"})
    listed = {r["id"]: r for r in p4f_ok(await api.ok("GET", "/api/v1/responses"))}
    for entry_id in ids:
        detail = p4f_ok(await api.ok("GET", f"/api/v1/responses/{entry_id}"))
        shown = {k: v for k, v in detail.items() if k not in ("answers", "quality", "payout")}
        assert listed[entry_id] == shown
    assert [listed[i]["status"] for i in ids] == ["PENDING", "APPROVED", "REJECTED"]
    assert listed[ids[1]]["reviewed_at"] and listed[ids[2]]["review_reason"] == "Kein Bezug"


async def test_response_detail_has_answers_and_quality_breakdown(api: Api) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", {
        **REFERENCE_PAYLOAD, "answers": {"q1": 4, "q2": "Lieferung war schnell"}}))["data"]["id"]
    data = p4f_ok(await api.ok("GET", f"/api/v1/responses/{entry_id}"))
    assert data["answers"] == {"q1": 4, "q2": "Lieferung war schnell"}
    quality = data["quality"]
    assert 0 <= quality["score"] <= 100 and quality["score"] == data["quality_score"]
    assert {"effort", "specificity", "spam", "duplicate"} <= set(quality["components"])
    assert all(c["reason"] for c in quality["components"].values())
    assert data["status"] == "PENDING"


async def test_approving_twice_is_409_and_reject_takes_a_reason(api: Api) -> None:
    first = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    approved = p4f_ok(await api.ok("POST", f"/api/v1/responses/{first}/approve"))
    assert approved["status"] == "APPROVED"
    status, body, _ = await api.call("POST", f"/api/v1/responses/{first}/approve")
    assert status == 409
    assert "already" in p4f_error(body)
    second = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    rejected = p4f_ok(await api.ok("POST", f"/api/v1/responses/{second}/reject",
                                   {"reason": "Kein Bezug zum Produkt"}))
    assert rejected["status"] == "REJECTED"
    assert rejected["review_reason"] == "Kein Bezug zum Produkt"
    status, body, _ = await api.call("POST", f"/api/v1/responses/{second}/approve")
    assert status == 409


async def test_concurrent_approvals_review_once(api: Api) -> None:
    entry_id = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    results = await asyncio.gather(*(api.call("POST", f"/api/v1/responses/{entry_id}/approve")
                                     for _ in range(5)))
    assert sorted(status for status, _, _ in results) == [200, 409, 409, 409, 409]


async def test_responses_filter_by_status_and_campaign(api: Api) -> None:
    a = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    b = (await api.ok("POST", "/v1/feedback", REFERENCE_PAYLOAD))["data"]["id"]
    await api.ok("POST", f"/api/v1/responses/{a}/approve")
    approved = p4f_ok(await api.ok("GET", "/api/v1/responses?status=approved"))
    assert [r["id"] for r in approved] == [a]
    pending = p4f_ok(await api.ok("GET", "/api/v1/responses?status=PENDING"))
    assert [r["id"] for r in pending] == [b]
    # A campaign that is not the caller's is 404 like any such id (never an empty list,
    # which would tell someone else's campaigns from ones that do not exist).
    status, body, _ = await api.call(
        "GET", "/api/v1/responses?campaign_id=00000000-0000-0000-0000-000000000001")
    assert status == 404 and p4f_error(body)
    assert body["details"][0]["field"] == "campaign_id"


async def test_p4f_errors_use_its_envelope(api: Api, shared_stack: Stack,
                                           http: aiohttp.ClientSession) -> None:
    status, body, _ = await api.call("GET", "/api/v1/responses/not-a-uuid")
    assert status == 404
    p4f_error(body)
    anonymous = Api(http, shared_stack, None)
    status, body, _ = await anonymous.call("GET", "/api/v1/responses")
    assert status == 401
    p4f_error(body)
