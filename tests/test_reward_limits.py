"""Reward limits (issue 24): a campaign's `reward.budget` caps what its cash rewards pay in
total and `reward.per_shopper` how many rewards one shopper email gets within a period.
Both hold when a reward is approved, also under concurrent approvals and in the bulk
review: one over a limit is a 409 that names it, and nothing is approved or paid. The
dashboard's widget editor sets them and shows what is spent of the budget."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .browser import audit, new_shop, sign_in
from .conftest import Infra
from .helpers import Api, new_tenant
from .support import eventually, query, query_value
from .test_gateway_edge import read_topic
from .test_rewards_and_events import GOOD_REVIEW, campaign_with

FIVE_EUR = {"amount": "5.00", "currency": "EUR"}


@pytest.fixture
def stack(portal_stack: Stack) -> Stack:
    """The session's platform of the payouts' modules (each test makes its own shop)."""
    return portal_stack


@pytest.fixture
async def api(stack: Stack, http: aiohttp.ClientSession) -> Api:
    _, key = await new_tenant(stack)
    return Api(http, stack, key)


async def response_of(api: Api, campaign: str, email: str | None = "kunde@example.de") -> str:
    body: dict[str, Any] = {**GOOD_REVIEW, "widget_id": campaign}
    if email is not None:
        body["customer_email"] = email
    entry: str = (await api.ok("POST", "/v1/feedback", body))["data"]["id"]
    return entry


async def approve(api: Api, entry: str) -> tuple[int, Any]:
    status, body, _ = await api.call("POST", f"/api/v1/responses/{entry}/approve")
    return status, body


async def payouts_of_campaign(stack: Stack, campaign: str) -> list[dict[str, Any]]:
    rows = await query(stack.database_url, "SELECT entry_id, amount, status FROM"
                       " feedback.payouts WHERE widget_id = $1", campaign)
    return [dict(r) for r in rows]


async def reward_state(stack: Stack, entry: str) -> str:
    state: str = await query_value(
        stack.database_url, "SELECT reward_status FROM feedback.entries WHERE id = $1", entry)
    return state


async def test_approvals_stop_at_the_budget_with_a_409_naming_it(stack: Stack, api: Api
                                                                 ) -> None:
    campaign = await campaign_with(api, stack, {**FIVE_EUR, "budget": "15.00"})
    entries = [await response_of(api, campaign, f"kunde{i}@example.de") for i in range(5)]
    for entry in entries[:3]:
        assert (await approve(api, entry))[0] == 200
    status, body = await approve(api, entries[3])
    assert status == 409 and body["code"] == "reward_budget_exhausted", body
    assert "15.00 EUR" in body["error"] and "0.00 EUR left" in body["error"]
    [detail] = body["details"]
    assert detail["field"] == "reward.budget" and detail["budget"] == "15.00"
    assert detail["spent"] == "15.00" and detail["remaining"] == "0.00"
    # Nothing written: still pending, no payout, no audit row of an approval.
    assert await reward_state(stack, entries[3]) == "pending"
    assert len(await payouts_of_campaign(stack, campaign)) == 3
    assert await query_value(stack.database_url, "SELECT count(*) FROM feedback.audit_log"
                             " WHERE entry_id = $1 AND action = 'reward_approved'",
                             entries[3]) == 0
    totals = (await api.ok("GET", f"/api/v1/rewards/totals?campaign_id={campaign}"))["data"]
    assert totals["budget"] == {"currency": "EUR", "amount": "15.00", "spent": "15.00",
                                "remaining": "0.00"}
    # A rejection is never limited; a cancelled payout frees its share of the budget.
    await api.ok("POST", f"/api/v1/responses/{entries[4]}/reject", {"reason": "spam"})
    detail_of = (await api.ok("GET", f"/api/v1/responses/{entries[0]}"))["data"]
    await api.ok("POST", f"/api/v1/payouts/{detail_of['payout']['id']}/cancel",
                 {"reason": "paid twice by mistake"})
    assert (await approve(api, entries[3]))[0] == 200
    totals = (await api.ok("GET", f"/api/v1/rewards/totals?campaign_id={campaign}"))["data"]
    assert totals["budget"]["spent"] == "15.00" and totals["budget"]["remaining"] == "0.00"


async def test_eight_concurrent_approvals_against_a_budget_for_three_pay_three(
    stack: Stack, api: Api,
) -> None:
    campaign = await campaign_with(api, stack, {**FIVE_EUR, "budget": {"amount": "15.00"}})
    entries = [await response_of(api, campaign, f"kunde{i}@example.de") for i in range(8)]
    results = await asyncio.gather(*(approve(api, entry) for entry in entries))
    assert sorted(status for status, _ in results) == [200] * 3 + [409] * 5, results
    assert {body["code"] for status, body in results if status == 409} == {
        "reward_budget_exhausted"}
    payouts = await payouts_of_campaign(stack, campaign)
    assert len(payouts) == 3 and sum(p["amount"] for p in payouts) == Decimal("15.00")
    approved = [entry for entry, (status, _) in zip(entries, results, strict=True)
                if status == 200]
    assert sorted(str(p["entry_id"]) for p in payouts) == sorted(approved)


async def test_one_reward_per_shopper_email_and_another_shopper_still_paid(
    stack: Stack, api: Api,
) -> None:
    campaign = await campaign_with(api, stack, {
        **FIVE_EUR, "per_shopper": {"max_rewards": 1, "period_days": 30}})
    first = await response_of(api, campaign, "Kunde@Example.de")
    again = await response_of(api, campaign, "kunde@example.de")
    other = await response_of(api, campaign, "nachbarin@example.de")
    anonymous = await response_of(api, campaign, None)
    assert (await approve(api, first))[0] == 200
    status, body = await approve(api, again)
    assert status == 409 and body["code"] == "shopper_reward_limit_reached", body
    assert "1 per shopper per 30 days" in body["error"]
    assert body["details"][0]["field"] == "reward.per_shopper"
    assert body["details"][0]["max_rewards"] == 1 and body["details"][0]["period_days"] == 30
    assert "kunde@example.de" not in str(body).lower()  # the error names no shopper
    assert await reward_state(stack, again) == "pending"
    assert (await approve(api, other))[0] == 200
    # Without an email there is no shopper to count: the per-shopper limit cannot apply.
    assert (await approve(api, anonymous))[0] == 200
    # Another campaign of the shop counts its own.
    elsewhere = await campaign_with(api, stack, {
        **FIVE_EUR, "per_shopper": {"max_rewards": 1, "period_days": 30}})
    assert (await approve(api, await response_of(api, elsewhere, "kunde@example.de")))[0] == 200


async def test_the_bulk_review_reports_each_refused_approval(stack: Stack, api: Api) -> None:
    campaign = await campaign_with(api, stack, {**FIVE_EUR, "budget": "10.00"})
    entries = [await response_of(api, campaign, f"kunde{i}@example.de") for i in range(4)]
    result = (await api.ok("POST", "/api/v1/responses/bulk",
                           {"ids": entries, "action": "approve"}))["data"]
    assert (result["requested"], result["succeeded"], result["failed"]) == (4, 2, 2), result
    refused = [item for item in result["items"] if not item["ok"]]
    assert all(item["status"] == 409 and item["error"]["code"] == "reward_budget_exhausted"
               and "10.00 EUR" in item["error"]["message"] for item in refused), refused
    assert len(await payouts_of_campaign(stack, campaign)) == 2
    # The refused ones are still there to reject, in bulk too.
    rejected = (await api.ok("POST", "/api/v1/responses/bulk", {
        "ids": [item["id"] for item in refused], "action": "reject"}))["data"]
    assert rejected["succeeded"] == 2


async def test_an_automatic_approval_over_the_budget_leaves_the_response_pending(
    stack: Stack, api: Api,
) -> None:
    campaign = await api.ok("POST", "/api/v1/campaigns", {
        "name": "Auto", "reward": {**FIVE_EUR, "budget": "5.00"}, "auto_approve_above": 0})
    campaign_id = campaign["data"]["id"]
    await eventually(lambda: query_value(
        stack.database_url, "SELECT count(*) FROM feedback.campaigns WHERE widget_id = $1",
        campaign_id), lambda n: n == 1, what="the feedback service learning the campaign")
    first = await response_of(api, campaign_id, "eins@example.de")
    second = await response_of(api, campaign_id, "zwei@example.de")  # still a 201
    assert await reward_state(stack, first) == "approved"
    assert await reward_state(stack, second) == "pending"
    assert len(await payouts_of_campaign(stack, campaign_id)) == 1


async def test_limits_are_set_in_both_dialects_and_a_bad_one_is_a_400_naming_it(
    stack: Stack, api: Api,
) -> None:
    limits = {**FIVE_EUR, "budget": "5.00", "per_shopper": {"max_rewards": 1,
                                                            "period_days": 7}}
    widget = (await api.ok("POST", "/v1/widgets", {"name": "FBP", "reward": limits}))["data"]
    campaign = (await api.ok("GET", f"/api/v1/campaigns/{widget['id']}"))["data"]
    assert campaign["reward"]["budget"] == {"amount": "5.00", "currency": "EUR"}
    assert campaign["reward"]["per_shopper"] == {"max_rewards": 1, "period_days": 7}
    # Set through FeedBackPro, enforced on the Pay4Feedback approval.
    await eventually(lambda: query_value(
        stack.database_url, "SELECT count(*) FROM feedback.campaigns WHERE widget_id = $1",
        widget["id"]), lambda n: n == 1, what="the feedback service learning the widget")
    assert (await approve(api, await response_of(api, widget["id"], "a@example.de")))[0] == 200
    status, body = await approve(api, await response_of(api, widget["id"], "b@example.de"))
    assert status == 409 and body["code"] == "reward_budget_exhausted"
    # Raising the budget (Pay4Feedback) lets the next one through.
    await api.ok("PATCH", f"/api/v1/campaigns/{widget['id']}", {
        "reward": {**limits, "budget": {"amount": "10.00", "currency": "EUR"}}})
    third = await response_of(api, widget["id"], "c@example.de")
    await eventually(lambda: approve(api, third), lambda answer: answer[0] == 200,
                     what="an approval within the raised budget")

    bad = [
        ("POST", "/v1/widgets", {**FIVE_EUR, "budget": {"amount": "50", "currency": "USD"}},
         "reward.budget", "EUR"),
        ("POST", "/api/v1/campaigns", {**FIVE_EUR, "budget": "0"}, "reward.budget.amount",
         "greater than 0"),
        ("POST", "/api/v1/campaigns", {**FIVE_EUR, "budget": "2.50"}, "reward.budget",
         "at least one reward"),
        ("POST", "/api/v1/campaigns", {"voucher_codes": ["A-1"], "budget": "10.00"},
         "reward.budget", "voucher pool"),
        ("PATCH", f"/v1/widgets/{widget['id']}", {**FIVE_EUR, "per_shopper": {
            "max_rewards": 0, "period_days": 30}}, "reward.per_shopper.max_rewards", ">= 1"),
        ("PATCH", f"/api/v1/campaigns/{widget['id']}", {**FIVE_EUR, "per_shopper": {
            "max_rewards": 1, "period_days": "soon"}}, "reward.per_shopper.period_days",
         "integer"),
    ]
    for method, path, reward, field, said in bad:
        status, body, _ = await api.call(method, path, {"name": "Bad", "reward": reward})
        assert status == 400, (path, reward, body)
        fields = [d["field"] for d in
                  (body["details"] if path.startswith("/api/") else body["meta"]["error"][
                      "details"])]
        message = body["error"] if path.startswith("/api/") else body["meta"]["error"][
            "message"]
        assert field in fields and field in message, (field, body)
        assert said.replace(">= 1", "greater than or equal to 1") in message, (said, message)


async def test_reward_amounts_are_spelled_with_two_places_in_answers_and_events(
    stack: Stack, infra: Infra, api: Api,
) -> None:
    """A reward or budget sent as `5.1`, `5` or `1E+3` is the same money as `5.10`: the
    campaign, its events and the `reward_approved` event say it with two places, as the
    payout does (a webhook said "1E+3" for the 1000.00 the payout paid)."""
    created = await api.ok("POST", "/api/v1/campaigns", {"name": "Zahlen", "reward": {
        "amount": "1E+3", "currency": "EUR", "budget": {"amount": 2000}}})
    assert created["data"]["reward"] == {
        "amount": "1000.00", "currency": "EUR",
        "budget": {"amount": "2000.00", "currency": "EUR"}}
    campaign = await campaign_with(api, stack, {"amount": 5.1, "currency": "EUR",
                                                "budget": "10"})
    shown = (await api.ok("GET", f"/api/v1/campaigns/{campaign}"))["data"]["reward"]
    assert (shown["amount"], shown["budget"]["amount"]) == ("5.10", "10.00")
    entry = await response_of(api, campaign)
    assert (await approve(api, entry))[0] == 200
    payout = (await api.ok("GET", f"/api/v1/responses/{entry}"))["data"]["payout"]
    assert payout["amount"] == "5.10"
    events = await eventually(
        lambda: read_topic(infra, stack.extra_env["RESONANZ_TOPIC_FEEDBACK"], 1),
        lambda evs: any(e.subject == entry and e.type.endswith("reward.approved")
                        for e in evs), what="the reward.approved event")
    [approved] = [e for e in events if e.subject == entry and e.type.endswith("reward.approved")]
    assert (approved.data["amount"], approved.data["currency"]) == ("5.10", "EUR")


async def test_widget_events_carry_the_limits_and_never_voucher_codes(
    stack: Stack, infra: Infra, api: Api,
) -> None:
    cash = await campaign_with(api, stack, {**FIVE_EUR, "budget": "100.00",
                                            "per_shopper": {"max_rewards": 2,
                                                            "period_days": 30}})
    pool = await campaign_with(api, stack, {"voucher_codes": ["GEHEIM-1", "GEHEIM-2"],
                                            "per_shopper": {"max_rewards": 1,
                                                            "period_days": 90}})
    topic = stack.extra_env["RESONANZ_TOPIC_WIDGETS"]
    events = await eventually(
        lambda: read_topic(infra, topic, 1),
        lambda evs: {cash, pool} <= {e.subject for e in evs}, what="both widgets' events")
    rewards = {e.subject: e.data["widget"]["reward"] for e in events
               if e.subject in (cash, pool)}
    assert rewards[cash] == {**FIVE_EUR, "budget": {"amount": "100.00", "currency": "EUR"},
                             "per_shopper": {"max_rewards": 2, "period_days": 30}}
    assert rewards[pool]["per_shopper"] == {"max_rewards": 1, "period_days": 90}
    assert rewards[pool]["voucher_pool"]["size"] == 2
    assert "GEHEIM" not in str([e.data for e in events if e.subject == pool])


async def test_the_widget_editor_sets_the_limits_and_shows_what_is_spent(
    stack: Stack, people: Any,
) -> None:
    shop = await new_shop(stack, "Budgetladen")
    campaign = await shop.ok("POST", "/api/v1/campaigns", {"name": "Herbst", "reward": {
        **FIVE_EUR, "budget": "15.00", "per_shopper": {"max_rewards": 1, "period_days": 30}}})
    await eventually(lambda: query_value(
        stack.database_url, "SELECT count(*) FROM feedback.campaigns WHERE widget_id = $1",
        campaign["id"]), lambda n: n == 1, what="the feedback service learning the campaign")
    entry = await shop.entry(**GOOD_REVIEW, widget_id=campaign["id"],
                             customer_email="kunde@example.de")
    await shop.ok("POST", f"/api/v1/responses/{entry['id']}/approve")
    _, address = await shop.member("editor")
    person = await people()
    await sign_in(person, stack, address)
    page = await person.goto(stack, f"/app/widgets/{campaign['public_id']}")
    used = await page.locator("#budget-used").inner_text()
    assert "5.00" in used and "15.00" in used and "10.00 left" in used, used
    assert await page.locator("#reward-budget").input_value() == "15.00"
    assert await page.locator("#per-shopper-max").input_value() == "1"
    assert await page.locator("#per-shopper-days").input_value() == "30"
    assert await audit(page, "widget editor with reward limits") == []
    # Below one reward: the API's 400 next to the budget field.
    await page.locator("#reward-budget").fill("2.50")
    await page.locator("#save-widget").click()
    await page.wait_for_selector("#reward-budget[aria-invalid=true]")
    shown = await page.locator(".field-error:not([hidden])").all_inner_texts()
    assert any("at least one reward" in text for text in shown), shown
    await page.locator("#reward-budget").fill("20.00")
    await page.locator("#per-shopper-days").fill("7")
    await page.locator("#save-widget").click()
    await eventually(lambda: shop.ok("GET", f"/api/v1/campaigns/{campaign['id']}"),
                     lambda saved: saved["reward"].get("budget", {}).get("amount") == "20.00",
                     what="the raised budget saved")
    saved = await shop.ok("GET", f"/api/v1/campaigns/{campaign['id']}")
    assert saved["reward"]["per_shopper"] == {"max_rewards": 1, "period_days": 7}
    assert person.errors == []
