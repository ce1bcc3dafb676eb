"""The API keys page and the team page in a real browser against the whole stack: a key
created in the page, copied, used against the API and revoked there; a member invited with
a role (the mail arrives), their role changed and removed after the confirmation; axe-core
on both pages in English and German."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
from playwright.async_api import expect

from resonanz.devstack.supervisor import MailCatcher, Stack

from .browser import SCREENSHOTS, audit, gw, mailed_link, new_shop, sign_in
from .helpers import bearer


async def me_with(stack: Stack, key: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            gw(stack) + "/v1/me", headers=bearer(key)) as response:
        return response.status


async def test_a_key_is_created_copied_used_and_revoked_in_the_page(
        team_stack: Stack, people: Any) -> None:
    shop = await new_shop(team_stack, "Keys")
    _, address = await shop.member("admin", name="Ada Admin")
    person = await people()
    await person.page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                                origin=gw(team_stack))
    await sign_in(person, team_stack, address)
    page = await person.goto(team_stack, "/app/settings/api-keys")
    await page.get_by_label("Name", exact=True).fill("Warenwirtschaft")
    await page.get_by_label("Role", exact=True).select_option("editor")
    await page.get_by_role("button", name="Create the key").click()
    secret = page.locator("#new-key")
    await secret.wait_for()
    key = await secret.inner_text()
    assert key.startswith("rsz_live_")
    await page.get_by_role("button", name="Copy the key").click()
    await expect(page.locator(".copy-status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == key

    row = page.locator("table.api-keys tbody tr", has_text="Warenwirtschaft")
    listed = await row.inner_text()
    assert key not in listed and key[:15] in listed and "Ada Admin" in listed
    assert await me_with(team_stack, key) == 200
    keys = await shop.ok("GET", "/v1/api-keys")
    made = next(k for k in keys if k["name"] == "Warenwirtschaft")
    assert made["role"] == "editor" and made["created_by"]["email"] == address
    await page.screenshot(path=str(SCREENSHOTS / "api-keys.png"), full_page=True)

    await page.reload()  # the whole key is gone with the page: only its prefix is listed
    await page.wait_for_selector("main[aria-busy=false]")
    assert key not in await page.locator("main").inner_text()
    await page.get_by_role("button", name="Revoke the key Warenwirtschaft").click()
    assert "refused from now on" in await row.inner_text()
    await page.get_by_role("button", name="Yes, revoke the key").click()
    await expect(row.locator(".badge")).to_have_text("revoked")
    assert await me_with(team_stack, key) == 401
    assert person.dialogs == [] and person.errors == []


async def test_a_member_is_invited_with_a_role_changed_and_removed(
        team_stack: Stack, team_mail: MailCatcher, people: Any) -> None:
    shop = await new_shop(team_stack, "Team")
    _, address = await shop.member("admin", name="Ada Admin")
    person = await people()
    await sign_in(person, team_stack, address)
    page = await person.goto(team_stack, "/app/team")
    invitee = f"neu-{uuid.uuid4().hex[:8]}@team.example"
    await page.get_by_label("Email", exact=True).fill(invitee)
    await page.get_by_label("Role", exact=True).select_option("editor")
    await page.get_by_role("button", name="Send the invitation").click()
    pending = page.locator("table.invitations tbody tr", has_text=invitee)
    await pending.wait_for()
    assert "editor" in await pending.inner_text()
    first = await mailed_link(team_mail, invitee, "invitation")

    await page.get_by_role("button", name=f"Send again: the invitation to {invitee}").click()
    await page.wait_for_selector("text=the earlier link no longer works", state="attached")
    async with aiohttp.ClientSession() as http, http.post(
            gw(team_stack) + "/v1/invitations/accept",
            json={"token": first.split("#token=")[1], "password": "Feedback-Lesen-2026"}
    ) as answer:
        assert answer.status == 400, "the first link died with the new invitation"

    await page.get_by_role("button", name=f"Revoke the invitation to {invitee}").click()
    await page.get_by_role("button", name="Yes, revoke the invitation").click()
    await expect(pending).to_have_count(0)
    users = await shop.ok("GET", "/v1/users")
    assert invitee not in {u["email"] for u in users}

    member_id, member_address = await shop.member("editor", name="Eda Editor")
    entry = await shop.entry(body="Bitte kümmern.", rating=2)
    await shop.ok("PATCH", f"/v1/feedback/{entry['id']}", {"assignee": member_id})
    page = await person.goto(team_stack, "/app/team")
    await page.get_by_label("Role of Eda Editor", exact=True).select_option("viewer")
    await page.get_by_role("button", name="Change the role of Eda Editor").click()
    await page.wait_for_selector("text=Eda Editor is now viewer.", state="attached")
    roles = {u["email"]: u["role"] for u in await shop.ok("GET", "/v1/users")}
    assert roles[member_address] == "viewer"

    await page.get_by_role("button", name="Remove Eda Editor").click()
    question = await page.locator("table.team .confirm").inner_text()
    assert "go to the organization\u2019s owner" in question and "API keys are revoked" in question
    await page.get_by_role("button", name="Yes, remove").click()
    await expect(page.locator("table.team tbody tr", has_text="Eda Editor")).to_have_count(0)
    assert member_id not in {u["id"] for u in await shop.ok("GET", "/v1/users")}
    assert person.dialogs == [] and person.errors == []


async def test_axe_finds_nothing_serious_on_the_keys_and_team_pages(
        team_stack: Stack, people: Any) -> None:
    shop = await new_shop(team_stack, "Axe Team")
    _, address = await shop.member("admin")
    _, viewer = await shop.member("viewer")
    await shop.ok("POST", "/v1/users", {"email": f"w-{uuid.uuid4().hex[:6]}@team.example"})
    await shop.ok("POST", "/v1/api-keys", {"name": "Shop", "role": "editor"})
    problems: list[str] = []
    for language in ("en-US", "de-DE"):
        person = await people(locale=language)
        await sign_in(person, team_stack, address)
        page = await person.goto(team_stack, "/app/settings/api-keys")
        problems += await audit(page, f"{language} keys")
        await page.locator("form.key-form input[name=key-name]").fill("Audit")
        await page.locator("form.key-form button[type=submit]").click()
        await page.locator("#new-key").wait_for()
        await page.locator("table.api-keys tbody button.reject").first.click()
        problems += await audit(page, f"{language} keys with a new key and a confirmation")
        page = await person.goto(team_stack, "/app/team")
        problems += await audit(page, f"{language} team")
        await page.locator("table.invitations tbody button.reject").first.click()
        problems += await audit(page, f"{language} team with a confirmation")
        assert person.errors == []
    reader = await people()
    await sign_in(reader, team_stack, viewer)
    page = await reader.goto(team_stack, "/app/team")
    assert await page.locator("main button, main select, main form").count() == 0
    problems += await audit(page, "viewer team")
    page = await reader.goto(team_stack, "/app/settings/api-keys")
    assert "Only admins" in await page.locator("main").inner_text()
    problems += await audit(page, "viewer keys")
    assert problems == []
