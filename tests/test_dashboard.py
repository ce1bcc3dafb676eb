"""The team dashboard (services/dashboard): the app shell and its assets on their own, then
the real flows in a real browser (Playwright driving Debian's chromium-headless-shell)
against the whole stack through the gateway: invitation from the mail, sign-in, the inbox
with filters in the URL, polling and paging, entry detail with note, assignment and status,
rewards, bulk triage, sessions, a viewer without write controls, a removed member, stored
XSS through the widget and the API, axe-core on every page, German and English.

The inbox and entry-detail screenshots are written by this run: into the folder named by
RESONANZ_SCREENSHOTS_DIR (`make screenshots` sets docs/screenshots, which README shows), else
into the temporary folder, so that a test run leaves the checkout as it was.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from resonanz.dashboard.app import CONTENT_SECURITY_POLICY, STATIC
from resonanz.devstack.supervisor import MailCatcher, Stack

from .browser import (
    PASSWORD,
    SCREENSHOTS,
    Shop,
    audit,
    gw,
    mailed_link,
    new_shop,
    policy_of,
    settled,
    sign_in,
)
from .support import eventually
from .test_rewards_and_events import known_campaign

POLICY = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
    "img-src": "'self' data:", "connect-src": "'self'", "frame-ancestors": "'none'",
    "base-uri": "'none'", "form-action": "'self'",
}


# --- the service on its own ----------------------------------------------------------------


def assert_hardened(headers: Any) -> None:
    policy = policy_of(headers["Content-Security-Policy"])
    for directive, value in POLICY.items():
        assert policy.get(directive) == value, (directive, policy)
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


class ShellParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "script":
            self.script_text += data.strip()


async def test_every_path_under_app_is_the_shell_with_a_strict_policy(dashboard: str) -> None:
    async with aiohttp.ClientSession() as http:
        bodies = set()
        for path in ("/app", "/app/", "/app/sign-in", "/app/entries/123?x=1", "/app/invitation",
                     "/app/reset-password", "/app/no/such/page"):
            async with http.get(dashboard + path) as response:
                assert response.status == 200, path
                assert response.content_type == "text/html"
                assert response.headers["Cache-Control"] == "no-cache"
                assert_hardened(response.headers)
                bodies.add(await response.read())
                etag = response.headers["ETag"]
        assert len(bodies) == 1
        async with http.get(dashboard + "/app/", headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        async with http.get(dashboard + "/app/assets/nope/app.js") as response:
            assert response.status == 404
            assert_hardened(response.headers)
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'self'")


async def test_the_shell_has_no_inline_script_or_style(dashboard: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(dashboard + "/app/") as response:
        html = await response.text()
    parser = ShellParser()
    parser.feed(html)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all(a.get("src") and a.get("type") == "module" for a in scripts)
    assert parser.script_text == "", "a script with inline content"
    assert not any(tag == "style" for tag, _ in parser.tags)
    for tag, attrs in parser.tags:
        assert "style" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag
    assert any(tag == "main" for tag, _ in parser.tags)
    assert any(a.get("role") == "status" and a.get("aria-live") for _, a in parser.tags)


async def test_assets_are_immutable_under_the_build_id_and_answer_etags(dashboard: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(dashboard + "/app/") as response:
            html = await response.text()
        urls = re.findall(r'(?:href|src)="(/app/assets/[^"]+)"', html)
        names = {url.split("/", 4)[4] for url in urls}
        on_disk = {p.relative_to(STATIC).as_posix() for p in [*STATIC.iterdir(),
                                                              *(STATIC / "vendor").iterdir()]
                   if p.suffix in (".js", ".css")}
        assert "vendor/uPlot.esm.js" in names and "vendor/uPlot.min.css" in names
        assert names == on_disk, "every module is preloaded and every asset named"
        build = urls[0].split("/")[3]
        for url in urls:
            async with http.get(dashboard + url) as response:
                assert response.status == 200, url
                assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
                assert response.content_type == (
                    "text/css" if url.endswith(".css") else "text/javascript")
                assert_hardened(response.headers)
                etag = response.headers["ETag"]
            async with http.get(dashboard + url, headers={"If-None-Match": etag}) as response:
                assert response.status == 304
        for missing in (f"/app/assets/{'0' * 16}/app.js", f"/app/assets/{build}/nope.js",
                        f"/app/assets/{build}/../app.py", f"/app/assets/{build}/index.html",
                        f"/app/assets/{build}/vendor/README.md",
                        f"/app/assets/{build}/vendor/uPlot.LICENSE",
                        f"/app/assets/{build}/other/uPlot.esm.js"):
            async with http.get(dashboard + missing) as response:
                assert response.status == 404, missing


def test_no_module_writes_html_or_evaluates_strings() -> None:
    sinks = re.compile(r"\.innerHTML\s*[+]?=|\.outerHTML\s*=|insertAdjacentHTML|document\.write"
                       r"|\beval\(|new Function|createContextualFragment|DOMParser"
                       r"|setAttribute\(\s*['\"](?:on|style|src|srcdoc|href)")
    # Vendored libraries too: none needs an exemption.
    for path in sorted([*STATIC.glob("*.js"), *STATIC.glob("vendor/*.js")]):
        text = path.read_text(encoding="utf-8")
        found = [m.group(0) for m in sinks.finditer(text)]
        if path.name == "dom.js":  # h() sets href itself, after safeHref
            found.remove("setAttribute('href")
        assert not found, (path.name, found)
        for module in re.findall(r"from '\./([^']+)'", text):
            assert (path.parent / module).is_file(), (path.name, module)


def messages_block(text: str, language: str) -> set[str]:
    block = text.split(f"const {language} = {{", 1)[1].split("\n};", 1)[0]
    return set(re.findall(r"^  '?([\w.]+)'?:", block, flags=re.MULTILINE))


def test_every_message_exists_in_german_and_english() -> None:
    i18n = (STATIC / "i18n.js").read_text(encoding="utf-8")
    english, german = messages_block(i18n, "en"), messages_block(i18n, "de")
    assert english == german, english ^ german
    used = set()
    for path in [*STATIC.glob("pages-*.js"), STATIC / "app.js", STATIC / "view.js"]:
        used |= set(re.findall(r"\bt\('([\w.]+)'", path.read_text(encoding="utf-8")))
    for dynamic in ("status.new", "status.pending", "status.in_progress", "status.resolved",
                    "status.archived", "reward.pending", "reward.approved", "reward.rejected",
                    "payout.pending", "payout.processing", "payout.paid", "payout.failed",
                    "payout.cancelled", "payout.blocked", "role.admin",
                    "role.editor", "role.viewer", "nav.inbox", "nav.rewards", "nav.sessions"):
        used.add(dynamic)
    assert used <= english, used - english


async def test_the_pure_modules_refuse_what_they_must(dashboard: str, browser: Browser) -> None:
    """safeHref keeps only http(s); filters from a URL keep only what they know."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(dashboard + "/app/sign-in")
    await settled(page)
    build = (await page.get_attribute("script[type=module]", "src") or "").split("/")[3]
    result = await page.evaluate("""async (build) => {
      const dom = await import(`/app/assets/${build}/dom.js`);
      const f = await import(`/app/assets/${build}/filters.js`);
      const auth = await import(`/app/assets/${build}/pages-auth.js`);
      const hrefs = ['javascript:alert(1)', ' JaVaScRiPt:alert(1)', 'data:text/html,x',
        'vbscript:x', 'https://shop.example/a?b=<c>', 'http://x.example', '/app/rewards']
        .map(dom.safeHref);
      const link = dom.h('a', {href: 'javascript:alert(1)'}, 'x');
      const text = dom.h('p', {}, '<img src=x onerror=alert(1)>');
      const filters = f.filtersFromQuery('status=new,bogus,resolved&rating=5,9,1&widget=<x>'
        + '&assignee=someone&from=2026-02-30x&to=2026-03-01&category=' + 'k'.repeat(100));
      let refused = 0;
      const bad = [{onclick: 'alert(1)'}, {style: 'color:red'}, {src: 'x'}, {innerHTML: 'x'}];
      for (const props of bad) {
        try { dom.h('div', props); } catch { refused += 1; }
      }
      return {hrefs, linkHref: link.getAttribute('href'), text: text.textContent,
              children: text.children.length, filters, query: f.filtersToQuery(filters).toString(),
              refused, next: ['//evil.example/app', '/app/rewards?x=1', 'https://evil.example/app',
                              '/app\\\\evil', '/elsewhere'].map(auth.safeNext)};
    }""", build)
    await context.close()
    assert result["hrefs"][:4] == [None, None, None, None]
    assert result["hrefs"][4].startswith("https://shop.example/a?b=")
    assert result["hrefs"][5] == "http://x.example/"
    assert result["linkHref"] is None
    assert result["text"] == "<img src=x onerror=alert(1)>" and result["children"] == 0
    assert result["refused"] == 4
    filters = result["filters"]
    assert filters["status"] == ["new", "resolved"] and filters["rating"] == [1, 5]
    assert filters["widget"] == "" and filters["assignee"] == "" and filters["from"] == ""
    assert filters["to"] == "2026-03-01" and len(filters["category"]) == 64
    assert result["query"].startswith("status=new%2Cresolved&rating=1%2C5&category=")
    assert result["next"] == ["/app/", "/app/rewards?x=1", "/app/", "/app/", "/app/"]


@pytest.fixture
def stack(team_stack: Stack) -> Stack:
    return team_stack


@pytest.fixture
def mail(team_mail: MailCatcher) -> MailCatcher:
    return team_mail


async def rows(page: Page) -> list[str]:
    """The ids of the inbox's rows, top to bottom."""
    return await page.eval_on_selector_all("table.entries tbody tr",
                                           "(rows) => rows.map((r) => r.dataset.id)")


async def api_entry(shop: Shop, entry_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = await shop.ok("GET", f"/v1/feedback/{entry_id}")
    return entry


# --- flows --------------------------------------------------------------------------------


async def test_an_invitee_sets_a_password_from_the_mail_and_sees_the_inbox(
        stack: Stack, mail: MailCatcher, people: Any) -> None:
    shop = await new_shop(stack, "Invite")
    await shop.entry(body="Die Lieferung kam einen Tag zu spät.", rating=3)
    address = f"neu-{uuid.uuid4().hex[:8]}@team.example"
    await shop.ok("POST", "/v1/users", {"email": address, "role": "editor"})
    link = await mailed_link(mail, address, "invitation")
    assert link.startswith(gw(stack) + "/app/invitation#token=")

    person = await people()
    page = person.page
    await page.goto(link)
    await settled(page)
    assert await page.evaluate("location.hash") == "", "the token leaves the address bar"
    await page.get_by_label("Your name").fill("Nora Neu")
    await page.get_by_label("New password", exact=True).fill("short")
    await page.get_by_label("Repeat the new password").fill("short")
    await page.get_by_role("button", name="Accept the invitation").click()
    assert "at least 10" in await page.locator("[role=alert]").inner_text()
    await page.get_by_label("New password", exact=True).fill(PASSWORD)
    await page.get_by_label("Repeat the new password").fill(PASSWORD)
    await page.get_by_role("button", name="Accept the invitation").click()
    await page.wait_for_selector("h1:text('Inbox')")
    await settled(page)
    assert page.url == gw(stack) + "/app/"
    assert "Nora Neu" in await page.locator("header").inner_text()
    assert len(await rows(page)) == 1

    members = await shop.ok("GET", "/v1/users")
    joined = next(m for m in members if m["email"] == address)
    assert joined["status"] == "active" and joined["email_verified"]

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_selector("h1:text('Sign in')")
    assert "/app/sign-in" in page.url
    await page.goto(gw(stack) + "/app/")  # signed out: the inbox sends to sign-in
    await settled(page)
    assert "/app/sign-in?next=" in page.url
    await page.get_by_label("Email").fill(address)
    await page.get_by_label("Password", exact=True).fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    alert = page.locator("[role=alert]")
    await alert.wait_for()
    assert await alert.inner_text() == "Email or password is incorrect."
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("h1:text('Inbox')")
    assert person.errors == []


async def test_a_forgotten_password_is_reset_through_the_mailed_link(
        stack: Stack, mail: MailCatcher, people: Any) -> None:
    shop = await new_shop(stack, "Reset")
    _, address = await shop.member("editor")
    person = await people()
    page = await person.goto(stack, "/app/sign-in")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.wait_for_selector("h1:text('Reset your password')")
    await page.get_by_label("Email").fill(address)
    await page.get_by_role("button", name="Send the link").click()
    await page.wait_for_selector("text=a link to reset the password is on its way")
    link = await mailed_link(mail, address, "reset-password")

    await page.goto(link)
    await settled(page)
    assert await page.evaluate("location.hash") == ""
    await page.get_by_label("New password", exact=True).fill("Neues-Passwort-42")
    await page.get_by_label("Repeat the new password").fill("Neues-Passwort-42")
    await page.get_by_role("button", name="Save the new password").click()
    await page.wait_for_selector("h1:text('Sign in')")
    assert "Your password was changed" in await page.locator("main").inner_text()
    await sign_in(person, stack, address, "Neues-Passwort-42")

    again = await people()  # the link is single-use
    page = again.page
    await page.goto(link)
    await settled(page)
    await page.get_by_label("New password", exact=True).fill("Noch-ein-Passwort-7")
    await page.get_by_label("Repeat the new password").fill("Noch-ein-Passwort-7")
    await page.get_by_role("button", name="Save the new password").click()
    await page.wait_for_selector("text=This link is invalid or has expired.")
    assert person.errors == [] and again.errors == []


async def test_the_inbox_keeps_its_filters_in_the_url_pages_and_shows_new_entries(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Inbox")
    _, address = await shop.member("editor")
    first = await shop.entry(body="Bitte mehr Größen anbieten.", rating=2, category="sizes")
    for n in range(54):
        await shop.entry(body=f"Eintrag Nummer {n}", rating=5 if n % 2 else 4)
    resolved = await shop.entry(body="Schon erledigt: Rückruf kam.", rating=1)
    await shop.ok("PATCH", f"/v1/feedback/{resolved['id']}", {"status": "resolved"})

    person = await people()
    page = await sign_in(person, stack, address)
    shown = await rows(page)
    assert len(shown) == 50 and shown[0] == resolved["id"], "newest first, 50 a page"
    await page.get_by_role("button", name="Load more entries").click()
    await expect(page.locator("table.entries tbody tr")).to_have_count(56)
    assert (await rows(page))[-1] == first["id"]
    assert await page.get_by_role("button", name="Load more entries").is_hidden()

    # Filters: chosen in the form, kept in the URL, the same view when the URL is opened.
    await page.locator("details.filter-panel summary").click()
    await page.get_by_role("group", name="Status").get_by_label("Resolved").check()
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url("**/app/?status=resolved")
    await settled(page)
    assert await rows(page) == [resolved["id"]]
    await page.goto(gw(stack) + "/app/?rating=2&category=sizes")
    await settled(page)
    assert await rows(page) == [first["id"]]
    assert await page.get_by_role("group", name="Rating").get_by_label("2 of 5").is_checked()
    assert await page.get_by_label("Category").input_value() == "sizes"
    await page.go_back()
    await settled(page)
    assert await rows(page) == [resolved["id"]]

    # New entries appear without a reload (polling with the list's ETag: 304 while nothing
    # changed), where they match the view.
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if "/v1/feedback?" in r.url
            and r.request.headers.get("if-none-match") else None)
    await page.goto(gw(stack) + "/app/")
    await settled(page)
    marker = await page.evaluate("window.markerOfThisPage = Math.random()")
    await eventually(lambda: asyncio.sleep(0, polls), lambda seen: 304 in seen, within=25,
                     interval=0.5, what="a poll answered 304 Not Modified")
    fresh = await shop.entry(body="Ganz neu: der Gutschein fehlt.", rating=2)

    async def top() -> list[str]:
        return (await rows(page))[:1]

    await eventually(top, lambda ids: ids == [fresh["id"]], within=25, interval=0.5,
                     what="the new entry at the top")
    assert await page.evaluate("window.markerOfThisPage") == marker, "no reload"
    await expect(page.locator("#live")).to_have_text("1 new entry arrived.")
    assert person.errors == []


async def test_the_inbox_searches_the_text_and_filters_by_quality(
        stack: Stack, people: Any) -> None:
    """The search box and the quality filter are the API's `q` and `quality`: the server
    filters (German stems: "Lieferung" finds "Lieferungen"), the URL keeps both."""
    shop = await new_shop(stack, "Search")
    _, address = await shop.member("editor")
    bodies = ["Die Lieferungen kamen pünktlich, die Jacke passt perfekt und der Stoff ist"
              " angenehm weich, Größe M wie in der Tabelle angegeben.",
              "Lieferung",
              "The parcel shipped quickly and the fabric feels great.",
              "ok"]
    entries = [await shop.entry(body=body, rating=4) for body in bodies]
    labels = [(await shop.call("GET", f"/api/v1/responses/{e['id']}"))[1]["data"]["quality"]
              ["label"] for e in entries]
    person = await people()
    page = await sign_in(person, stack, address)
    await page.locator("details.filter-panel summary").click()
    await page.get_by_label("Search text and answers").fill("Lieferung")
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url("**/app/?q=Lieferung")
    await settled(page)
    assert await rows(page) == [entries[1]["id"], entries[0]["id"]]
    label = labels[0]
    await page.get_by_role("group", name="Quality").get_by_label(label.capitalize()).check()
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url(f"**/app/?q=Lieferung&quality={label}")
    await settled(page)
    assert await rows(page) == [e["id"] for e, lab in zip(entries[:2], labels[:2], strict=True)
                                if lab == label][::-1]
    assert await page.get_by_label("Search text and answers").input_value() == "Lieferung"
    await page.goto(gw(stack) + "/app/?q=shipping")
    await settled(page)
    assert await rows(page) == [entries[2]["id"]]
    assert person.errors == []


async def test_an_entry_is_noted_assigned_resolved_and_its_reward_reviewed(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Detail")
    user_id, address = await shop.member("editor", name="Eda Editor")
    widget = await shop.ok("POST", "/v1/widgets", {
        "name": "Checkout", "is_active": True, "reward": {"amount": "5.00", "currency": "EUR"}})
    good = await shop.entry(
        body="Der Checkout-Button reagiert auf dem iPhone in Safari nicht, ich musste dreimal"
             " tippen. Mit Chrome ging es sofort.", rating=2, category="checkout",
        customer_email="kundin@example.de", widget_id=widget["id"],
        metadata={"page": "https://shop.example/checkout", "device": "iPhone 15"},
        answers={"comment": "Bitte reparieren", "channel": ["search", "friend"]})
    other = await shop.entry(body="gut", rating=5, widget_id=widget["id"])

    person = await people()
    await sign_in(person, stack, address)
    page = await person.goto(stack, f"/app/entries/{good['id']}")
    main = page.locator("main")
    text = await main.inner_text()
    assert "Der Checkout-Button reagiert" in text and "kundin@example.de" in text
    assert "Checkout" in text and "iPhone 15" in text and "search, friend" in text
    link = page.get_by_role("link", name="https://shop.example/checkout")
    assert await link.get_attribute("rel") == "noopener noreferrer nofollow"
    detail = await shop.ok("GET", f"/api/v1/responses/{good['id']}")
    for component in detail["quality"]["components"].values():
        assert component["reason"] in text, component
    assert f"Score {detail['quality']['score']} of 100" in text

    # Only the allowed moves are offered: `new` cannot move to `new`.
    options = await page.get_by_label("Move to").locator("option").all_inner_texts()
    assert options == ["Choose a status", "Pending", "In progress", "Resolved", "Archived"]

    await page.get_by_label("Add a note").fill("Reproduziert auf iOS 18, Ticket SHOP-142.")
    await page.get_by_role("button", name="Add note").click()
    await page.locator("ol.notes li").first.wait_for()
    assert "Ticket SHOP-142" in await page.locator("ol.notes").inner_text()
    assert "Eda Editor" in await page.locator("ol.notes").inner_text()

    await page.get_by_role("button", name="Assign to me").click()
    await page.wait_for_selector("text=Assigned to Eda Editor.", state="attached")
    await page.get_by_label("Move to").select_option("resolved")
    await page.get_by_role("button", name="Change status").click()
    await page.wait_for_selector(".triage .badge:text('Resolved')")
    options = await page.get_by_label("Move to").locator("option").all_inner_texts()
    assert options == ["Choose a status", "Pending", "Archived"]

    await page.get_by_role("button", name="Approve").click()
    await page.wait_for_selector(".reward .badge:text('Approved')")
    assert await page.get_by_role("button", name="Mark paid").count() == 0  # admins only
    audit = await page.locator("table.audit").inner_text()
    assert "status: new → resolved" in audit, audit

    entry = await api_entry(shop, good["id"])
    assert entry["status"] == "resolved" and entry["assigned_to"] == user_id
    assert [n["body"] for n in entry["notes"]] == ["Reproduziert auf iOS 18, Ticket SHOP-142."]
    await page.screenshot(path=str(SCREENSHOTS / "entry-detail.png"), full_page=True)

    page = await person.goto(stack, f"/app/entries/{other['id']}")
    await page.get_by_role("button", name="Reject").click()
    assert "Give a reason" in await page.locator(".reward [role=alert]").inner_text()
    await page.get_by_label("Reason (needed to reject)").fill("Zu kurz, kein Inhalt.")
    await page.get_by_role("button", name="Reject").click()
    await page.wait_for_selector(".reward .badge:text('Rejected')")
    assert "Zu kurz, kein Inhalt." in await page.locator(".reward").inner_text()
    reviewed = await shop.ok("GET", f"/api/v1/responses/{other['id']}")
    assert reviewed["status"] == "REJECTED" and reviewed["review_reason"] == "Zu kurz, kein Inhalt."
    assert (await shop.ok("GET", f"/api/v1/responses/{good['id']}"))["status"] == "APPROVED"
    assert person.errors == []


async def test_an_admin_marks_a_cash_payout_paid_on_the_entry_page(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Payout")
    _, address = await shop.member("admin", name="Ada Admin")
    widget = await shop.ok("POST", "/v1/widgets", {
        "name": "Checkout", "is_active": True, "reward": {"amount": "5.00", "currency": "EUR"}})
    await eventually(lambda: known_campaign(stack, widget["id"]), lambda known: known,
                     what="the feedback service learning the widget's reward")
    entry = await shop.entry(body="Die Größentabelle stimmt nicht: M fällt wie S aus,"
                                  " Brustumfang 98 statt 102 cm.", rating=3,
                             widget_id=widget["id"])
    await shop.ok("POST", f"/api/v1/responses/{entry['id']}/approve")
    person = await people()
    await sign_in(person, stack, address)
    page = await person.goto(stack, f"/app/entries/{entry['id']}")
    assert "Waiting to be paid" in await page.locator(".reward").inner_text()
    await page.get_by_role("button", name="Cancel payout").click()
    assert "Give a reason" in await page.locator(".payout-actions [role=alert]").inner_text()
    await page.get_by_label("Payment reference, or the reason").fill("Überweisung 2026-12-02")
    await page.get_by_role("button", name="Mark paid").click()
    await page.wait_for_selector(".reward :text('Paid out')")
    assert await page.get_by_role("button", name="Mark paid").count() == 0
    payout = (await shop.ok("GET", f"/api/v1/responses/{entry['id']}"))["payout"]
    paid = await shop.ok("GET", f"/api/v1/payouts/{payout['id']}")
    assert paid["status"] == "paid" and paid["reference"] == "Überweisung 2026-12-02"
    assert person.errors == []


async def test_the_rewards_queue_is_by_score_and_reviews_in_a_keystroke(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Rewards")
    _, address = await shop.member("editor")
    texts = ["ok",
             "Die Jacke ist warm, aber die Ärmel sind 3 cm zu kurz; Größe M statt L wäre gut.",
             "Schnelle Lieferung."]
    made = [await shop.entry(body=text, rating=4) for text in texts]
    scores = {e["id"]: e["quality_score"] for e in made}
    person = await people()
    await sign_in(person, stack, address)
    page = await person.goto(stack, "/app/rewards")
    order = await page.eval_on_selector_all("table.queue tbody tr",
                                            "(rows) => rows.map((r) => r.dataset.id)")
    # Best score first; among equal scores the newer first.
    assert order == [e["id"] for e in sorted(reversed(made), key=lambda e: -scores[e["id"]])]
    totals = page.locator(".totals")
    assert "3 rewards" in await totals.inner_text()
    assert "Paid out" in await totals.inner_text()  # GET /api/v1/rewards/totals

    await page.locator("table.queue tbody tr").first.focus()
    await page.keyboard.press("a")
    await expect(page.locator("table.queue tbody tr")).to_have_count(2)
    assert "1 reward" in await totals.locator("div").nth(1).inner_text()
    assert (await shop.ok("GET", f"/api/v1/responses/{order[0]}"))["status"] == "APPROVED"

    await page.get_by_label("Reason for rejecting").fill("Kein verwertbarer Inhalt")
    await page.locator(f"tr[data-id='{order[1]}']").focus()
    await page.keyboard.press("r")
    await expect(page.locator("table.queue tbody tr")).to_have_count(1)
    rejected = await shop.ok("GET", f"/api/v1/responses/{order[1]}")
    assert rejected["status"] == "REJECTED"
    assert rejected["review_reason"] == "Kein verwertbarer Inhalt"
    assert person.errors == []


async def test_bulk_triage_resolves_fifty_and_reports_the_one_that_cannot_move(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Bulk")
    _, address = await shop.member("editor")
    stuck = await shop.entry(body="archiviert", rating=3)
    await shop.ok("PATCH", f"/v1/feedback/{stuck['id']}", {"status": "archived"})
    made = [await shop.entry(body=f"Sammel {n}", rating=3) for n in range(50)]

    person = await people()
    page = await sign_in(person, stack, address)
    await page.get_by_role("button", name="Select every entry matching the filters").click()
    await page.wait_for_selector("text=51 entries selected.")
    await page.get_by_label("New status").select_option("resolved")
    await page.get_by_role("button", name="Set status").click()
    result = page.locator(".bulk-results")
    await result.locator(".message").wait_for(timeout=120_000)
    assert "Set status: 50 of 51 entries done." in await result.inner_text()
    failures = await result.locator(".failures li").all_inner_texts()
    assert len(failures) == 1 and "archived" in failures[0]
    assert await result.locator(".failures a").get_attribute("href") == \
        f"/app/entries/{stuck['id']}"
    for entry in made:
        assert (await api_entry(shop, entry["id"]))["status"] == "resolved"
    assert "51" not in await page.locator(".selection-count").inner_text()
    assert person.errors == []


async def test_a_viewer_sees_no_write_controls_and_a_forged_write_is_refused(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Viewer")
    entry = await shop.entry(body="Nur lesen bitte.", rating=4)
    _, address = await shop.member("viewer")
    person = await people()
    page = await sign_in(person, stack, address)
    assert await page.locator("section.bulk, table.entries input[type=checkbox]").count() == 0
    assert len(await rows(page)) == 1
    page = await person.goto(stack, f"/app/entries/{entry['id']}")
    assert "Nur lesen bitte." in await page.locator("main").inner_text()
    assert await page.locator("main form, main textarea, main select").count() == 0
    assert await page.locator("main button").count() == 0
    page = await person.goto(stack, "/app/rewards")
    assert await page.locator("main button, main input").count() == 0
    for missing in (str(uuid.uuid4()), "%E0%A4%A"):
        page = await person.goto(stack, f"/app/entries/{missing}")
        assert "This entry does not exist" in await page.locator("main").inner_text(), missing
    # A dot segment in any spelling never reaches the app: the gateway answers 404 itself.
    answer = await page.goto(gw(stack) + "/app/entries/..%2F..%2Fv1%2Fusers")
    assert answer is not None and answer.status == 404
    page = await person.goto(stack, f"/app/entries/{entry['id']}")

    forged = await page.evaluate("""async (id) => {
      const session = await (await fetch('/v1/session')).json();
      const answer = await fetch(`/v1/feedback/${id}`, {method: 'PATCH',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.data.csrf_token},
        body: JSON.stringify({status: 'resolved'})});
      return answer.status;
    }""", entry["id"])
    assert forged == 403
    assert (await api_entry(shop, entry["id"]))["status"] == "new"
    assert person.errors == []


async def test_a_removed_member_is_signed_out_on_the_next_click(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Removed")
    user_id, address = await shop.member("editor")
    person = await people()
    page = await sign_in(person, stack, address)
    await shop.ok("DELETE", f"/v1/users/{user_id}", headers={"X-Confirm": "true"})
    await page.get_by_role("link", name="Rewards").click()
    await page.wait_for_selector("h1:text('Sign in')")
    assert "/app/sign-in?next=%2Fapp%2Frewards" in page.url
    assert "Your session has ended" in await page.locator("main").inner_text()


async def test_sessions_are_listed_and_one_is_revoked(stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Sessions")
    _, address = await shop.member("editor")
    laptop, phone = await people(), await people(user_agent="Phone Browser 1.0")
    await sign_in(laptop, stack, address)
    phone_page = await sign_in(phone, stack, address)
    page = await laptop.goto(stack, "/app/sessions")
    table = page.locator("table.sessions tbody")
    # Accepting the invitation (through the API, in Shop.member) signed in too: three.
    await expect(table.locator("tr")).to_have_count(3)
    assert await table.locator(".badge.current").count() == 1
    assert await table.get_by_role("button", name="Sign out").count() == 1
    await page.get_by_role("button", name="Revoke the session on Phone Browser 1.0").click()
    await expect(table.locator("tr")).to_have_count(2)
    assert "Phone Browser" not in await table.inner_text()
    await phone_page.get_by_role("link", name="Sessions").click()
    await phone_page.wait_for_selector("h1:text('Sign in')")


# --- untrusted text ----------------------------------------------------------------------------

SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
SVG = "<svg onload=\"window.__pwned = 'svg'\"><script>window.__pwned = 'svg-script'</script></svg>"
JS_LINK = "javascript:window.__pwned='link'"
PAYLOAD = f"{SCRIPT} {IMG} {SVG} <a href=\"{JS_LINK}\">klick</a>"

# Anything a page might have made of the payloads: an element, a handler, a script link
# (links stay in the app, go out over http(s), or download the inbox's export).
DOM_CHECK = """() => {
  const made = document.querySelectorAll(
    'main script, main img, main svg, main iframe, main object, main embed, header img');
  const handlers = [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes]
    .filter((a) => a.name.startsWith('on')).map((a) => `${el.tagName}[${a.name}]`));
  const links = [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'))
    .filter((href) => !/^(https?:\\/\\/|\\/app|\\/v1\\/feedback\\/export\\?|#main$)/.test(href));
  return {pwned: window.__pwned ?? null, made: made.length, handlers, links};
}"""


async def test_stored_xss_from_the_widget_and_the_api_executes_on_no_page(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "XSS")
    widget = await shop.ok("POST", "/v1/widgets", {
        "name": f"Widget {IMG}", "is_active": True, "allowed_origins": ["https://shop.example"],
        "reward": {"amount": "1.00", "currency": "EUR"},
        "questions": [{"id": "comment", "type": "text", "label": "Comment"},
                      {"id": "stars", "type": "rating", "label": "Stars"}]})
    async with aiohttp.ClientSession() as http, http.post(
            f"{gw(stack)}/public/widgets/{widget['public_id']}/submissions",
            json={"answers": {"comment": PAYLOAD, "stars": 1}, "language": "de",
                  "metadata": {"page": JS_LINK, "svg": SVG}},
            headers={"Origin": "https://shop.example"}) as response:
        assert response.status in (200, 201, 202), await response.text()
    by_api = await shop.entry(
        body=PAYLOAD, rating=1, category="<img src=x onerror=alert(1)>", widget_id=widget["id"],
        metadata={"url": JS_LINK, "html": IMG, "nested": {"x": SCRIPT},
                  "ok": "https://shop.example/p?<b>"},
        answers={JS_LINK: SVG, "list": [SCRIPT, IMG]})
    evil_id, evil_email = await shop.member("editor", name=IMG)
    await shop.ok("PATCH", f"/v1/feedback/{by_api['id']}",
                  {"assignee": evil_id, "note": PAYLOAD})

    async def from_widget() -> list[Any]:
        found: list[Any] = await shop.ok("GET", "/v1/feedback")
        return found

    listed = await eventually(from_widget, lambda e: len(e) == 2, what="the widget's entry")
    ids = [e["id"] for e in listed]

    person = await people(user_agent=f"Mozilla/5.0 {SCRIPT}")
    _, reader = await shop.member("admin", name=SVG)
    page = await sign_in(person, stack, reader)
    await sign_in(await people(user_agent=IMG), stack, evil_email)  # a session to list
    pages = ["/app/", "/app/?status=new", *(f"/app/entries/{i}" for i in ids),
             "/app/rewards", "/app/sessions"]
    for path in pages:
        page = await person.goto(stack, path)
        await page.wait_for_timeout(300)  # an onerror would fire on the failed image load
        found = await page.evaluate(DOM_CHECK)
        assert found == {"pwned": None, "made": 0, "handlers": [], "links": []}, (path, found)
        text = await page.locator("body").inner_text()
        if "/entries/" in path or path.startswith("/app/?") or path == "/app/":
            assert "<script>" in text or "<img" in text, (path, "payloads shown as text")
    text = await (await person.goto(stack, f"/app/entries/{by_api['id']}")).locator(
        "main").inner_text()
    assert SCRIPT in text and IMG in text and JS_LINK in text
    link = page.get_by_role("link", name="https://shop.example/p?<b>")
    assert await link.get_attribute("href") == "https://shop.example/p?%3Cb%3E"
    assert person.dialogs == [] and person.errors == []


# --- accessibility, language, screenshots --------------------------------------------------------

async def test_axe_finds_no_serious_or_critical_violation_on_any_page(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Axe")
    widget = await shop.ok("POST", "/v1/widgets", {
        "name": "Checkout", "is_active": True, "reward": {"amount": "5.00", "currency": "EUR"}})
    entry = await shop.entry(body="Die Größentabelle stimmt nicht: M fällt wie S aus.",
                             rating=2, category="sizes", widget_id=widget["id"],
                             metadata={"page": "https://shop.example/jacke"})
    await shop.ok("PATCH", f"/v1/feedback/{entry['id']}", {"note": "An den Einkauf gegeben."})
    await shop.entry(body="Alles bestens, danke!", rating=5)
    _, address = await shop.member("admin")
    _, viewer = await shop.member("viewer")
    problems: list[str] = []
    for language in ("en-US", "de-DE"):
        outsider = await people(locale=language)
        for path in ("/app/sign-in", "/app/forgot-password", "/app/reset-password#token=x",
                     "/app/invitation#token=x", "/app/reset-password"):
            problems += await audit(await outsider.goto(stack, path), f"{language} {path}")
        person = await people(locale=language)
        await sign_in(person, stack, address)
        for path in ("/app/", "/app/?status=new&rating=2", f"/app/entries/{entry['id']}",
                     "/app/rewards", "/app/sessions", "/app/no-such-page"):
            page = await person.goto(stack, path)
            if path == "/app/":
                await page.locator("details.filter-panel summary").click()
                await page.locator("table.entries tbody input[type=checkbox]").first.check()
            problems += await audit(page, f"{language} {path}")
    reader = await people()
    await sign_in(reader, stack, viewer)
    for path in ("/app/", f"/app/entries/{entry['id']}", "/app/rewards"):
        problems += await audit(await reader.goto(stack, path), f"viewer {path}")
    assert problems == []


async def test_the_language_follows_the_browser_and_the_choice_is_remembered(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Sprache")
    _, address = await shop.member("editor")
    person = await people(locale="de-DE")
    page = await person.goto(stack, "/app/sign-in")
    assert await page.evaluate("document.documentElement.lang") == "de"
    assert await page.locator("h1").inner_text() == "Anmelden"
    await sign_in(person, stack, address)
    await page.get_by_label("Sprache").select_option("en")
    await page.wait_for_selector("h1:text('Inbox')")
    assert await page.evaluate("document.activeElement.id") == "language"
    await page.reload()
    await settled(page)
    assert await page.locator("h1").inner_text() == "Inbox"
    assert await page.evaluate("document.documentElement.lang") == "en"


async def test_screenshot_of_the_inbox(stack: Stack, people: Any) -> None:
    """docs/screenshots/inbox.png, as README shows it (entry detail: see the entry test)."""
    shop = await new_shop(stack, "Demo Shop")
    widget = await shop.ok("POST", "/v1/widgets", {
        "name": "Checkout", "is_active": True, "reward": {"amount": "5.00", "currency": "EUR"}})
    _, address = await shop.member("admin", name="Alex Admin")
    samples = [
        ("Der Checkout-Button reagiert auf dem iPhone in Safari nicht, ich musste dreimal"
         " tippen.", 2, "checkout"),
        ("Lieferung in zwei Tagen, sehr gut verpackt. Gerne wieder!", 5, "delivery"),
        ("The size chart is off: M fits like S, please add measurements in cm.", 3, "sizes"),
        ("Rückerstattung dauert schon drei Wochen, bitte melden Sie sich.", 1, "returns"),
        ("Great fabric, but the zipper broke after a week.", 3, "quality"),
    ]
    made = [await shop.entry(body=body, rating=rating, category=category,
                             widget_id=widget["id"]) for body, rating, category in samples]
    await shop.ok("PATCH", f"/v1/feedback/{made[0]['id']}", {"status": "in_progress"})
    await shop.ok("PATCH", f"/v1/feedback/{made[1]['id']}", {"status": "resolved"})
    person = await people()
    page = await sign_in(person, stack, address)
    await page.locator("table.entries tbody tr").nth(4).wait_for()
    shot = await page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)
    assert len(shot) > 10_000  # Playwright creates the folder and writes the file
