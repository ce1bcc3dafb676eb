"""The dashboard's privacy page in a real browser (issue 23): an admin files a shopper's
export by email and downloads it (JSON and a CSV per kind) with nothing of a shopper with
a similar address in it, then her erasure after a confirmation, and watches each service's
part complete; editors get no such page; axe-core in English and German. And minimal
collection: a shopper's widget submission leaves her address in no table and no event,
while a team member's sign-in from the same kind of address is recorded (so the scan can
find one)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from resonanz.devstack.supervisor import Stack

from .browser import PASSWORD, audit, gw, new_shop, sign_in
from .conftest import Infra
from .support import places_holding
from .test_privacy import retained
from .test_widgets_support import create_active_widget

ANNA, SIMILAR = "anna.dash@beispiel-shop.de", "joanna.dash@beispiel-shop.de"


async def downloaded(page: Page, link_name: str) -> tuple[str, str]:
    async with page.expect_download() as info:
        await page.get_by_role("link", name=link_name).first.click()
    download = await info.value
    return download.suggested_filename, await asyncio.to_thread(
        Path(await download.path()).read_text, encoding="utf-8")


async def test_an_admin_exports_and_erases_a_shopper_from_the_privacy_page(
        team_stack: Stack, people: Any) -> None:
    shop = await new_shop(team_stack, "Privacy Page")
    hers = await shop.entry(body="Paket kam nass an, Datenschutzseite", rating=2,
                            customer_email=ANNA, answers={"groesse": "M"})
    await shop.ok("PATCH", f"/v1/feedback/{hers['id']}", {"status": "in_progress",
                                                          "note": "Rückruf erledigt"})
    theirs = await shop.entry(body="Alles gut, andere Person", rating=5,
                              customer_email=SIMILAR)
    _, address = await shop.member("admin")
    person = await people()
    page = await sign_in(person, team_stack, address)

    await page.get_by_role("link", name="Privacy", exact=True).click()
    await page.wait_for_selector("h1:text('Data-subject requests')")
    # A missing address is named before anything is filed.
    await page.get_by_role("button", name="File the request").click()
    await expect(page.locator(".message.error")).to_contain_text("email address")
    await page.get_by_label("Customer email").fill(ANNA.upper())
    await page.get_by_label("Request", exact=True).select_option("export")
    await page.get_by_role("button", name="File the request").click()
    await expect(page.locator("tr[data-status=completed]")).to_have_count(1)

    name, text = await downloaded(page, "Download Entries (CSV)")
    assert name.endswith("-entries.csv"), name
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert (row["id"], row["body"]) == (hers["id"], "Paket kam nass an, Datenschutzseite")
    _, text = await downloaded(page, "Download Notes (CSV)")
    assert [n["body"] for n in csv.DictReader(io.StringIO(text))] == ["Rückruf erledigt"]
    _, text = await downloaded(page, "Download the export")
    document = json.loads(text)["data"]
    assert [e["id"] for e in document["entries"]] == [hers["id"]]
    assert SIMILAR not in text and "andere Person" not in text

    # The erasure asks first; cancelled, nothing is filed.
    await page.get_by_label("Customer email").fill(ANNA)
    await page.get_by_label("Request", exact=True).select_option("erasure")
    await page.get_by_role("button", name="File the request").click()
    await expect(page.locator("#erase-question")).to_contain_text(ANNA)
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#erase-question")).to_have_count(0)
    assert await page.locator("table.privacy-requests tbody tr").count() == 1
    await page.get_by_role("button", name="File the request").click()
    await page.get_by_role("button", name="Erase", exact=True).click()
    # The page looks again until every service has done its part.
    await expect(page.locator("tr[data-status=completed]")).to_have_count(2, timeout=30_000)
    erasure = page.locator("table.privacy-requests tbody tr").first
    await expect(erasure.locator("li[data-service=webhook-dispatcher]")).to_contain_text("done")
    await expect(page.locator("table.privacy-requests")).to_contain_text("no longer available")
    erased = await shop.ok("GET", f"/v1/feedback/{hers['id']}")
    assert (erased["customer_email"], erased["rating"]) == (None, 2) and not erased["body"]
    assert (await shop.ok("GET", f"/v1/feedback/{theirs['id']}"))["customer_email"] == SIMILAR
    assert person.errors == []

    # Editors have no privacy page.
    _, editor = await shop.member("editor")
    other = await people()
    page = await sign_in(other, team_stack, editor)
    assert await page.get_by_role("link", name="Privacy", exact=True).count() == 0
    page = await other.goto(team_stack, "/app/privacy")
    await expect(page.locator(".message")).to_contain_text("Only admins")

    problems: list[str] = []
    for language in ("en-US", "de-DE"):
        someone = await people(locale=language)
        await sign_in(someone, team_stack, address)
        problems += await audit(await someone.goto(team_stack, "/app/privacy"),
                                f"{language} privacy")
    assert problems == []


async def test_a_widget_submission_stores_no_client_address(team_stack: Stack,
                                                            infra: Infra) -> None:
    shopper, member = "203.0.113.77", "203.0.113.78"
    shop = await new_shop(team_stack, "Minimal Collection")
    _, address = await shop.member("viewer")
    async with aiohttp.ClientSession() as http:
        widget = await create_active_widget(http, team_stack, shop.key)
        async with http.post(
                f"{gw(team_stack)}/public/widgets/{widget['public_id']}/submissions",
                headers={"Origin": "https://shop.example", "X-Forwarded-For": shopper},
                json={"answers": {"stars": 4, "comment": "Gern wieder"},
                      "customer_email": "ip.test@beispiel-shop.de",
                      "page_url": "https://shop.example/danke", "language": "de"}) as response:
            assert response.status == 201, await response.text()
        # The control: a team member's session records the address it was opened from.
        async with http.post(f"{gw(team_stack)}/v1/sessions",
                             headers={"X-Forwarded-For": member},
                             json={"email": address, "password": PASSWORD}) as response:
            assert response.status == 201, await response.text()
    assert await places_holding(team_stack.database_url, "Gern wieder") != []
    assert await places_holding(team_stack.database_url, member) != []
    assert await places_holding(team_stack.database_url, shopper) == []
    records = await retained(team_stack, infra)
    assert any(widget["id"] in r for r in records)
    assert [r for r in records if shopper in r] == []
