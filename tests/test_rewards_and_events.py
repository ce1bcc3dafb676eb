"""Rewards pay exactly once, and every state change puts one event on the topic."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp

from resonanz.devstack.supervisor import Stack
from resonanz.webhook_dispatcher.domain import KNOWN_WEBHOOKS

from .conftest import Infra
from .helpers import Api, new_tenant
from .support import eventually, query, query_value
from .test_gateway_edge import read_topic

GOOD_REVIEW = {"body": "Die Wanderschuhe passen in Größe 43 perfekt, nach zwei Touren keine"
                       " Blasen. Lieferung kam schon nach zwei Tagen.", "rating": 5}
SPAM = {"body": "Verdiene 5000€ im Monat! Schreib mir auf WhatsApp +49 176 12345678",
        "rating": 5}


async def campaign_with(api: Api, stack: Stack, reward: dict[str, Any],
                        **settings: Any) -> str:
    """A campaign the feedback service already knows (its event has been consumed)."""
    created = await api.ok("POST", "/api/v1/campaigns", {"name": "Herbst-Umfrage",
                                                         "reward": reward, **settings})
    campaign: str = created["data"]["id"]
    await eventually(lambda: known_campaign(stack, campaign), lambda known: known,
                     what="the feedback service learning the campaign")
    return campaign


async def known_campaign(stack: Stack, campaign: str) -> bool:
    return bool(await query_value(
        stack.database_url, "SELECT count(*) FROM feedback.campaigns WHERE widget_id = $1",
        campaign))


async def payouts_of(stack: Stack, entry: str) -> list[dict[str, Any]]:
    rows = await query(
        stack.database_url,
        "SELECT p.status, p.amount, p.currency, p.voucher_code, l.amount AS booked"
        " FROM feedback.payouts p LEFT JOIN feedback.ledger l ON l.payout_id = p.id"
        " WHERE p.entry_id = $1", entry)
    return [dict(r) for r in rows]


async def cash_reward_approved(api: Api, stack: Stack) -> tuple[str, dict[str, Any]]:
    """An entry of a 5 EUR campaign, approved: its id and its payout as the API shows it."""
    campaign = await campaign_with(api, stack, {"amount": "5.00", "currency": "EUR"})
    entry = (await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW, "widget_id": campaign,
                                                   "customer_email": "kunde@example.de"}))
    entry_id: str = entry["data"]["id"]
    await api.ok("POST", f"/api/v1/responses/{entry_id}/approve")
    detail = (await api.ok("GET", f"/api/v1/responses/{entry_id}"))["data"]
    payout = (await api.ok("GET", f"/api/v1/payouts/{detail['payout']['id']}"))["data"]
    return entry_id, payout


def feedback_types(events: list[Any], entry_id: str) -> list[str]:
    return [e.type for e in events if e.subject == entry_id]


async def test_concurrent_and_retried_approvals_pay_once(
    shared_stack: Stack, infra: Infra, http: aiohttp.ClientSession,
) -> None:
    """Approving a cash reward pays nothing yet: the payout waits (`pending`, nothing
    booked, no payout.completed) until the shop marks it paid, which happens once."""
    tenant, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    campaign = await campaign_with(api, shared_stack, {"amount": "5.00", "currency": "EUR"})
    entry = (await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW, "widget_id": campaign,
                                                   "customer_email": "kunde@example.de"}))
    entry_id = entry["data"]["id"]
    results = await asyncio.gather(*(api.call("POST", f"/api/v1/responses/{entry_id}/approve")
                                     for _ in range(4)))
    assert sorted(s for s, _, _ in results) == [200, 409, 409, 409]
    retried = await api.call("POST", f"/api/v1/responses/{entry_id}/approve")
    assert retried[0] == 409
    topic = shared_stack.extra_env["RESONANZ_TOPIC_FEEDBACK"]
    events = await eventually(
        lambda: read_topic(infra, topic, 1),
        lambda evs: "reward.approved" in feedback_types(evs, entry_id),
        what="reward.approved")
    # A later event of the same entry (one partition, in order) proves the payout worker
    # has had its turns: a note, then the payout still pending and unbooked.
    await api.ok("PATCH", f"/v1/feedback/{entry_id}", {"notes": "Zahlung folgt"})
    events = await eventually(
        lambda: read_topic(infra, topic, 1),
        lambda evs: "feedback.note_added" in feedback_types(evs, entry_id),
        what="the note's event")
    [payout] = await payouts_of(shared_stack, entry_id)
    assert payout["status"] == "pending" and payout["booked"] is None
    assert "payout.completed" not in feedback_types(events, entry_id)

    [listed] = (await api.ok("GET", "/api/v1/payouts?status=PENDING"))["data"]
    assert listed["response_id"] == entry_id and listed["amount"] == "5.00"
    marks = await asyncio.gather(*(api.call(
        "POST", f"/api/v1/payouts/{listed['id']}/mark-paid", {"reference": "SEPA 2026-12-02"})
        for _ in range(4)))
    assert sorted(s for s, _, _ in marks) == [200, 409, 409, 409]
    [paid] = [body["data"] for s, body, _ in marks if s == 200]
    assert paid["status"] == "paid" and paid["method"] == "manual"
    assert paid["reference"] == "SEPA 2026-12-02" and paid["paid_at"] is not None
    [payout] = await payouts_of(shared_stack, entry_id)
    assert str(payout["booked"]) == "5.00" and payout["currency"] == "EUR"
    events = await eventually(
        lambda: read_topic(infra, topic, 1),
        lambda evs: "payout.completed" in feedback_types(evs, entry_id),
        what="payout.completed")
    assert feedback_types(events, entry_id).count("payout.completed") == 1
    approved = [e for e in events if e.subject == entry_id and e.type == "reward.approved"]
    assert len(approved) == 1 and approved[0].tenantid == tenant


async def test_a_payout_marked_failed_or_cancelled_pays_nothing_and_says_so(
    shared_stack: Stack, infra: Infra, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    failed_entry, payout = await cash_reward_approved(api, shared_stack)
    assert payout["status"] == "pending" and payout["kind"] == "amount"
    status, body, _ = await api.call("POST", f"/api/v1/payouts/{payout['id']}/mark-failed",
                                     {"reason": "IBAN rejected", "surprise": 1})
    assert status == 400 and "surprise" in body["error"]
    failed = (await api.ok("POST", f"/api/v1/payouts/{payout['id']}/mark-failed",
                           {"reason": "IBAN rejected"}))["data"]
    assert failed["status"] == "failed" and failed["failure_reason"] == "IBAN rejected"
    for late in ("mark-paid", "cancel", "mark-failed"):
        status, body, _ = await api.call("POST", f"/api/v1/payouts/{payout['id']}/{late}")
        assert status == 409, (late, body)
    cancelled_entry, other = await cash_reward_approved(api, shared_stack)
    await api.ok("POST", f"/api/v1/payouts/{other['id']}/cancel", {"reason": "duplicate"})
    topic = shared_stack.extra_env["RESONANZ_TOPIC_FEEDBACK"]
    events = await eventually(
        lambda: read_topic(infra, topic, 1),
        lambda evs: "payout.failed" in feedback_types(evs, cancelled_entry),
        what="payout.failed for the cancelled one")
    for entry_id, state in ((failed_entry, "failed"), (cancelled_entry, "cancelled")):
        assert feedback_types(events, entry_id).count("payout.failed") == 1
        assert "payout.completed" not in feedback_types(events, entry_id)
        [event] = [e for e in events if e.subject == entry_id and e.type == "payout.failed"]
        assert event.data["status"] == state
    for entry_id in (failed_entry, cancelled_entry):
        assert [r["booked"] for r in await payouts_of(shared_stack, entry_id)] == [None]
    listed = (await api.ok("GET", "/api/v1/payouts?status=failed,cancelled"))["data"]
    assert sorted(p["status"] for p in listed) == ["cancelled", "failed"]
    status, body, _ = await api.call("GET", "/api/v1/payouts?status=sent")
    assert status == 400 and "status" in body["error"]


async def test_the_approval_answers_with_the_payout_it_made(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """The approve answer shows the pending payout the approval created, as `GET
    /api/v1/responses/{id}` does at once (not `null`); a rejection has none."""
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    campaign = await campaign_with(api, shared_stack, {"amount": "5.00", "currency": "EUR"})
    approved, rejected = [
        (await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW, "widget_id": campaign,
                                               "customer_email": "kunde@example.de"}))
        ["data"]["id"] for _ in range(2)]
    answer = (await api.ok("POST", f"/api/v1/responses/{approved}/approve"))["data"]
    assert answer["status"] == "APPROVED"
    assert answer["payout"] is not None, answer
    assert answer["payout"]["status"] == "pending"
    assert (answer["payout"]["amount"], answer["payout"]["currency"]) == ("5.00", "EUR")
    detail = (await api.ok("GET", f"/api/v1/responses/{approved}"))["data"]
    assert detail["payout"]["id"] == answer["payout"]["id"]
    answer = (await api.ok("POST", f"/api/v1/responses/{rejected}/reject"))["data"]
    assert answer["status"] == "REJECTED" and answer["payout"] is None


async def test_only_admins_mark_payouts_and_vouchers_are_not_marked_paid(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    _, payout = await cash_reward_approved(api, shared_stack)
    editor = (await api.ok("POST", "/v1/api-keys", {"name": "triage", "role": "editor"}))
    as_editor = Api(http, shared_stack, editor["data"]["key"])
    assert (await as_editor.ok("GET", f"/api/v1/payouts/{payout['id']}"))["data"]["id"]
    status, _, _ = await as_editor.call("POST", f"/api/v1/payouts/{payout['id']}/mark-paid")
    assert status == 403
    _, other_key = await new_tenant(shared_stack, "Other")
    stranger = Api(http, shared_stack, other_key)
    for call in (("GET", f"/api/v1/payouts/{payout['id']}"),
                 ("POST", f"/api/v1/payouts/{payout['id']}/mark-paid")):
        status, _, _ = await stranger.call(*call)
        assert status == 404, call
    status, _, _ = await api.call("GET", "/api/v1/payouts/not-a-payout")
    assert status == 404
    campaign = await campaign_with(api, shared_stack, {"voucher_codes": ["WINTER-1"]})
    entry = (await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW, "widget_id": campaign}))
    await api.ok("POST", f"/api/v1/responses/{entry['data']['id']}/approve")
    voucher = await eventually(lambda: payouts_of(shared_stack, entry["data"]["id"]),
                               lambda rows: bool(rows) and rows[0]["status"] == "paid",
                               what="the voucher handed out")
    assert voucher[0]["voucher_code"] == "WINTER-1" and voucher[0]["booked"] is None
    detail = (await api.ok("GET", f"/api/v1/responses/{entry['data']['id']}"))["data"]
    status, body, _ = await api.call("POST",
                                     f"/api/v1/payouts/{detail['payout']['id']}/mark-paid")
    assert status == 409, body


async def test_voucher_rewards_hand_out_distinct_codes_and_block_when_empty(
    shared_stack: Stack, infra: Infra, http: aiohttp.ClientSession,
) -> None:
    """The codes go to the payouts and nowhere else: not into any event on any topic, not
    into any webhook payload (vouchers are money)."""
    tenant, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    await api.ok("POST", "/api/v1/webhooks", {"url": "https://93.184.216.34/resonanz",
                                              "events": sorted(KNOWN_WEBHOOKS)})
    pool = ["HERBST-1", "HERBST-2", "HERBST-UNUSED"]
    campaign = await campaign_with(api, shared_stack, {"voucher_codes": pool})
    await api.ok("PATCH", f"/api/v1/campaigns/{campaign}",
                 {"reward": {"voucher_codes": pool[:2]}})  # the shop takes one out again
    entries = [(await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW, "widget_id": campaign}))
               ["data"]["id"] for _ in range(3)]
    for entry in entries:
        await api.ok("POST", f"/api/v1/responses/{entry}/approve")

    async def settled() -> list[dict[str, Any]]:
        return [row for entry in entries for row in await payouts_of(shared_stack, entry)]
    rows = await eventually(settled, lambda rs: len(rs) == 3 and all(
        r["status"] != "pending" for r in rs), what="all payouts settled")
    codes = sorted(r["voucher_code"] for r in rows if r["status"] == "paid")
    assert codes == ["HERBST-1", "HERBST-2"]
    assert [r["status"] for r in rows].count("blocked") == 1

    paid = await eventually(
        lambda: query(shared_stack.database_url, "SELECT body FROM webhooks.deliveries"
                      " WHERE tenant_id = $1 AND webhook_type = 'payout_completed'",
                      uuid.UUID(tenant)), lambda found: len(found) == 2,
        what="the payout_completed webhooks")
    bodies = [bytes(r["body"]) for r in await query(
        shared_stack.database_url, "SELECT body FROM webhooks.deliveries WHERE tenant_id = $1",
        uuid.UUID(tenant))]
    assert len(bodies) > len(paid)  # widget_created, feedback_created, reward_approved, …
    records = [event.to_bytes() for name in ("RESONANZ_TOPIC_FEEDBACK", "RESONANZ_TOPIC_WIDGETS")
               for event in await read_topic(infra, shared_stack.extra_env[name], 1)]
    for code in pool:
        assert not [b for b in bodies if code.encode() in b], f"{code} in a webhook"
        assert not [r for r in records if code.encode() in r], f"{code} in an event"


async def test_a_voucher_payout_blocked_on_an_empty_pool_is_paid_once_it_is_refilled(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """`blocked` waits for the pool: codes added later pay the blocked payouts, oldest
    first, each once; one the new codes still do not cover stays blocked."""
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    campaign = await campaign_with(api, shared_stack, {"voucher_codes": ["LENZ-1"]})
    entries = []
    for _ in range(3):
        entry = (await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW, "widget_id": campaign}))
        entries.append(entry["data"]["id"])
        await api.ok("POST", f"/api/v1/responses/{entry['data']['id']}/approve")

    async def statuses() -> list[tuple[str, str | None]]:
        return [(r["status"], r["voucher_code"]) for entry in entries
                for r in await payouts_of(shared_stack, entry)]
    await eventually(statuses, lambda found: found == [("paid", "LENZ-1"), ("blocked", None),
                                                       ("blocked", None)],
                     what="one paid, two blocked on the empty pool")
    await api.ok("PATCH", f"/api/v1/campaigns/{campaign}",
                 {"reward": {"voucher_codes": ["LENZ-1", "LENZ-2"]}})
    await eventually(statuses, lambda found: found == [("paid", "LENZ-1"), ("paid", "LENZ-2"),
                                                       ("blocked", None)],
                     what="the oldest blocked payout paid from the refilled pool")
    listed = (await api.ok("GET", "/api/v1/payouts?status=blocked"))["data"]
    assert [p["response_id"] for p in listed] == [entries[2]]
    assert listed[0]["blocked_reason"] == "voucher pool empty"


async def test_each_state_change_is_one_event_on_the_topic(
    shared_stack: Stack, infra: Infra, http: aiohttp.ClientSession,
) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    entry = (await api.ok("POST", "/v1/feedback", GOOD_REVIEW))["data"]["id"]
    await api.ok("PATCH", f"/v1/feedback/{entry}",
                 {"status": "in_progress", "assignee": "anna", "note": "Rückruf vereinbart"})
    await api.ok("PATCH", f"/v1/feedback/{entry}", {"category": "delivery"})
    await api.ok("PATCH", f"/v1/feedback/{entry}", {"status": "in_progress"})  # no change
    await api.ok("POST", f"/api/v1/responses/{entry}/reject", {"reason": "Testeintrag"})
    await api.ok("DELETE", f"/v1/feedback/{entry}")
    expected = ["feedback.created", "feedback.status_changed", "feedback.assigned",
                "feedback.note_added", "feedback.updated", "reward.rejected",
                "feedback.deleted"]
    topic = shared_stack.extra_env["RESONANZ_TOPIC_FEEDBACK"]
    events = await eventually(
        lambda: read_topic(infra, topic, 1),
        lambda evs: len([e for e in evs if e.subject == entry]) >= len(expected),
        what="the entry's events")
    mine = [e for e in events if e.subject == entry]
    assert [e.type for e in mine] == expected
    versions = [e.data["entry"]["version"] for e in mine if "entry" in e.data]
    assert versions == sorted(versions) and versions[-1] == 5


async def test_thresholds_are_tried_on_the_responses_so_far(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """The preview counts what `auto_approve_above` / `auto_reject_below` would have done,
    by the same rule as the automatic review, from the campaign's own responses only."""
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    campaign = await campaign_with(api, shared_stack, {"amount": "2.00", "currency": "EUR"})
    texts = [GOOD_REVIEW["body"], "ok", "Schnelle Lieferung, danke.",
             "Der Reißverschluss der Jacke klemmt nach einer Woche, Größe M, Farbe Oliv."]
    scores = [(await api.ok("POST", "/v1/feedback", {"body": text, "rating": 3,
                                                      "widget_id": campaign}))
              ["data"]["quality_score"] for text in texts]
    spam = (await api.ok("POST", "/v1/feedback", {**SPAM, "widget_id": campaign}))["data"]
    await api.ok("POST", "/v1/feedback", {**GOOD_REVIEW})  # no campaign
    approve, reject = sorted(scores)[2], sorted(scores)[1]
    preview = (await api.ok("GET", "/api/v1/rewards/threshold-preview?" + urlencode({
        "campaign_id": campaign, "auto_approve_above": approve,
        "auto_reject_below": reject})))["data"]
    assert preview["scored"] == 5 and preview["campaign_id"] == campaign
    assert preview["spam"] == 1
    # Spam is never approved, and any rejecting threshold rejects it, whatever its score.
    assert preview["would_approve"] == sum(s >= approve for s in scores)
    assert preview["would_reject"] == sum(s < reject for s in scores) + 1
    assert preview["left_for_review"] == 5 - preview["would_approve"] - preview["would_reject"]
    assert sum(b["count"] for b in preview["by_score"]) == 5
    assert {b["score"] for b in preview["by_score"]} == {*scores, spam["quality_score"]}
    lenient = (await api.ok("GET", "/api/v1/rewards/threshold-preview?" + urlencode({
        "campaign_id": campaign, "auto_approve_above": 0})))["data"]
    assert (lenient["would_approve"], lenient["would_reject"]) == (4, 0)
    whole = (await api.ok("GET", "/api/v1/rewards/threshold-preview"))["data"]
    assert whole["scored"] == 6 and whole["would_approve"] == whole["would_reject"] == 0
    for bad, field in (({"auto_approve_above": 101}, "auto_approve_above"),
                       ({"auto_approve_above": 40, "auto_reject_below": 60},
                        "auto_reject_below")):
        status, body, _ = await api.call("GET", "/api/v1/rewards/threshold-preview?"
                                         + urlencode(bad))
        assert status == 400 and field in body["error"], body


async def test_spam_is_never_approved_automatically_and_rejected_by_a_rejecting_threshold(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    """An approving threshold of 0 approves every response but the ones labelled spam:
    without a rejecting threshold they wait for a person, with one they are rejected (here
    one of 0, which rejects no score: only the label rejects them)."""
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    reward = {"amount": "2.00", "currency": "EUR"}
    states = {}
    for name, thresholds in (("approving", {"auto_approve_above": 0}),
                             ("both", {"auto_approve_above": 0, "auto_reject_below": 0})):
        campaign = await campaign_with(api, shared_stack, reward, **thresholds)
        for kind, body in (("genuine", GOOD_REVIEW), ("spam", SPAM)):
            entry = (await api.ok("POST", "/v1/feedback", {**body, "widget_id": campaign}))
            [row] = await query(
                shared_stack.database_url,
                "SELECT reward_status, quality->>'label' AS label FROM feedback.entries"
                " WHERE id = $1", uuid.UUID(entry["data"]["id"]))
            assert (row["label"] == "spam") == (kind == "spam")
            states[name, kind] = row["reward_status"]
    assert states == {("approving", "genuine"): "approved", ("approving", "spam"): "pending",
                      ("both", "genuine"): "approved", ("both", "spam"): "rejected"}
