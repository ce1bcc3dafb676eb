"""The dashboard's widget pages in a real browser against the whole stack: a widget built
in the editor shows in the live preview (the real widget.js on the unsaved draft), is
saved and activated, and an open demo shop page follows each saved change and the pause
within 15 s; API validation errors appear next to their field; a viewer gets no editor
controls; axe-core finds nothing serious on the list and the editor in English and German.

The editor screenshot goes to SCREENSHOTS / "widget-editor.png" (see tests/browser.py).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from resonanz.devstack.supervisor import Stack

from .browser import (
    SCREENSHOTS,
    Person,
    Shop,
    audit,
    gw,
    new_shop,
    policy_of,
    settled,
    sign_in,
)
from .support import eventually

# The config is cached at most 15 s and open pages revalidate every 10 s: a change shows
# within 15 s; the test allows 20.
FOLLOWS_WITHIN = 20.0


@pytest.fixture
def stack(team_stack: Stack) -> Stack:
    return team_stack


async def test_only_the_preview_document_may_be_framed_and_only_by_the_app(
        dashboard: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(dashboard + "/app/preview") as response:
            assert response.status == 200 and response.content_type == "text/html"
            policy = policy_of(response.headers["Content-Security-Policy"])
            assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
            html = await response.text()
        assert policy["frame-ancestors"] == "'self'" and policy["connect-src"] == "'none'"
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert '<script src="/widget.js" data-preview async></script>' in html
        for path in ("/app/widgets", "/app/widgets/new", "/app/preview/x", "/app/nope"):
            async with http.get(dashboard + path) as response:
                assert response.headers["X-Frame-Options"] == "DENY", path
                frame = policy_of(response.headers["Content-Security-Policy"])
                assert frame["frame-ancestors"] == "'none'", path


async def widget_named(shop: Shop, name: str) -> dict[str, Any]:
    widgets = await shop.ok("GET", "/v1/widgets")
    found: list[dict[str, Any]] = [w for w in widgets if w["name"] == name]
    assert len(found) == 1, widgets
    return found[0]


async def shown_on(demo: Page) -> dict[str, Any]:
    """What the demo shop page shows of its widget right now."""
    found: dict[str, Any] = await demo.evaluate("""() => {
      const host = document.querySelector('[data-resonanz-widget]');
      const script = document.querySelector('script[data-widget]');
      return {state: script && script.getAttribute('data-resonanz-state'),
              text: host && host.shadowRoot ? host.shadowRoot.textContent : ''};
    }""")
    return found


async def preview_text(page: Page) -> str:
    frame = page.frame(name="widget-preview") or next(
        f for f in page.frames if f.url.endswith("/app/preview"))
    text: str = await frame.evaluate("""() => {
      const host = document.querySelector('[data-resonanz-widget]');
      return host && host.shadowRoot ? host.shadowRoot.textContent : '';
    }""")
    return text


async def saved(page: Page, message: str) -> None:
    await page.wait_for_selector(f"main .message.success:has-text('{message}')", timeout=15_000)
    await settled(page)


async def test_a_widget_is_built_previewed_saved_and_followed_by_an_open_shop_page(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Widgetbau")
    _, address = await shop.member("editor")
    person = await people()
    page = await sign_in(person, stack, address)
    await page.get_by_role("link", name="Widgets").click()
    await settled(page)
    await page.get_by_role("link", name="New widget").click()
    await settled(page)

    await page.get_by_label("Name", exact=True).fill("Sommeraktion")
    await page.get_by_role("button", name="Add question").click()
    # Focus moves to the new question's text in the app's language.
    focused = await page.evaluate("document.activeElement.id")
    assert focused == "q2-label-en", focused
    await page.keyboard.type("Which product brought you here?")
    await page.locator("#q2-label-de").fill("Welches Produkt hat Sie hergeführt?")
    await page.locator("#q2-type").select_option("single_choice")
    await page.locator("#q2-opt0").fill("Rucksack")
    await page.locator("#q2-opt1").fill("Jacke")
    await eventually(lambda: preview_text(page),
                     lambda text: "Which product brought you here?" in text and "Jacke" in text,
                     within=10, interval=0.3, what="the draft question in the live preview")

    # The API's refusal appears next to the field it names.
    threshold = page.get_by_label("Approve automatically above quality score")
    await threshold.fill("150")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(threshold).to_have_attribute("aria-invalid", "true")
    error_id = (await threshold.get_attribute("aria-describedby") or "").split()[-1]
    assert "100" in await page.locator(f"#{error_id}").inner_text()
    assert await page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    await threshold.fill("80")

    await page.get_by_role("button", name="Save", exact=True).click()
    await saved(page, "Saved as a draft")
    widget = await widget_named(shop, "Sommeraktion")
    assert widget["status"] == "draft"
    assert [q["label"]["en"] for q in widget["questions"]][-1] == "Which product brought you here?"
    assert page.url.endswith(f"/app/widgets/{widget['public_id']}")
    campaign = await shop.ok("GET", f"/api/v1/campaigns/{widget['id']}")
    assert campaign["auto_approve_above"] == 80
    assert widget["public_id"] in await page.locator("#embed-code").input_value()

    await page.get_by_role("button", name="Save and activate").click()
    await saved(page, "Live on shop pages by")
    assert (await widget_named(shop, "Sommeraktion"))["status"] == "active"

    demo = await page.context.new_page()
    await demo.goto(f"{gw(stack)}/demo/{widget['public_id']}?lang=en")
    first = await eventually(lambda: shown_on(demo), lambda s: s["state"] == "shown",
                             within=FOLLOWS_WITHIN, interval=0.5,
                             what="the widget on the demo page")
    assert "Which product brought you here?" in first["text"]

    await page.bring_to_front()
    await page.locator("#q1-label-en").fill("What should we stock next?")
    await eventually(lambda: preview_text(page), lambda text: "What should we stock next?" in text,
                     within=10, interval=0.3, what="the edit in the live preview")
    await page.get_by_role("button", name="Save", exact=True).click()
    await saved(page, "Live on shop pages by")
    await page.screenshot(path=str(SCREENSHOTS / "widget-editor.png"), full_page=True)
    await eventually(lambda: shown_on(demo), lambda s: "What should we stock next?" in s["text"],
                     within=FOLLOWS_WITHIN, interval=0.5, what="the saved change on the open page")

    await page.get_by_label("Reason for the pause").fill("Inventur")
    await page.get_by_role("button", name="Pause", exact=True).click()
    await saved(page, "Paused")
    gone = await eventually(lambda: shown_on(demo), lambda s: s["state"] == "hidden",
                            within=FOLLOWS_WITHIN, interval=0.5, what="the pause on the open page")
    assert gone["text"] == ""
    assert await page.get_by_role("button", name="Resume").count() == 1

    page = await person.goto(stack, "/app/widgets")
    row = page.locator("table.widgets tbody tr", has_text="Sommeraktion")
    assert "paused" in await row.inner_text() and "Inventur" in await row.inner_text()
    assert person.errors == []


async def editor_of(person: Person, stack: Stack, shop: Shop, name: str) -> Page:
    widget = await shop.ok("POST", "/v1/widgets", {"name": name})
    return await person.goto(stack, f"/app/widgets/{widget['public_id']}")


async def test_a_viewer_sees_the_widgets_but_no_editor_controls(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Widgetblick")
    await shop.ok("POST", "/v1/widgets", {"name": "Nur ansehen", "status": "active"})
    _, address = await shop.member("viewer")
    person = await people()
    await sign_in(person, stack, address)
    page = await person.goto(stack, "/app/widgets")
    assert "Nur ansehen" in await page.locator("table.widgets").inner_text()
    assert await page.get_by_role("link", name="New widget").count() == 0
    await page.get_by_role("link", name="Nur ansehen").click()
    await settled(page)
    assert await page.locator("main form button, #add-question, #pause-widget").count() == 0
    assert await page.locator("main form input:enabled, main form select:enabled").count() == 0
    assert person.errors == []


async def test_the_widget_pages_pass_axe_in_english_and_german(
        stack: Stack, people: Any) -> None:
    shop = await new_shop(stack, "Widgetprüfung")
    await shop.ok("POST", "/v1/widgets", {"name": "Pausiert", "status": "active"})
    paused = await widget_named(shop, "Pausiert")
    await shop.ok("POST", f"/v1/widgets/{paused['id']}/pause",
                  {"reason": "Umbau", "resume_at": "2099-01-01T08:00:00Z"})
    _, address = await shop.member("editor")
    person = await people()
    await sign_in(person, stack, address)
    problems = []
    for lang, new in (("en", "New widget"), ("de", "Neues Widget")):
        page = await person.goto(stack, "/app/widgets")
        if await page.evaluate("document.documentElement.lang") != lang:
            await page.select_option("#language", lang)
            await settled(page)
        problems += await audit(page, f"widgets list ({lang})")
        await page.get_by_role("link", name=new).click()
        await settled(page)
        await page.wait_for_function("""() => {
          const f = document.getElementById('widget-preview');
          const d = f && f.contentDocument;
          return d && d.querySelector('[data-resonanz-widget]');
        }""")
        problems += await audit(page, f"new widget ({lang})")
        page = await editor_of(person, stack, shop, f"Geprüft {lang}")
        problems += await audit(page, f"editor ({lang})")
    assert problems == []
    assert person.errors == []
