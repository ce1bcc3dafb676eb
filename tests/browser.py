"""The team dashboard in a real browser (Playwright driving Debian's
chromium-headless-shell) against the whole stack: shops set up through the API, people
with browser profiles of their own, mails read from the catcher, axe-core audits. The
fixtures (`browser`, `people`, `team_stack`) are in conftest."""

from __future__ import annotations

import email
import os
import re
import tempfile
import uuid
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page

from resonanz.devstack.supervisor import MailCatcher, Stack

from .helpers import bearer, new_tenant
from .support import eventually

HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
HEADLESS_SHELL_THERE = Path(HEADLESS_SHELL).exists()
AXE = Path(__file__).parent / "assets" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("RESONANZ_SCREENSHOTS_DIR")
                   or Path(tempfile.gettempdir()) / "resonanz-screenshots")
PASSWORD = "Feedback-Lesen-2026"


def policy_of(header: str) -> dict[str, str]:
    """A Content-Security-Policy header as directive → value."""
    directives = (d.strip().split(None, 1) for d in header.split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


async def settled(page: Page) -> None:
    """The app rendered the page it is on (app.js clears aria-busy when done)."""
    await page.wait_for_selector("main[aria-busy=false]", timeout=15_000)


def gw(stack: Stack) -> str:
    return stack.services["gateway"].url


class Shop:
    """One tenant: its admin key for setting the scene through the API."""

    def __init__(self, stack: Stack, key: str) -> None:
        self.stack, self.key = stack, key

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.request(
                method, gw(self.stack) + path, json=body,
                headers={**bearer(self.key), **(headers or {})}) as response:
            return response.status, await response.json(content_type=None)

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, answer = await self.call(method, path, body, **kw)
        assert status < 300, (method, path, status, answer)
        return answer["data"]

    async def entry(self, **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = await self.ok("POST", "/v1/feedback", fields)
        return entry

    async def member(self, role: str = "editor", name: str | None = None) -> tuple[str, str]:
        """An invited member who accepted through the API: (user id, email)."""
        address = f"{role}-{uuid.uuid4().hex[:8]}@team.example"
        invited = await self.ok("POST", "/v1/users", {"email": address, "role": role,
                                                      **({"name": name} if name else {})})
        async with aiohttp.ClientSession() as http, http.post(
                gw(self.stack) + "/v1/invitations/accept",
                json={"token": invited["invitation_token"], "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
        return invited["id"], address


async def new_shop(stack: Stack, name: str) -> Shop:
    _, key = await new_tenant(stack, f"{name} {uuid.uuid4().hex[:6]}")
    return Shop(stack, key)


def new_address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


class Person:
    """One person's browser profile (cookies, localStorage), from an address of its own;
    every error a page throws is kept, as is every dialog that opens."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def goto(self, stack: Stack, path: str) -> Page:
        await self.page.goto(gw(stack) + path)
        await settled(self.page)
        await no_leaked_values(self.page)
        return self.page


async def no_leaked_values(page: Page) -> None:
    """No `null`, `undefined` or `[object Object]` rendered where a value was missing."""
    text = await page.locator("body").inner_text()
    leaked = re.findall(r"\b(?:null|undefined|NaN)\b|\[object \w+\]", text)
    assert not leaked, (page.url, leaked)


LABELS = {"en": ("Email", "Password", "Sign in", "Inbox"),
          "de": ("E-Mail", "Passwort", "Anmelden", "Posteingang")}


async def sign_in(person: Person, stack: Stack, address: str, password: str = PASSWORD) -> Page:
    """Through the sign-in page, in the language the page speaks."""
    page = await person.goto(stack, "/app/sign-in")
    email_label, password_label, button, inbox = LABELS[
        await page.evaluate("document.documentElement.lang")]
    await page.get_by_label(email_label).fill(address)
    await page.get_by_label(password_label, exact=True).fill(password)
    await page.get_by_role("button", name=button).click()
    await page.wait_for_selector(f"h1:text('{inbox}')", timeout=15_000)
    await settled(page)
    await no_leaked_values(page)
    return page


def mails_to(catcher: MailCatcher, address: str) -> list[Message]:
    found = [email.message_from_bytes(path.read_bytes()) for path in catcher.messages()]
    return [m for m in found if m["To"] == address]


def links_in(message: Message, page: str) -> list[str]:
    found = []
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found += re.findall(rf"https?://\S+/app/{page}#token=[\w-]+", payload.decode())
    return found[:1]


async def mailed_link(catcher: MailCatcher, address: str, page: str) -> str:
    """The link to /app/<page> in the one mail to `address` that has one."""
    async def arrived() -> list[str]:
        return [link for m in mails_to(catcher, address) for link in links_in(m, page)]

    links = await eventually(arrived, lambda found: len(found) >= 1, within=30,
                             what=f"a mail with /app/{page} to {address}")
    assert len(links) == 1, links
    return links[0]


AUDIT = """() => axe.run(document, {resultTypes: ['violations']}).then((result) =>
  result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at `
      + v.nodes.map((n) => JSON.stringify(n.target)).join(', ')))"""


async def audit(page: Page, name: str) -> list[str]:
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    found: list[str] = await page.evaluate(AUDIT)
    return [f"{name}: {line}" for line in found]
