"""The dashboard's audit log page and the inbox export in a real browser (issue 18): an
entry deleted through the API is restored from its delete row and is back in the inbox;
the inbox's "Export CSV" downloads what its filters find; axe-core in English and German."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from resonanz.devstack.supervisor import Stack

from .browser import SCREENSHOTS, audit, new_shop, sign_in


async def test_a_deleted_entry_is_restored_from_the_audit_log(team_stack: Stack,
                                                             people: Any) -> None:
    shop = await new_shop(team_stack, "Audit")
    kept = await shop.entry(body="Die Lieferung war schnell.", rating=5)
    gone = await shop.entry(body="Versehentlich gelöscht, bitte zurückholen.", rating=2)
    await shop.ok("DELETE", f"/v1/feedback/{gone['id']}")
    _, address = await shop.member("admin")
    person = await people()
    page = await sign_in(person, team_stack, address)
    assert await page.locator("table.entries tbody tr").count() == 1

    await page.get_by_role("link", name="Audit log").click()
    await page.wait_for_selector("h1:text('Audit log')")
    restore = page.get_by_role("button", name=f"Restore entry {gone['id']}")
    await expect(restore).to_have_count(1)
    # The entry that is not deleted has no restore button.
    assert await page.get_by_role("button", name=f"Restore entry {kept['id']}").count() == 0
    await restore.click()
    await expect(page.locator(".message.success")).to_contain_text("back in the inbox")
    await page.screenshot(path=str(SCREENSHOTS / "audit-log.png"), full_page=True)
    await page.get_by_role("link", name="Open the entry").click()
    await page.wait_for_selector("main[aria-busy=false]")
    assert "zurückholen" in await page.locator("main").inner_text()
    await page.get_by_role("link", name="Inbox", exact=True).click()
    await expect(page.locator("table.entries tbody tr")).to_have_count(2)
    assert person.errors == []


async def test_the_inbox_exports_its_filtered_entries_as_csv(team_stack: Stack,
                                                            people: Any) -> None:
    shop = await new_shop(team_stack, "Export")
    for rating, body in ((1, "=1+1 kaputt angekommen"), (2, "zu spät"), (5, "super")):
        await shop.entry(body=body, rating=rating)
    _, address = await shop.member("editor")
    person = await people()
    page = await sign_in(person, team_stack, address)
    page = await person.goto(team_stack, "/app/?rating=1,2")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export CSV").click()
    download = await info.value
    assert download.suggested_filename == "feedback.csv"
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    rows = list(csv.DictReader(io.StringIO(text)))
    listed = await shop.call("GET", "/v1/feedback?rating=1,2")
    assert len(rows) == listed[1]["meta"]["total"] == 2
    api_entry = listed[1]["data"][0]
    assert (rows[0]["id"], rows[0]["rating"], rows[0]["created_at"]) == (
        api_entry["id"], str(api_entry["rating"]), api_entry["created_at"])
    assert {r["body"] for r in rows} == {"'=1+1 kaputt angekommen", "zu spät"}


async def test_axe_on_the_audit_page_and_the_export_links(team_stack: Stack,
                                                         people: Any) -> None:
    shop = await new_shop(team_stack, "AuditAxe")
    entry = await shop.entry(body="Passt nicht.", rating=2)
    await shop.ok("PATCH", f"/v1/feedback/{entry['id']}", {"status": "in_progress"})
    await shop.ok("DELETE", f"/v1/feedback/{entry['id']}")
    _, address = await shop.member("admin")
    problems: list[str] = []
    for language in ("en-US", "de-DE"):
        person = await people(locale=language)
        await sign_in(person, team_stack, address)
        for path in ("/app/audit", "/app/audit?method=DELETE", "/app/"):
            problems += await audit(await person.goto(team_stack, path), f"{language} {path}")
    assert problems == []
