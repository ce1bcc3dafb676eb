"""Cash rewards that are really paid (issue 24): the shopper's claim link by email, the claim
page in a real browser, SEPA batches with a pain.001 file checked against the schema, and
`payout_completed` and the "paid" email only once a batch is marked paid. Payment details
rest only sealed, and travel in no event, webhook or log."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import re
import uuid
import xml.etree.ElementTree as ET
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sepaxml
import xmlschema
from playwright.async_api import expect

from resonanz.devstack.supervisor import MailCatcher, Stack

from .browser import audit, new_shop, sign_in
from .conftest import Infra
from .helpers import Api, new_tenant
from .paypal_fake import FakePayPal
from .support import eventually, places_holding, query, query_value, topic_records
from .test_rewards_and_events import campaign_with
from .test_webhooks_support import Receiver, receiving

XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
SHOP_IBAN = "DE89 3704 0044 0532 0130 00"
ANNA_IBAN = "DE02 1203 0000 0000 2020 51"
BEN_IBAN = "DE02500105170137075030"
BEN_PAYPAL = "ben.paypal@example.org"
WRONG_IBAN = "DE02 1203 0000 0000 2020 52"  # one digit off: the checksum fails
REVIEW = ("Die Wanderschuhe passen in Größe 43 perfekt, nach zwei Touren keine Blasen."
          " Lieferung kam schon nach zwei Tagen.")
LINK = re.compile(r"(https?://\S+/claim\?lang=(de|en))#token=([\w-]+)")


@pytest.fixture
def payout_stack(portal_stack: Stack) -> Stack:
    """The session's platform with mail and loopback webhooks (each test makes its shop)."""
    return portal_stack


@pytest.fixture
def mail(team_mail: MailCatcher) -> MailCatcher:
    return team_mail


def mails(catcher: MailCatcher, address: str, kind: str) -> list[Message]:
    found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in catcher.messages()]
    return [m for m in found if m["To"] == address and m["X-Resonanz-Kind"] == kind]


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def claim_mail(catcher: MailCatcher, address: str) -> tuple[Message, str, str, str]:
    """The one claim mail to `address`: the message, the page URL, its language, the token."""
    found = await eventually(lambda: asyncio.sleep(0, mails(catcher, address, "payout_claim")),
                             lambda found: len(found) >= 1, within=30,
                             what=f"the claim mail to {address}")
    assert len(found) == 1
    [(page, language, token)] = LINK.findall(text_of(found[0]))
    return found[0], page, language, token


async def shopper(api: Api, campaign: str, address: str, language: str | None) -> str:
    """An approved entry of the 5 EUR campaign; its payout id."""
    entry = (await api.ok("POST", "/v1/feedback", {
        "body": REVIEW, "rating": 5, "widget_id": campaign, "customer_email": address,
        **({"metadata": {"language": language}} if language else {})}))["data"]["id"]
    await api.ok("POST", f"/api/v1/responses/{entry}/approve")
    payout: str = (await api.ok("GET", f"/api/v1/responses/{entry}"))["data"]["payout"]["id"]
    return payout


async def claim(api: Api, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = await api.call("POST", f"/public/claims/{path}", body)
    return status, answer


def received(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in receiver.received if r.payload["type"] == kind]


async def test_a_claimed_reward_is_paid_by_a_sepa_batch_and_announced_once(
        payout_stack: Stack, infra: Infra, mail: MailCatcher, http: aiohttp.ClientSession,
        people: Any) -> None:
    stack = payout_stack
    _, key = await new_tenant(stack, f"Wanderladen {uuid.uuid4().hex[:6]}")
    api = Api(http, stack, key)
    anna, ben = f"anna-{uuid.uuid4().hex[:6]}@example.de", f"ben-{uuid.uuid4().hex[:6]}@example.org"
    carla, paula = (f"carla-{uuid.uuid4().hex[:6]}@example.de",
                    f"paula-{uuid.uuid4().hex[:6]}@example.de")
    receiver = Receiver()
    async with receiving(receiver):
        await api.ok("POST", "/api/v1/webhooks", {
            "url": receiver.url, "events": ["payout_completed", "payout_failed"]})
        campaign = await campaign_with(api, stack, {"amount": "5.00", "currency": "EUR"})
        payouts = {name: await shopper(api, campaign, address, language) for name, address,
                   language in (("anna", anna, "de"), ("ben", ben, "en"),
                                ("carla", carla, "de-DE"), ("paula", paula, "en"))}

        # Anna wrote in German: her mail and its link are German.
        message, page, language, token = await claim_mail(mail, anna)
        assert language == "de" and "Belohnung" in message["Subject"]
        assert "5,00 EUR" in text_of(message) and page.startswith(
            stack.services["gateway"].url + "/claim")
        person = await people(locale="de-DE")
        browser_page = person.page
        await browser_page.goto(f"{page}#token={token}")
        await browser_page.wait_for_selector("main[aria-busy=false]", timeout=15_000)
        assert await browser_page.evaluate("document.documentElement.lang") == "de"
        assert await browser_page.locator("h1").inner_text() == "Ihre Belohnung"
        assert "5,00" in await browser_page.locator("#intro").inner_text()
        assert await audit(browser_page, "claim page") == []
        await browser_page.get_by_label("IBAN").fill(WRONG_IBAN)
        await browser_page.get_by_label("Kontoinhaber/in").fill("Anna Schäfer")
        await browser_page.get_by_role("button", name="Auszahlung anfordern").click()
        await browser_page.wait_for_selector("#iban[aria-invalid=true]", timeout=15_000)
        assert "IBAN" in await browser_page.locator("#e-iban").inner_text()
        await browser_page.get_by_label("IBAN").fill(ANNA_IBAN)
        await browser_page.get_by_role("button", name="Auszahlung anfordern").click()
        await browser_page.wait_for_selector("#status:has-text('DE02 **** **** 2051')",
                                             timeout=15_000)
        assert person.errors == []
        # The link works once.
        await browser_page.reload()
        await browser_page.wait_for_selector("#status:has-text('bereits verwendet')",
                                             timeout=15_000)

        # Ben, in English: a wrong IBAN is a 400 naming the field, then a PayPal claim
        # first refused for a bad address; then his bank account after all? No: once only.
        message, _, language, ben_token = await claim_mail(mail, ben)
        assert language == "en" and "5.00 EUR" in text_of(message)
        status, answer = await claim(api, "answer", {"token": ben_token, "method": "sepa",
                                                     "iban": WRONG_IBAN,
                                                     "account_holder": "Ben Miller"})
        assert status == 400 and answer["error"]["details"][0]["field"] == "iban", answer
        status, answer = await claim(api, "answer", {"token": ben_token, "method": "sepa",
                                                     "iban": BEN_IBAN})
        assert status == 400 and answer["error"]["details"][0]["field"] == "account_holder"
        status, answer = await claim(api, "answer", {"token": ben_token, "method": "paypal",
                                                     "paypal_email": "not an address"})
        assert status == 400 and answer["error"]["details"][0]["field"] == "paypal_email"
        status, answer = await claim(api, "answer", {"token": ben_token, "method": "sepa",
                                                     "iban": BEN_IBAN,
                                                     "account_holder": "Ben Miller"})
        assert status == 200 and answer["payee"] == {"method": "sepa",
                                                     "account": "DE02 **** **** 5030"}
        status, answer = await claim(api, "answer", {"token": ben_token, "method": "paypal",
                                                     "paypal_email": BEN_PAYPAL})
        assert status == 409 and answer["error"]["code"] == "claim_used"

        # Paula declines: cancelled, payout_failed; Carla never answers.
        _, _, _, paula_token = await claim_mail(mail, paula)
        status, answer = await claim(api, "answer", {"token": paula_token,
                                                     "method": "decline"})
        assert status == 200 and answer["status"] == "cancelled"
        await claim_mail(mail, carla)

        shown = {name: (await api.ok("GET", f"/api/v1/payouts/{pid}"))["data"]
                 for name, pid in payouts.items()}
        assert shown["anna"]["status"] == "claimed"
        assert shown["anna"]["payee"] == {"method": "sepa", "account": "DE02 **** **** 2051"}
        assert (shown["carla"]["status"], shown["carla"]["payee"]) == ("pending", None)
        assert shown["paula"]["status"] == "cancelled"
        assert received(receiver, "payout_completed") == []

        # The shop pays by SEPA: its account first, then a batch of exactly the claimed.
        status, answer, _ = await api.call("POST", "/api/v1/payout-batches")
        assert status == 409 and answer["code"] == "no_payout_account", answer
        status, answer, _ = await api.call("PUT", "/api/v1/payout-account", {
            "name": "Wanderladen GmbH", "iban": WRONG_IBAN})
        assert status == 400 and "iban" in answer["error"], answer
        account = await api.data("PUT", "/api/v1/payout-account", {
            "name": "Wanderladen GmbH", "iban": SHOP_IBAN})
        assert account["iban"] == "DE89 **** **** 3000" and account["bic"] == "COBADEFFXXX"
        batch = await api.data("POST", "/api/v1/payout-batches", status=201)
        assert sorted(batch["payout_ids"]) == sorted([payouts["anna"], payouts["ben"]])
        assert (batch["count"], batch["total"], batch["status"]) == (2, "10.00", "open")
        status, answer, _ = await api.call("POST", "/api/v1/payout-batches")
        assert status == 409 and answer["code"] == "nothing_to_pay"
        assert (await api.data("GET", f"/api/v1/payouts/{payouts['anna']}"))["status"] == (
            "processing")

        files = []
        for _ in range(2):
            async with http.get(
                    f"{stack.services['gateway'].url}/api/v1/payout-batches/{batch['id']}"
                    "/pain.001", headers={"Authorization": f"Bearer {key}"}) as response:
                assert response.status == 200, await response.text()
                assert response.content_type == "application/xml"
                files.append(await response.read())
        xmlschema.XMLSchema(str(XSD)).validate(files[0].decode())
        document = ET.fromstring(files[0])
        assert document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS) == (
            batch["message_id"]) == ET.fromstring(files[1]).findtext(
            "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS)
        transfers = document.findall(".//p:CdtTrfTxInf", NS)
        assert sorted((t.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS),
                       t.findtext("p:Amt/p:InstdAmt", namespaces=NS),
                       t.findtext("p:Cdtr/p:Nm", namespaces=NS)) for t in transfers) == sorted([
            (ANNA_IBAN.replace(" ", ""), "5.00", "Anna Schafer"),
            (BEN_IBAN, "5.00", "Ben Miller")])
        assert document.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == (
            SHOP_IBAN.replace(" ", ""))

        # Nothing is paid until the shop says the bank has executed it; then once.
        await asyncio.sleep(1)
        assert received(receiver, "payout_completed") == []
        assert mails(mail, anna, "payout") == []
        marks = await asyncio.gather(*(api.call(
            "POST", f"/api/v1/payout-batches/{batch['id']}/mark-paid",
            {"reference": "Sammelüberweisung 2026-12-03"}) for _ in range(3)))
        assert sorted(status for status, _, _ in marks) == [200, 409, 409]
        await eventually(lambda: asyncio.sleep(0, received(receiver, "payout_completed")),
                         lambda found: len(found) >= 2, what="two payout_completed webhooks")
        await eventually(lambda: asyncio.sleep(0, [*mails(mail, anna, "payout"),
                                                   *mails(mail, ben, "payout")]),
                         lambda found: len(found) >= 2, what="the two paid mails")
        await asyncio.sleep(1.5)  # a late duplicate would have arrived by now
        completed = received(receiver, "payout_completed")
        assert sorted(p["data"]["payout_id"] for p in completed) == sorted(
            [payouts["anna"], payouts["ben"]])
        [failed] = received(receiver, "payout_failed")
        assert failed["data"]["payout_id"] == payouts["paula"]
        [anna_paid] = mails(mail, anna, "payout")
        assert "5,00 EUR ausgezahlt" in text_of(anna_paid)
        [ben_paid] = mails(mail, ben, "payout")
        assert "paid out 5.00 EUR" in text_of(ben_paid)
        assert mails(mail, carla, "payout") == [] and mails(mail, paula, "payout") == []
        paid = await api.data("GET", f"/api/v1/payouts/{payouts['anna']}")
        assert (paid["status"], paid["method"], paid["batch_id"]) == (
            "paid", "sepa", batch["id"])
        booked = await query_value(stack.database_url,
                                   "SELECT sum(l.amount) FROM feedback.ledger l JOIN"
                                   " feedback.payouts p ON p.id = l.payout_id"
                                   " WHERE p.batch_id = $1", batch["id"])
        assert str(booked) == "10.00"

        # The IBANs rest nowhere in plaintext, and travel in no event, webhook or log.
        secrets = [ANNA_IBAN.replace(" ", ""), ANNA_IBAN, BEN_IBAN,
                   SHOP_IBAN.replace(" ", "")]
        for secret in secrets:
            assert await places_holding(stack.database_url, secret) == [], secret
        # Every feedback event of the shop so far: created, approved, claims offered, paid…
        records = await topic_records(infra.bootstrap_servers,
                                      stack.extra_env["RESONANZ_TOPIC_FEEDBACK"], 15)
        assert any(b"payout.claim_offered" in (r.value or b"") for r in records)
        for secret in secrets:
            assert not [r for r in records if secret.encode() in (r.value or b"")], secret
            assert not [r for r in receiver.received if secret.encode() in r.body], secret
            for service in stack.services.values():
                assert secret not in service.log_path.read_text(errors="replace"), (
                    service.log_path, secret)

    # Anna's export gives her the IBAN she gave; her erasure removes it, the money stays.
    request = await api.data("POST", "/v1/privacy/requests",
                             {"type": "export", "customer_email": anna}, status=202)
    document = await api.data("GET", f"/v1/privacy/requests/{request['id']}/export")
    [entry] = document["entries"]
    assert entry["payout"]["payment_details"] == {
        "iban": ANNA_IBAN.replace(" ", ""), "bic": "BYLADEM1001",
        "account_holder": "Anna Schäfer"}
    # Her payouts.csv carries the same, in full: her own data, not masked.
    async with http.get(f"{stack.services['gateway'].url}/v1/privacy/requests/"
                        f"{request['id']}/export/payouts",
                        headers={"Authorization": f"Bearer {key}"}) as response:
        text = await response.text()
        assert response.status == 200 and response.content_type == "text/csv", text
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert (row["id"], row["payee_method"], row["iban"], row["bic"], row["account_holder"],
            row["paypal_email"]) == (payouts["anna"], "sepa", ANNA_IBAN.replace(" ", ""),
                                     "BYLADEM1001", "Anna Schäfer", "")
    await api.data("POST", "/v1/privacy/requests",
                   {"type": "erasure", "customer_email": anna}, status=202)
    [row] = await query(stack.database_url, "SELECT payee_sealed, payee_masked, amount, status"
                        " FROM feedback.payouts WHERE id = $1", payouts["anna"])
    assert (row["payee_sealed"], row["payee_masked"], str(row["amount"]), row["status"]) == (
        None, None, "5.00", "paid")


async def test_a_claim_link_is_refused_when_unknown_used_or_expired(
        payout_stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession) -> None:
    stack = payout_stack
    _, key = await new_tenant(stack, f"Radladen {uuid.uuid4().hex[:6]}")
    api = Api(http, stack, key)
    campaign = await campaign_with(api, stack, {"amount": "5.00", "currency": "EUR"})
    late, quick = f"late-{uuid.uuid4().hex[:6]}@example.de", f"q-{uuid.uuid4().hex[:6]}@ex.de"
    late_payout = await shopper(api, campaign, late, "de")
    await shopper(api, campaign, quick, None)

    status, answer = await claim(api, "lookup", {"token": "x" * 43})
    assert status == 404 and answer["error"]["code"] == "claim_not_found"
    # The claim page's own cap (4 KiB), named as it is: not the API's larger one.
    status, answer = await claim(api, "lookup", {"token": "x" * 5000})
    assert status == 413, answer
    assert answer["error"]["details"] == [{"field": "body", "message": "may be at most 4096"
                                                                      " bytes"}]

    _, _, language, token = await claim_mail(mail, late)
    assert language == "de"
    status, answer = await claim(api, "lookup", {"token": token})
    assert status == 200 and (answer["amount"], answer["language"]) == ("5.00", "de")
    await query(stack.database_url, "UPDATE feedback.payouts SET claim_expires_at = now()"
                " - interval '1 second' WHERE id = $1", late_payout)
    for path, body in (("lookup", {}), ("answer", {"method": "paypal",
                                                    "paypal_email": BEN_PAYPAL})):
        status, answer = await claim(api, path, {"token": token, **body})
        assert status == 410 and answer["error"]["code"] == "claim_expired", (path, answer)
    assert (await api.data("GET", f"/api/v1/payouts/{late_payout}"))["status"] == "pending"

    # English when the entry names no language; PayPal; a second answer is a 409.
    message, _, language, token = await claim_mail(mail, quick)
    assert language == "en" and "receive" in message["Subject"]
    status, answer = await claim(api, "answer", {"token": token, "method": "paypal",
                                                 "paypal_email": BEN_PAYPAL})
    assert status == 200 and answer["payee"] == {"method": "paypal",
                                                 "account": "b***@example.org"}
    for path, body in (("lookup", {}), ("answer", {"method": "decline"})):
        status, answer = await claim(api, path, {"token": token, **body})
        assert status == 409 and answer["error"]["code"] == "claim_used", (path, answer)
    assert await places_holding(stack.database_url, BEN_PAYPAL) == []


async def test_an_admin_pays_claimed_rewards_from_the_payouts_page(
        payout_stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession,
        people: Any) -> None:
    stack = payout_stack
    shop = await new_shop(stack, "Payouts Page")
    api = Api(http, stack, shop.key)
    campaign = await campaign_with(api, stack, {"amount": "7.50", "currency": "EUR"})
    address = f"olga-{uuid.uuid4().hex[:6]}@example.de"
    payout = await shopper(api, campaign, address, "de")
    _, _, _, token = await claim_mail(mail, address)
    status, _ = await claim(api, "answer", {"token": token, "method": "sepa",
                                            "iban": ANNA_IBAN, "account_holder": "Olga Berg"})
    assert status == 200
    _, admin_address = await shop.member("admin")
    person = await people()
    page = await sign_in(person, stack, admin_address)

    await page.get_by_role("link", name="Payouts").click()
    await page.wait_for_selector("h1:text('Payouts')")
    await expect(page.locator("table.payouts")).to_contain_text("DE02 **** **** 2051")
    # No batch before the shop's account is set; a wrong IBAN is named.
    await page.get_by_role("button", name="Create SEPA batch").click()
    await expect(page.locator(".message.error")).to_contain_text("payout account")
    await page.get_by_label("Account holder").fill("Payouts Page GmbH")
    await page.get_by_label("IBAN", exact=True).fill(WRONG_IBAN)
    await page.get_by_role("button", name="Save account").click()
    await expect(page.locator(".message.error")).to_contain_text("iban")
    await page.get_by_label("IBAN", exact=True).fill(SHOP_IBAN)
    await page.get_by_role("button", name="Save account").click()
    await expect(page.locator(".payout-account")).to_contain_text("DE89 **** **** 3000")

    await page.get_by_role("button", name="Create SEPA batch").click()
    await expect(page.locator("table.payout-batches tbody tr")).to_have_count(1)
    async with page.expect_download() as info:
        await page.get_by_role("link", name="pain.001").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    xmlschema.XMLSchema(str(XSD)).validate(text)
    assert ANNA_IBAN.replace(" ", "") in text and "7.50" in text
    await page.get_by_role("button", name="Mark paid").click()
    await expect(page.locator("table.payout-batches tbody tr[data-status=paid]")).to_have_count(1)
    assert (await api.data("GET", f"/api/v1/payouts/{payout}"))["status"] == "paid"
    assert person.errors == []

    problems: list[str] = []
    for language in ("en-US", "de-DE"):
        someone = await people(locale=language)
        await sign_in(someone, stack, admin_address)
        problems += await audit(await someone.goto(stack, "/app/payouts"),
                                f"{language} payouts")
    assert problems == []


def test_payment_details_are_checked_and_masked() -> None:
    """Pure: the claim's validation names each wrong field; masks show only the ends."""
    from resonanz.feedback.claims import language_of, payee_of
    from resonanz.shared.contracts import ClaimAnswerIn
    from resonanz.shared.errors import InvalidInput

    def refused(**fields: Any) -> list[str]:
        with pytest.raises(InvalidInput) as caught:
            payee_of(ClaimAnswerIn(token="t", **fields))
        return [d["field"] for d in caught.value.details]

    assert refused(method="sepa", iban=WRONG_IBAN, account_holder="A B") == ["iban"]
    assert refused(method="sepa", iban="US12 3456", account_holder="A B") == ["iban"]
    assert refused(method="sepa", iban=ANNA_IBAN, account_holder=" ") == ["account_holder"]
    assert refused(method="paypal", paypal_email="nobody") == ["paypal_email"]
    sepa = payee_of(ClaimAnswerIn(token="t", method="sepa", iban=ANNA_IBAN.lower(),
                                  account_holder=" Anna "))
    assert (sepa.masked, sepa.details) == ("DE02 **** **** 2051", {
        "iban": "DE02120300000000202051", "bic": "BYLADEM1001", "account_holder": "Anna"})
    paypal = payee_of(ClaimAnswerIn(token="t", method="paypal", paypal_email=BEN_PAYPAL))
    assert paypal.masked == "b***@example.org"
    assert [language_of(x) for x in ("de", "de-AT", "DE", "en", "fr", None)] == [
        "de", "de", "de", "en", "en", "en"]


def test_the_claim_mail_speaks_the_shoppers_language() -> None:
    """Pure: German or English text, the link to the gateway's /claim with the token in
    the fragment."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from resonanz.shared.events import PayoutClaimOffered
    from resonanz.webhook_dispatcher.notices import claim_offer

    offered = PayoutClaimOffered(payout_id=str(uuid.uuid4()), response_id=str(uuid.uuid4()),
                                 amount=Decimal("5.00"), currency="EUR", language="de",
                                 expires_at=datetime(2027, 1, 2, tzinfo=UTC), token_sealed="x")
    german = claim_offer(offered, "a@example.de", "TOKEN", "https://fb.shop.example/app/")
    assert german is not None and german.kind == "payout_claim"
    assert "https://fb.shop.example/claim?lang=de#token=TOKEN" in german.text
    assert "5,00 EUR" in german.text and "02.01.2027" in german.text
    english = claim_offer(offered.model_copy(update={"language": "en"}), "a@example.de",
                          "TOKEN", "https://fb.shop.example/app")
    assert english is not None and "5.00 EUR" in english.text and "/claim?lang=en#" in (
        english.text)
    assert claim_offer(offered, None, "TOKEN", "https://fb.shop.example/app") is None


# --- PayPal claims paid through PayPal's Payouts API (the fake in tests/paypal_fake.py) ------


async def paypal_claim(api: Api, catcher: MailCatcher, shopper_address: str,
                       paypal_address: str) -> None:
    _, _, _, token = await claim_mail(catcher, shopper_address)
    status, answer = await claim(api, "answer", {"token": token, "method": "paypal",
                                                 "paypal_email": paypal_address})
    assert status == 200, answer


async def payout_in(api: Api, payout: str, states: set[str], within: float = 30
                    ) -> dict[str, Any]:
    found: dict[str, Any] = await eventually(
        lambda: api.data("GET", f"/api/v1/payouts/{payout}"),
        lambda shown: shown["status"] in states, within=within,
        what=f"payout {payout} to become {sorted(states)}")
    return found


async def test_a_paypal_claim_is_paid_through_paypal_once(
        payout_stack: Stack, infra: Infra, mail: MailCatcher, http: aiohttp.ClientSession,
        paypal: FakePayPal) -> None:
    """Claimed with a PayPal address, the reward is sent to PayPal (credentials, token and
    body checked by the fake) and followed until PayPal says SUCCESS (paid, once) or FAILED;
    while PayPal is down, or its answer is lost, the payout waits in `processing` and is sent
    again with the same idempotency keys: one PayPal batch each, nothing lost or doubled."""
    stack = payout_stack
    _, key = await new_tenant(stack, f"Paddelshop {uuid.uuid4().hex[:6]}")
    api = Api(http, stack, key)
    tag = uuid.uuid4().hex[:6]
    shoppers = {name: (f"{name}-{tag}@example.de", f"{name}.paypal-{tag}@example.org")
                for name in ("pia", "fred", "dora")}
    paypal.outcomes[shoppers["fred"][1]] = "FAILED"
    receiver = Receiver()
    async with receiving(receiver):
        await api.ok("POST", "/api/v1/webhooks", {
            "url": receiver.url, "events": ["payout_completed", "payout_failed"]})
        campaign = await campaign_with(api, stack, {"amount": "5.00", "currency": "EUR"})
        payouts = {name: await shopper(api, campaign, address, "de")
                   for name, (address, _) in shoppers.items()}

        # Pia: sent, PENDING at the first poll, then SUCCESS: paid once, by PayPal.
        await paypal_claim(api, mail, *shoppers["pia"])
        paid = await payout_in(api, payouts["pia"], {"paid", "failed"})
        [batch] = paypal.batches_to(shoppers["pia"][1])
        assert (paid["status"], paid["method"], paid["reference"]) == (
            "paid", "paypal", f"TX{batch.id}")
        assert batch.sender_batch_id == payouts["pia"] and batch.polls >= 2
        assert batch.body["items"][0]["amount"] == {"value": "5.00", "currency": "EUR"}

        # Fred: PayPal reports FAILED: failed, payout_failed, no "paid" mail.
        await paypal_claim(api, mail, *shoppers["fred"])
        failed = await payout_in(api, payouts["fred"], {"paid", "failed"})
        assert failed["status"] == "failed" and "FAILED" in failed["failure_reason"]

        # Dora: PayPal is down; the payout waits in `processing` and is tried again.
        def attempts() -> Any:
            return query_value(stack.database_url, "SELECT provider_attempts FROM"
                               " feedback.payouts WHERE id = $1", payouts["dora"])

        paypal.down = True
        await paypal_claim(api, mail, *shoppers["dora"])
        await eventually(attempts, lambda n: n >= 3, what="three attempts while PayPal is down")
        waiting = await api.data("GET", f"/api/v1/payouts/{payouts['dora']}")
        assert waiting["status"] == "processing" and paypal.batches_to(shoppers["dora"][1]) == []
        # Back, but its first answer is lost after the batch was made: sent again, one batch.
        paypal.lose_answers, paypal.down = 1, False
        done = await payout_in(api, payouts["dora"], {"paid", "failed"})
        assert done["status"] == "paid"
        assert len(paypal.batches_to(shoppers["dora"][1])) == 1
        assert await attempts() >= 5

        await eventually(lambda: asyncio.sleep(0, received(receiver, "payout_completed")),
                         lambda found: len(found) >= 2, what="two payout_completed webhooks")
        await eventually(lambda: asyncio.sleep(0, [*mails(mail, shoppers["pia"][0], "payout"),
                                                   *mails(mail, shoppers["dora"][0], "payout")]),
                         lambda found: len(found) >= 2, what="the two paid mails")
        await asyncio.sleep(1.5)  # a late duplicate would have arrived by now
        assert sorted(p["data"]["payout_id"] for p in received(receiver, "payout_completed")
                      ) == sorted([payouts["pia"], payouts["dora"]])
        [fred_failed] = received(receiver, "payout_failed")
        assert fred_failed["data"]["payout_id"] == payouts["fred"]
        assert [len(mails(mail, shoppers[n][0], "payout")) for n in ("pia", "dora", "fred")] == [
            1, 1, 0]
        assert "5,00 EUR ausgezahlt" in text_of(mails(mail, shoppers["pia"][0], "payout")[0])
        assert paypal.problems == []
        booked = await query_value(stack.database_url, "SELECT count(*) FROM feedback.ledger"
                                   " WHERE payout_id = ANY($1::uuid[])", list(payouts.values()))
        assert booked == 2

        # The PayPal addresses rest only sealed and travel in no event, webhook or log.
        records = await topic_records(infra.bootstrap_servers,
                                      stack.extra_env["RESONANZ_TOPIC_FEEDBACK"], 1)
        for _, address in shoppers.values():
            assert await places_holding(stack.database_url, address) == [], address
            assert not [r for r in records if address.encode() in (r.value or b"")], address
            assert not [r for r in receiver.received if address.encode() in r.body], address
            for service in stack.services.values():
                assert address not in service.log_path.read_text(errors="replace"), (
                    service.log_path, address)


async def test_the_paypal_adapter_speaks_the_payouts_api(paypal: FakePayPal) -> None:
    """The adapter alone against the fake: a payout's reference, its status from PENDING to
    SUCCESS, a refusal, an outage, and a repeated sender_batch_id that finds its batch."""
    from decimal import Decimal

    from resonanz.feedback.providers import (
        PayPalPayouts,
        ProviderPayout,
        ProviderRefused,
        ProviderUnavailable,
    )

    from .paypal_fake import CLIENT_ID, SECRET

    async with aiohttp.ClientSession() as session:
        provider = PayPalPayouts(session, paypal.url, CLIENT_ID, SECRET, timeout=5)
        payout = ProviderPayout(str(uuid.uuid4()), Decimal("12.5"), "EUR")
        address = f"adapter-{uuid.uuid4().hex[:6]}@example.org"
        reference = await provider.pay(payout, {"paypal_email": address})
        assert [b.id for b in paypal.batches_to(address)] == [reference]
        assert paypal.batches_to(address)[0].body["items"][0]["amount"]["value"] == "12.50"
        assert (await provider.status(reference)).state == "pending"
        status = await provider.status(reference)
        assert (status.state, status.detail, status.transaction) == (
            "paid", "SUCCESS", f"TX{reference}")
        # The same payout again (a retry): the same batch, not a second payment.
        assert await provider.pay(payout, {"paypal_email": address}) == reference
        paypal.batches_to(address)[0].request_id = "lost"  # PayPal forgot the request id
        assert await provider.pay(payout, {"paypal_email": address}) == reference
        assert len(paypal.batches_to(address)) == 1

        with pytest.raises(ProviderRefused):
            await provider.status("UNKNOWN")  # 404: not a retry
        paypal.down = True
        try:
            with pytest.raises(ProviderUnavailable):
                await provider.pay(ProviderPayout(str(uuid.uuid4()), Decimal("1.00"), "EUR"),
                                   {"paypal_email": address})
        finally:
            paypal.down = False
        wrong = PayPalPayouts(session, paypal.url, CLIENT_ID, "not the secret", timeout=5)
        with pytest.raises(ProviderUnavailable):  # the operator's to fix: retried, not failed
            await wrong.status(reference)
    paypal.problems.remove("token: wrong client credentials")
    assert paypal.problems == []


# --- rewards in another currency than SEPA's ------------------------------------------------


async def test_a_bank_payout_in_another_currency_is_named_and_settled_by_hand(
        payout_stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession,
        people: Any) -> None:
    """SEPA batches are in euros: a claimed bank payout in CHF is in none, and says why in the
    payouts list (and its row on the dashboard's Payouts page), the batch's answer and the
    409 when nothing else is left; the shop marks it paid by hand."""
    stack = payout_stack
    shop = await new_shop(stack, f"Uhrenladen {uuid.uuid4().hex[:6]}")
    api = Api(http, stack, shop.key)
    await api.data("PUT", "/api/v1/payout-account", {"name": "Uhrenladen AG",
                                                      "iban": SHOP_IBAN})
    francs = await campaign_with(api, stack, {"amount": "8.00", "currency": "CHF"})
    euros = await campaign_with(api, stack, {"amount": "5.00", "currency": "EUR"})
    tag = uuid.uuid4().hex[:6]
    lea, tom = f"lea-{tag}@example.de", f"tom-{tag}@example.de"
    chf_payout = await shopper(api, francs, lea, "de")
    eur_payout = await shopper(api, euros, tom, "de")
    for address in (lea, tom):
        _, _, _, token = await claim_mail(mail, address)
        status, answer = await claim(api, "answer", {"token": token, "method": "sepa",
                                                     "iban": ANNA_IBAN,
                                                     "account_holder": "Lea Tom"})
        assert status == 200, answer

    shown = await api.data("GET", f"/api/v1/payouts/{chf_payout}")
    assert shown["status"] == "claimed" and "EUR only" in shown["not_batchable"]
    assert (await api.data("GET", f"/api/v1/payouts/{eur_payout}"))["not_batchable"] is None
    listed = await api.data("GET", "/api/v1/payouts?status=claimed")
    assert [p["not_batchable"] is not None for p in listed] == [False, True]
    _, admin_address = await shop.member("admin")
    person = await people(locale="de-DE")
    await sign_in(person, stack, admin_address)
    page = await person.goto(stack, "/app/payouts")
    rows = page.locator("table.payouts tbody tr")
    await expect(rows).to_have_count(2)
    await expect(page.locator(f"tr[data-id='{chf_payout}'] .not-batchable")).to_contain_text(
        "nur in Euro")
    await expect(page.locator(f"tr[data-id='{eur_payout}'] .not-batchable")).to_have_count(0)
    assert person.errors == []

    batch = await api.data("POST", "/api/v1/payout-batches", status=201)
    assert batch["payout_ids"] == [eur_payout] and batch["currency"] == "EUR"
    [left_out] = batch["not_batchable"]
    assert (left_out["payout_id"], left_out["currency"], left_out["amount"]) == (
        chf_payout, "CHF", "8.00") and "EUR only" in left_out["reason"]
    status, answer, _ = await api.call("POST", "/api/v1/payout-batches")
    assert status == 409 and answer["code"] == "nothing_to_pay", answer
    assert [d["value"] for d in answer["details"]] == [chf_payout], answer

    paid = await api.data("POST", f"/api/v1/payouts/{chf_payout}/mark-paid",
                          {"reference": "Überweisung CHF 8.00"})
    assert (paid["status"], paid["method"], paid["not_batchable"]) == ("paid", "manual", None)


async def test_a_payout_cancelled_after_batching_is_not_in_the_batchs_file(
        payout_stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession) -> None:
    """A payout of an open batch marked cancelled (or failed) by the shop is paid by no
    bank: the pain.001 file leaves it out, its header counts and sums only what it pays,
    and it stays out once the batch is paid."""
    stack = payout_stack
    _, key = await new_tenant(stack, f"Teeladen {uuid.uuid4().hex[:6]}")
    api = Api(http, stack, key)
    await api.data("PUT", "/api/v1/payout-account", {"name": "Teeladen GmbH",
                                                      "iban": SHOP_IBAN})
    campaign = await campaign_with(api, stack, {"amount": "5.10", "currency": "EUR"})
    tag = uuid.uuid4().hex[:6]
    addresses = [f"{name}-{tag}@example.de" for name in ("ida", "jan", "kai")]
    payouts = [await shopper(api, campaign, address, "de") for address in addresses]
    for address in addresses:
        _, _, _, token = await claim_mail(mail, address)
        status, answer = await claim(api, "answer", {"token": token, "method": "sepa",
                                                     "iban": ANNA_IBAN,
                                                     "account_holder": "Ida Jan"})
        assert status == 200, answer
    batch = await api.data("POST", "/api/v1/payout-batches", status=201)
    assert batch["count"] == 3
    cancelled = await api.data("POST", f"/api/v1/payouts/{payouts[1]}/cancel",
                               {"reason": "the shopper was paid in the shop"})
    assert cancelled["status"] == "cancelled"

    async def transfers() -> tuple[list[str], str | None, str | None]:
        async with http.get(
                f"{stack.services['gateway'].url}/api/v1/payout-batches/{batch['id']}"
                "/pain.001", headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 200, await response.text()
            text = (await response.read()).decode()
        xmlschema.XMLSchema(str(XSD)).validate(text)
        document = ET.fromstring(text)
        return ([t.findtext("p:PmtId/p:EndToEndId", namespaces=NS) or ""
                 for t in document.findall(".//p:CdtTrfTxInf", NS)],
                document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS),
                document.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS))

    paying = sorted(uuid.UUID(p).hex for p in (payouts[0], payouts[2]))
    ids, count, total = await transfers()
    assert (sorted(ids), count, total) == (paying, "2", "10.20")
    # The batch says what its file pays; its payouts are still every one put in it.
    shown = await api.data("GET", f"/api/v1/payout-batches/{batch['id']}")
    assert (shown["count"], shown["total"]) == (2, "10.20")
    assert sorted(shown["payout_ids"]) == sorted(payouts)
    await api.data("POST", f"/api/v1/payout-batches/{batch['id']}/mark-paid", {})
    ids, count, total = await transfers()
    assert (sorted(ids), count, total) == (paying, "2", "10.20")
    listed = await api.data("GET", "/api/v1/payout-batches")
    assert [(b["count"], b["total"]) for b in listed if b["id"] == batch["id"]] == [
        (2, "10.20")]
    assert (await api.data("GET", f"/api/v1/payouts/{payouts[1]}"))["status"] == "cancelled"


# --- a key rotation: the sealed payment details rewritten under the new key -------------------


def feedback_reencrypt(database_url: str, keys: list[bytes], cwd: Path) -> tuple[int, Any]:
    """`python -m resonanz.feedback reencrypt`, as an operator runs it."""
    import base64
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RESONANZ_")}
    env.update({"RESONANZ_ENV": "development", "RESONANZ_DATABASE_URL": database_url,
                "RESONANZ_ENCRYPTION_KEYS": ",".join(
                    base64.urlsafe_b64encode(k).decode() for k in keys)})
    done = subprocess.run([sys.executable, "-m", "resonanz.feedback", "reencrypt"], env=env,
                          cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


async def test_reencrypt_reseals_payment_details_under_the_new_first_key(
        database_url: str, tmp_path: Path) -> None:
    """Sealed under the old key; the new key put first; `reencrypt` rewrites every payee and
    payout account; with the old key dropped they still open. A value no key opens is named
    (exit status 1)."""
    import json
    import os

    from resonanz.feedback.claims import open_payee, payee_context
    from resonanz.feedback.sepa import account_context
    from resonanz.shared.crypto import KeyRing
    from resonanz.shared.db import migrate
    from resonanz.shared.settings import Settings

    await migrate(database_url, "feedback")
    # Rows written as the service writes them: its role, its schema.
    feedback = Settings(database_url=database_url).service_dsn("feedback")
    old, new = os.urandom(32), os.urandom(32)
    with_old = KeyRing([old])
    tenant = uuid.uuid4()
    details = {"iban": BEN_IBAN, "bic": "INGDDEFFXXX", "account_holder": "Ben Miller"}
    payout_ids = [uuid.uuid4() for _ in range(3)]
    for n, payout_id in enumerate(payout_ids):
        entry = uuid.uuid4()
        await query(feedback, "INSERT INTO entries (id, tenant_id) VALUES ($1, $2)",
                    entry, tenant)
        await query(feedback,
                    "INSERT INTO payouts (id, tenant_id, entry_id, kind, amount,"
                    " currency, status, payee_method, payee_sealed, payee_masked) VALUES"
                    " ($1, $2, $3, 'amount', 5, 'EUR', 'claimed', 'sepa', $4, 'x')",
                    payout_id, tenant, entry,
                    with_old.encrypt(json.dumps({**details, "n": n}),
                                     payee_context(str(payout_id))))
    await query(feedback,
                "INSERT INTO payout_accounts (tenant_id, name, iban_sealed,"
                " iban_masked) VALUES ($1, 'Shop', $2, 'x')", tenant,
                with_old.encrypt(SHOP_IBAN, account_context(str(tenant))))

    code, report = await asyncio.to_thread(feedback_reencrypt, database_url, [new, old],
                                           tmp_path)
    assert (code, report) == (0, {"payouts": 3, "accounts": 1, "rewritten": 4,
                                  "undecryptable": []}), report
    code, report = await asyncio.to_thread(feedback_reencrypt, database_url, [new, old],
                                           tmp_path)
    assert (code, report["rewritten"]) == (0, 0), "a second run has nothing left to do"

    only_new = KeyRing([new])
    rows = await query(database_url, "SELECT id, payee_sealed FROM feedback.payouts ORDER BY id")
    opened = sorted((open_payee(only_new, str(r["id"]), r["payee_sealed"]) or {})["n"]
                    for r in rows)
    assert opened == [0, 1, 2]
    sealed = await query_value(database_url, "SELECT iban_sealed FROM feedback.payout_accounts")
    assert only_new.decrypt(sealed, account_context(str(tenant))) == SHOP_IBAN

    code, report = await asyncio.to_thread(feedback_reencrypt, database_url,
                                           [os.urandom(32)], tmp_path)
    assert code == 1 and sorted(report["undecryptable"]) == sorted(
        [*map(str, payout_ids), str(tenant)])
