"""The dashboard's webhook portal in a real browser against the whole stack and a real
receiver on loopback: add an endpoint with the event catalog, keep the secret shown once,
send a test event and see its attempt in the message log, make the receiver fail and
resend from the log, rotate the secret (both signatures for 24 h), axe in English and
German, and a notice for members who are not admins. Writes SCREENSHOTS/webhook-log.png."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from resonanz.devstack.supervisor import Stack

from .browser import SCREENSHOTS, audit, new_shop, settled, sign_in
from .support import eventually
from .test_webhooks_support import Receiver, receiving

# A whole platform of its own and two browser flows: slow on a loaded machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def stack(portal_stack: Stack) -> Stack:
    return portal_stack


async def _received(receiver: Receiver) -> int:
    return len(receiver.received)


async def _log_row(page: Page, webhook_id: str, status: str) -> None:
    """Refresh the log until the message shows `status`."""
    async def shown() -> str:
        await page.locator("#refresh-log").click()
        row = page.locator(f"tr.delivery[data-id='{webhook_id}']")
        badge = row.locator("td:nth-child(3) .badge")
        return await badge.inner_text() if await row.count() else ""
    await eventually(shown, lambda text: text == status, within=60, interval=0.5,
                     what=f"{webhook_id} {status}")


async def test_an_admin_adds_tests_resends_and_rotates_a_webhook(
        stack: Stack, people: Any) -> None:
    failing = False

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="boom") if failing else web.Response(text="thanks")

    receiver = Receiver(respond)
    shop = await new_shop(stack, "Hooks")
    _, address = await shop.member("admin", name="Alex Admin")
    person = await people()
    page = await sign_in(person, stack, address)
    async with receiving(receiver):
        await page.get_by_role("link", name="Webhooks").click()
        await page.wait_for_selector("h1:text('Webhooks')")
        await settled(page)
        assert await page.get_by_label("Endpoint URL").count() == 1, (
            await page.locator("main").inner_text(), person.errors)
        await page.get_by_label("Endpoint URL").fill(receiver.url)
        await page.get_by_label("feedback_created", exact=True).check()
        await page.get_by_label("reward_approved", exact=True).check()
        await page.locator("details.event-schema").first.locator("summary").click()
        await page.get_by_role("button", name="Add the endpoint").click()
        secret = await page.locator("#standard-secret").inner_text()
        assert secret.startswith("whsec_")
        receiver.secrets.append(secret)
        await expect(page.locator("main")).to_contain_text("shown only this once")
        # The endpoint's facts show what is set and nothing else: no stray "null" text
        # where an optional part (the previous secret, the enable button) is absent.
        facts = await page.locator("dl.facts").first.evaluate("dl => dl.parentElement.innerText")
        assert "null" not in facts.split(), facts

        await page.get_by_label("Event type").select_option("reward_approved")
        await page.get_by_role("button", name="Send the test event").click()
        await eventually(lambda: _received(receiver), lambda n: n == 1, what="the test event")
        first = receiver.received[0]
        assert first.verified_with == [secret]
        assert first.payload["type"] == "reward_approved" and first.payload["data"]["test"]
        await _log_row(page, first.webhook_id, "delivered")
        row = page.locator(f"tr.delivery[data-id='{first.webhook_id}']")
        await expect(row).to_contain_text("test")
        await row.locator("button.show-attempts").click()
        attempts = page.locator("table.attempts tr.attempt")
        await expect(attempts).to_have_count(1)
        await expect(attempts.first).to_contain_text("200")
        await expect(attempts.first).to_contain_text("thanks")

        failing = True
        await page.get_by_role("button", name="Send the test event").click()
        await eventually(lambda: _received(receiver), lambda n: n == 2, what="the failing test")
        broken = receiver.received[1].webhook_id
        await _log_row(page, broken, "pending")
        failing = False
        row = page.locator(f"tr.delivery[data-id='{broken}']")
        await row.locator("button.resend").click()
        await eventually(lambda: _received(receiver),
                         lambda n: n >= 3 and receiver.received[-1].webhook_id == broken,
                         what="the resend")
        await _log_row(page, broken, "delivered")
        await page.locator(f"tr.delivery[data-id='{broken}'] button.show-attempts").click()
        shown = page.locator(f"tr.delivery[data-id='{broken}'] + tr table.attempts tr.attempt")
        await expect(shown.first).to_contain_text("500")
        await expect(shown.first).to_contain_text("boom")
        await expect(shown.last).to_contain_text("200")
        # A refresh redraws the log and keeps the attempts the reader opened.
        drawn = await page.locator(f"tr.delivery[data-id='{broken}']").element_handle()
        await page.locator("#refresh-log").click()
        await page.wait_for_function("row => !row.isConnected", arg=drawn)
        await expect(shown).to_have_count(2)
        log = page.locator("section[aria-labelledby=log-title]")
        shot = await log.screenshot(path=str(SCREENSHOTS / "webhook-log.png"))
        assert len(shot) > 5_000

        await page.get_by_role("button", name="Rotate the secret").click()
        await expect(page.locator("main")).to_contain_text("Both signatures")
        rotated = await page.locator("#standard-secret").inner_text()
        assert rotated.startswith("whsec_") and rotated != secret
        receiver.secrets.append(rotated)
        count = len(receiver.received)
        await page.get_by_role("button", name="Send the test event").click()
        await eventually(lambda: _received(receiver), lambda n: n == count + 1,
                         what="a test after the rotation")
        assert receiver.received[-1].verified_with == [secret, rotated]
    assert person.errors == []


async def test_the_portal_is_accessible_in_both_languages_and_for_admins_only(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Zugang")
    hook = await shop.ok("POST", "/v1/webhooks", {
        "url": "https://hooks.example.com/in", "events": ["feedback_created"]})
    await shop.ok("PATCH", f"/v1/webhooks/{hook['id']}", {"enabled": False})
    _, address = await shop.member("admin")
    _, editor = await shop.member("editor")
    problems: list[str] = []
    for locale, title in (("en-US", "Webhooks"), ("de-DE", "Webhooks")):
        person = await people(locale=locale)
        await sign_in(person, stack, address)
        page = await person.goto(stack, "/app/webhooks")
        assert await page.locator("h1").inner_text() == title
        await page.locator("details.event-schema").first.locator("summary").click()
        problems += await audit(page, f"{locale} list")
        page = await person.goto(stack, f"/app/webhooks/{hook['id']}")
        await expect(page.locator("#enable-hook")).to_be_visible()
        await page.locator("details.edit-hook > summary").click()
        problems += await audit(page, f"{locale} endpoint")
        assert person.errors == []
    member = await people()
    await sign_in(member, stack, editor)
    page = await member.goto(stack, "/app/webhooks")
    assert await page.get_by_role("link", name="Webhooks").count() == 0
    await expect(page.locator("main .message.info")).to_contain_text("Only admins")
    assert problems == []
