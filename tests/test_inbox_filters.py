"""The inbox's list filters (issue 16) through the gateway, in both dialects: rating,
category, assignee (`me` too), quality label and score, reward state and full-text search
in German and English; each alone, together, with cursor and page paging; bad values are
a 400 naming the parameter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api, new_tenant
from .support import eventually
from .support import query as sql
from .test_feedback_contract import fbp_error, p4f_error, p4f_ok

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

SAMPLES = [
    # body, rating, category, answers
    ("Die Lieferungen kamen immer pünktlich, die Verpackung war stabil und sauber.", 5,
     "Versand", {"q1": 5}),
    ("Lieferung kam drei Tage zu spät, der Karton war beschädigt.", 2, "versand", {}),
    ("The parcel shipped quickly and the fabric of the jacket feels great.", 4, "shipping",
     {"q2": "Tracking worked fine"}),
    ("Size guide is wrong, the trousers are two sizes too small.", 2, "sizes", {}),
    ("ok", 3, None, {"q2": "We are shipping to Austria next week, will it arrive?"}),
    ("Checkout button was unresponsive on mobile Safari.", 1, "usability", {}),
]


async def seed(api: Api) -> list[dict[str, Any]]:
    """The samples, oldest first, each with its quality label from the detail view."""
    entries = []
    for body, rating, category, answers in SAMPLES:
        created = (await api.ok("POST", "/v1/feedback", {
            "body": body, "rating": rating, "category": category, "answers": answers,
            "customer_email": "kunde@example.de"}))["data"]
        detail = p4f_ok(await api.ok("GET", f"/api/v1/responses/{created['id']}"))
        entries.append({**created, "label": detail["quality"]["label"], "answers": answers})
    return entries


def newest_first(entries: list[dict[str, Any]], keep: Any) -> list[str]:
    return [e["id"] for e in reversed(entries) if keep(e)]


async def fbp_ids(api: Api, **query: Any) -> list[str]:
    body = await api.ok("GET", f"/v1/feedback?{urlencode(query)}")
    return [e["id"] for e in body["data"]]


async def p4f_ids(api: Api, **query: Any) -> list[str]:
    return [r["id"] for r in p4f_ok(await api.ok("GET", f"/api/v1/responses?{urlencode(query)}"))]


async def fbp_walk(api: Api, **query: Any) -> list[str]:
    """Every entry a keyset walk of pages of two visits."""
    ids: list[str] = []
    cursor = ""
    while True:
        page = urlencode({**query, "limit": 2, "cursor": cursor})
        body = await api.ok("GET", f"/v1/feedback?{page}")
        ids += [e["id"] for e in body["data"]]
        cursor = body["meta"]["next_cursor"]
        assert len(body["data"]) == 2 or cursor is None
        if not cursor:
            return ids


async def fbp_pages(api: Api, **query: Any) -> list[str]:
    ids: list[str] = []
    for page in range(1, 10):
        body = await api.ok("GET", "/v1/feedback?" + urlencode({**query, "limit": 2,
                                                                  "page": page}))
        ids += [e["id"] for e in body["data"]]
        if body["links"]["next"] is None:
            assert body["meta"]["total"] == len(ids)
            return ids
    raise AssertionError("more pages than entries")


async def p4f_walk(api: Api, **query: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await api.ok("GET", "/api/v1/responses?" + urlencode(
            {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}))
        ids += [r["id"] for r in p4f_ok(page)]
        cursor = page["next"]
        if not cursor:
            return ids


def search(word: str) -> Any:
    return lambda e: word in (e["body"] + " " + " ".join(map(str, e["answers"].values())))


async def test_each_filter_alone_in_both_dialects(api: Api) -> None:
    entries = await seed(api)
    # The key is the owner's, the tenant's one member: `me` is them.
    [owner] = [u["id"] for u in (await api.ok("GET", "/v1/users"))["data"]]
    await api.ok("PATCH", f"/v1/feedback/{entries[1]['id']}", {"assignee": owner})
    await api.ok("PATCH", f"/v1/feedback/{entries[3]['id']}", {"assignee": "Marlene"})
    entries[1]["assigned_to"], entries[3]["assigned_to"] = owner, "Marlene"
    labels = {e["label"] for e in entries}
    label = entries[0]["label"]
    scores = sorted(e["quality_score"] for e in entries)
    low, high = scores[1], scores[-2]
    cases: list[tuple[dict[str, str], Any]] = [
        ({"rating": "2"}, lambda e: e["rating"] == 2),
        ({"rating": "1,5"}, lambda e: e["rating"] in (1, 5)),
        ({"rating_min": "3"}, lambda e: e["rating"] >= 3),
        ({"rating_min": "2", "rating_max": "3"}, lambda e: 2 <= e["rating"] <= 3),
        ({"category": "VERSAND"}, lambda e: (e["category"] or "").lower() == "versand"),
        ({"quality": label}, lambda e: e["label"] == label),
        ({"quality": ",".join(sorted(labels))}, lambda e: True),
        ({"score_min": str(low)}, lambda e: e["quality_score"] >= low),
        ({"score_min": str(low), "score_max": str(high)},
         lambda e: low <= e["quality_score"] <= high),
        ({"assignee": owner}, lambda e: e.get("assigned_to") == owner),
        ({"assignee": owner.upper()}, lambda e: e.get("assigned_to") == owner),
        ({"assignee": "me"}, lambda e: e.get("assigned_to") == owner),
        ({"assignee": "Marlene"}, lambda e: e.get("assigned_to") == "Marlene"),
        # German stems: the singular finds the plural and the other way round.
        ({"q": "Lieferung"}, lambda e: "Lieferung" in e["body"]),
        ({"q": "lieferungen"}, lambda e: "Lieferung" in e["body"]),
        # English stems, in the body and in the answers.
        ({"q": "shipping"}, lambda e: "shipp" in e["body"] + str(e["answers"])),
        ({"q": "shipped"}, lambda e: "shipp" in e["body"] + str(e["answers"])),
        ({"q": "Tracking"}, search("Tracking")),
        ({"q": '"zu spät"'}, search("zu spät")),
        ({"q": "Lieferung -beschädigt"}, lambda e: e["body"].startswith("Die Lieferungen")),
        ({"q": "Safari"}, search("Safari")),
        ({"q": "nirgendwo"}, lambda e: False),
    ]
    for query, keep in cases:
        expected = newest_first(entries, keep)
        assert await fbp_ids(api, **query) == expected, query
        assert await p4f_ids(api, **query) == expected, query
    assert await fbp_ids(api, assigned_to="me") == [entries[1]["id"]]


async def test_filters_combine_and_page_by_cursor_and_by_page(api: Api) -> None:
    entries = await seed(api)
    entries += await seed(api)  # twelve: enough for several pages of two
    await api.ok("PATCH", f"/v1/feedback/{entries[7]['id']}", {"status": "resolved"})
    await api.ok("POST", f"/api/v1/responses/{entries[8]['id']}/approve")
    combos: list[tuple[dict[str, str], Any]] = [
        ({}, lambda e: True),
        ({"rating_max": "4", "q": "Lieferung OR shipping OR sizes"},
         lambda e: e["rating"] <= 4 and any(w in e["body"] + str(e["answers"]) for w in (
             "Lieferung", "shipp", "sizes"))),
        ({"rating": "2,4", "category": "versand"},
         lambda e: e["rating"] in (2, 4) and (e["category"] or "").lower() == "versand"),
        ({"score_min": "0", "status": "new", "q": "Lieferung"},
         lambda e: "Lieferung" in e["body"] and e["id"] != entries[7]["id"]),
    ]
    for query, keep in combos:
        expected = newest_first(entries, keep)
        assert await fbp_walk(api, **query) == expected, query
        assert await fbp_pages(api, **query) == expected, query
        assert await fbp_walk(api, **query, sort="created_at:asc") == expected[::-1], query
        p4f_query = {k: v for k, v in query.items() if k != "status"}
        if "status" not in query:
            assert await p4f_walk(api, **p4f_query) == expected, query
    # The reward state works with the others, in both dialects' spelling.
    approved = [entries[8]["id"]]
    assert await p4f_walk(api, status="APPROVED", rating=str(entries[8]["rating"])) == approved
    assert await fbp_walk(api, reward_status="approved") == approved
    pending = newest_first(entries, lambda e: e["id"] != entries[8]["id"] and e["rating"] == 2)
    assert await p4f_walk(api, status="pending", rating_max="2", rating_min="2") == pending
    assert await fbp_walk(api, reward_status="pending", rating="2") == pending


async def test_entries_of_a_widget_without_reward_are_no_pending_rewards(api: Api) -> None:
    paying = (await api.ok("POST", "/v1/widgets", {
        "name": "Paying", "is_active": True, "reward": {"amount": "5.00", "currency": "EUR"}}
    ))["data"]
    free = (await api.ok("POST", "/v1/widgets", {"name": "Free", "is_active": True}))["data"]

    async def stored(widget: dict[str, Any], want: str) -> dict[str, Any]:
        """An entry of `widget` once the feedback service knows its campaign (widget
        events arrive asynchronously; entries stored before that are removed again)."""
        async def probe() -> dict[str, Any]:
            entry = (await api.ok("POST", "/v1/feedback", {
                "body": "Die Lieferung kam pünktlich und gut verpackt an.", "rating": 4,
                "widget_id": widget["id"]}))["data"]
            view = p4f_ok(await api.ok("GET", f"/api/v1/responses/{entry['id']}"))
            if view["status"] != want:
                await api.ok("DELETE", f"/v1/feedback/{entry['id']}")
            return view
        return await eventually(probe, lambda v: v["status"] == want, interval=0.3,
                                what=f"an entry of {widget['name']} with {want}")

    paid = await stored(paying, "PENDING")
    unpaid = await stored(free, "NONE")
    assert await p4f_ids(api, status="pending") == [paid["id"]]
    assert await p4f_ids(api, status="none") == [unpaid["id"]]
    assert await fbp_ids(api, reward_status="pending") == [paid["id"]]
    assert set(await fbp_ids(api, q="Lieferung")) == {paid["id"], unpaid["id"]}

    # Nothing to review: it names no move, and each review is refused, alone or in bulk,
    # so it never turns up as an approved (or rejected) reward that does not exist.
    assert unpaid["allowed_transitions"] == []
    for verdict in ("approve", "reject"):
        status, body, _ = await api.call("POST", f"/api/v1/responses/{unpaid['id']}/{verdict}")
        assert status == 409 and body["code"] == "no_reward", (verdict, body)
        assert "no reward" in p4f_error(body)
    bulk = p4f_ok(await api.ok("POST", "/api/v1/responses/bulk",
                               {"ids": [unpaid["id"], paid["id"]], "action": "reject"}))
    assert [(i["id"], i["status"]) for i in bulk["items"]] == [(unpaid["id"], 409),
                                                               (paid["id"], 200)]
    assert bulk["items"][0]["error"]["code"] == "no_reward"
    assert await p4f_ids(api, status="none") == [unpaid["id"]]
    totals = p4f_ok(await api.ok("GET", "/api/v1/rewards/totals"))
    assert (totals["approved"], totals["rejected"]) == (0, 1)


@pytest.mark.parametrize(("name", "value"), [
    ("rating", "6"), ("rating", "zwei"), ("rating", "1,,x"), ("rating_min", "0"),
    ("rating_max", "2.5"), ("score_min", "-1"), ("score_max", "101"), ("score_min", "٣"),
    ("quality", "excellent"), ("q", "x" * 201), ("q", "a\x00b"), ("category", "c" * 201),
])
async def test_a_bad_filter_is_a_400_naming_it_in_both_dialects(api: Api, name: str,
                                                                value: str) -> None:
    status, body, _ = await api.call("GET", f"/v1/feedback?{urlencode({name: value})}")
    assert status == 400, body
    assert [d["field"] for d in fbp_error(body)["details"]] == [name]
    status, body, _ = await api.call("GET", f"/api/v1/responses?{urlencode({name: value})}")
    assert status == 400, body
    assert p4f_error(body).startswith(f"{name}: ")


async def test_reward_state_and_assignee_errors_name_the_dialects_parameter(api: Api) -> None:
    status, body, _ = await api.call("GET", "/v1/feedback?reward_status=paid")
    assert status == 400 and fbp_error(body)["details"][0]["field"] == "reward_status"
    status, body, _ = await api.call("GET", "/api/v1/responses?status=PAID")
    assert status == 400 and p4f_error(body).startswith("status: ")
    # An unknown widget or campaign is still a 404, whatever else is asked.
    nobody = "00000000-0000-0000-0000-000000000001"
    status, body, _ = await api.call("GET", f"/v1/feedback?widget_id={nobody}&q=x&rating=2")
    assert status == 404
    status, body, _ = await api.call("GET", f"/api/v1/responses?campaign_id={nobody}&q=x")
    assert status == 404 and body["details"][0]["field"] == "campaign_id"


# --- search at a size where it takes its two paths (services/feedback/store.py _searched) ----


async def test_a_search_finds_the_newest_matches_whether_they_are_new_or_old(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """1,500 entries, newest first: "Lieferung" in every second (its page comes from the
    walk among the newest), "Retoure" in every fortieth (too few among the newest 1,000
    for a page: the GIN index's turn), "Gartenzwerg" only in the three oldest. Every page,
    walked by cursor in both dialects, is what the database holds in that order, and a
    rating filter narrows the walk as it narrows the truth."""
    tenant, key = await new_tenant(shared_stack)
    await sql(shared_stack.database_url, """
        INSERT INTO feedback.entries (id, tenant_id, body, rating, created_at)
        SELECT gen_random_uuid(), $1::uuid,
               CASE WHEN g <= 3 THEN 'Der Gartenzwerg kam heil an'
                    WHEN g % 40 = 0 THEN 'Die Retoure war einfach'
                    WHEN g % 2 = 0 THEN 'Die Lieferung kam pünktlich'
                    ELSE 'Alles gut' END || ' #' || g,
               1 + g % 5, now() - interval '1 hour' + g * interval '1 second'
        FROM generate_series(1, 1500) AS g""", tenant)

    async def truth(word: str, rating_min: int = 1) -> list[str]:
        rows = await sql(shared_stack.database_url,
                         "SELECT id FROM feedback.entries WHERE tenant_id = $1"
                         " AND body LIKE '%' || $2 || '%' AND rating >= $3"
                         " ORDER BY created_at DESC, id DESC", tenant, word, rating_min)
        return [str(row["id"]) for row in rows]

    api = Api(http, shared_stack, key)

    async def walk(dialect: str, **params: Any) -> list[str]:
        ids: list[str] = []
        cursor = ""
        while True:
            if dialect == "fbp":
                body = await api.ok("GET", "/v1/feedback?" + urlencode(
                    {**params, "limit": 100, "cursor": cursor}))
                ids += [e["id"] for e in body["data"]]
                cursor = body["meta"]["next_cursor"]
            else:
                body = await api.ok("GET", "/api/v1/responses?" + urlencode(
                    {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}))
                ids += [r["id"] for r in p4f_ok(body)]
                cursor = body["next"]
            if not cursor:
                return ids

    for word in ("Lieferung", "Retoure", "Gartenzwerg"):
        expected = await truth(word)
        assert len(expected) == {"Lieferung": 712, "Retoure": 37, "Gartenzwerg": 3}[word]
        assert await walk("fbp", q=word) == expected, word
        assert await walk("p4f", q=word) == expected, word
    assert await walk("fbp", q="Lieferung", rating_min=4) == await truth("Lieferung", 4)
