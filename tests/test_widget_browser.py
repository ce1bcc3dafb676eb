"""The widget in a real browser (headless Chromium over CDP, see tests/cdp.py). A shopper
opens the demo shop, uses the widget with the keyboard, submits; theme changes, pauses
and resumes reach pages already open within 15 s, without a reload."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from resonanz.devstack.run import DEMO_WIDGET
from resonanz.devstack.supervisor import Stack, free_port
from resonanz.widgets.public import INLINE_MIN_HEIGHT

from .cdp import Tab, rgb, tab
from .helpers import metric_value, new_tenant
from .support import eventually
from .test_widgets_support import entries_of, gateway, send

__all__ = ["tab"]

# The config's max-age (≤ 15 s) on a newly loaded page; the widget's own revalidation
# (every 10 s) on a page already open.
LIVE_WITHIN = 16.0
FOLLOWS_WITHIN = 15.0
CONFIG_ROUTE = "/public/widgets/{public_id}"


async def create_widget(http: aiohttp.ClientSession, stack: Stack, key: str,
                        **fields: Any) -> dict[str, Any]:
    status, created, _ = await send(http, stack, "POST", "/v1/widgets", key,
                                    json={**DEMO_WIDGET, **fields})
    assert status == 201, created
    widget: dict[str, Any] = created["data"]
    return widget


async def demo_shop(http: aiohttp.ClientSession, stack: Stack, **fields: Any
                    ) -> tuple[str, dict[str, Any], str]:
    """A tenant's key, its widget and the demo shop page embedding it."""
    _, key = await new_tenant(stack)
    widget = await create_widget(http, stack, key, **fields)
    return key, widget, f"{gateway(stack)}/demo/{widget['public_id']}"


async def keyboard_opens_and_escape_closes(tab: Tab) -> None:
    await tab.shadow("root.querySelector('.launcher').focus();")
    await tab.press("Enter", 13, "\r")
    opened = await eventually(tab.probe, lambda s: s["open"], what="the dialog opening")
    assert (opened["expanded"], opened["focus"]) == ("true", "form")
    await tab.press("Escape", 27)
    closed = await eventually(tab.probe, lambda s: not s["open"], what="Escape closing")
    assert (closed["expanded"], closed["focus"]) == ("false", "launcher")


async def dialogs_in_accessibility_tree(tab: Tab) -> list[dict[str, Any]]:
    tree = await tab.call("Accessibility.getFullAXTree")
    return [n for n in tree["nodes"] if n.get("role", {}).get("value") == "dialog"]


def ax_property(node: dict[str, Any], name: str) -> Any:
    found = [p["value"].get("value") for p in node.get("properties", []) if p["name"] == name]
    return found[0] if found else None


async def fill_and_submit(tab: Tab, comment: str) -> None:
    await tab.shadow("root.querySelector('label[for=\"q-rating-4\"]').click();"
                     "root.querySelector('input[name=\"q-found\"][value=\"yes\"]').click();"
                     "root.querySelector('textarea').focus();")
    await tab.call("Input.insertText", text=comment)
    await tab.shadow("root.querySelector('.send').focus();")
    await tab.press("Enter", 13, "\r")


async def test_a_shopper_gives_feedback_on_the_demo_shop_and_changes_go_live(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    stack = shared_stack
    key, widget, page = await demo_shop(http, stack)

    shown = await tab.load(page)
    assert shown["state"] == "shown" and shown["title"] == "Ihre Meinung zählt"
    assert shown["colour"] == rgb(DEMO_WIDGET["theme"]["primary_color"])
    await keyboard_opens_and_escape_closes(tab)
    await tab.press("Enter", 13, "\r")  # focus is back on the launcher: open again
    [dialog] = await dialogs_in_accessibility_tree(tab)
    assert dialog["name"]["value"] == "Ihre Meinung zählt"
    assert not ax_property(dialog, "modal"), "a panel the page stays usable beside"
    await fill_and_submit(tab, "Schöner Shop, schnelle Lieferung.")
    thanked = await eventually(tab.probe, lambda s: s["thanks"], what="the thank-you state")
    assert "Vielen Dank" in thanked["thanks"]

    status, listed, _ = await send(http, stack, "GET",
                                   f"/v1/feedback?widget_id={widget['id']}", key)
    assert status == 200, listed
    [entry] = listed["data"]
    assert (entry["widget_id"], entry["rating"]) == (widget["id"], 4)
    assert entry["body"] == "Schöner Shop, schnelle Lieferung."

    await send(http, stack, "PATCH", f"/v1/widgets/{widget['id']}", key,
               json={"theme": {"primary_color": "#1d4ed8"}})
    await eventually(lambda: tab.load(page), lambda s: s["colour"] == rgb("#1d4ed8"),
                     within=LIVE_WITHIN, interval=1.0, what="the new theme on a new page")

    await send(http, stack, "POST", f"/v1/widgets/{widget['id']}/pause", key,
               json={"reason": "maintenance"})
    hidden = await eventually(lambda: tab.load(page), lambda s: s["state"] == "hidden",
                              within=LIVE_WITHIN, interval=1.0, what="the paused widget gone")
    assert hidden["rendered"] is False

    await send(http, stack, "POST", f"/v1/widgets/{widget['id']}/resume", key, json={})
    await eventually(lambda: tab.load(page), lambda s: s["state"] == "shown" and s["rendered"],
                     within=LIVE_WITHIN, interval=1.0, what="the resumed widget back")


async def config_answers(http: aiohttp.ClientSession, stack: Stack, status: int) -> float:
    return await metric_value(http, stack.services["gateway"].ops_url,
                              "resonanz_http_requests_total", route=CONFIG_ROUTE,
                              status=str(status))


async def test_an_open_page_follows_theme_changes_pauses_and_resumes_without_a_reload(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    stack = shared_stack
    key, widget, page = await demo_shop(http, stack)
    assert (await tab.load(page))["state"] == "shown"
    await tab.js("document.querySelector('[data-resonanz-widget]').dataset.first = 'yes'")

    # Nothing changed: the page asks again with the ETag and is told so (304).
    unchanged = await config_answers(http, stack, 304)
    await eventually(lambda: config_answers(http, stack, 304), lambda n: n > unchanged,
                     within=FOLLOWS_WITHIN, interval=0.5, what="a revalidation answered 304")

    await send(http, stack, "PATCH", f"/v1/widgets/{widget['id']}", key,
               json={"theme": {"primary_color": "#1d4ed8"}})
    restyled = await eventually(tab.probe, lambda s: s["colour"] == rgb("#1d4ed8"),
                                within=FOLLOWS_WITHIN, interval=0.5,
                                what="the new theme on the open page")
    assert restyled["state"] == "shown"
    # Only restyled: the very element the page got first, not a new widget.
    assert await tab.js("document.querySelector('[data-resonanz-widget]').dataset.first")

    await send(http, stack, "POST", f"/v1/widgets/{widget['id']}/pause", key,
               json={"reason": "maintenance"})
    hidden = await eventually(tab.probe, lambda s: not s["rendered"], within=FOLLOWS_WITHIN,
                              interval=0.5, what="the paused widget gone from the open page")
    assert hidden["state"] == "hidden"

    await send(http, stack, "POST", f"/v1/widgets/{widget['id']}/resume", key, json={})
    back = await eventually(tab.probe, lambda s: s["rendered"], within=FOLLOWS_WITHIN,
                            interval=0.5, what="the resumed widget back on the open page")
    assert (back["state"], back["colour"]) == ("shown", rgb("#1d4ed8"))


async def test_a_pause_while_a_shopper_is_typing_says_so_politely(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    stack = shared_stack
    key, widget, page = await demo_shop(http, stack)
    await tab.load(page)
    await tab.shadow("root.querySelector('.launcher').click();")
    await tab.shadow("root.querySelector('textarea').focus();")
    await tab.call("Input.insertText", text="Die Suche findet keine")

    await send(http, stack, "POST", f"/v1/widgets/{widget['id']}/pause", key,
               json={"reason": "maintenance"})
    told = await eventually(tab.probe, lambda s: s["note"], within=FOLLOWS_WITHIN,
                            interval=0.5, what="the paused note in the open form")
    assert "pausiert" in told["note"] and told["open"] and told["focus"] == "form"
    assert await tab.shadow("return !root.querySelector('form');")

    await tab.press("Escape", 27)
    gone = await eventually(tab.probe, lambda s: not s["rendered"], what="closing it removes it")
    assert gone["state"] == "hidden"


async def test_focus_returns_to_the_chosen_rating_and_escape_closes_from_the_page(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    _, _, page = await demo_shop(http, shared_stack)
    await tab.load(page)
    await tab.shadow("root.querySelector('.launcher').focus();")
    await tab.press("Enter", 13, "\r")
    await tab.shadow("root.querySelector('label[for=\"q-rating-4\"]').click();")
    await tab.press("Escape", 27)
    await eventually(tab.probe, lambda s: not s["open"], what="Escape closing")
    await tab.press("Enter", 13, "\r")
    reopened = await eventually(tab.probe, lambda s: s["open"], what="the dialog reopening")
    assert reopened["focused"] == "4 Sterne"

    # A click on the shop's page leaves the panel open (it is not modal) and takes focus
    # out of it; Escape still closes it, and leaves the page's focus where it was.
    await tab.click(40, 300)
    clicked = await tab.probe()
    assert clicked["open"] and clicked["focus"] == "page"
    await tab.press("Escape", 27)
    closed = await eventually(tab.probe, lambda s: not s["open"], what="Escape from the page")
    assert closed["focus"] == "page"


async def test_the_close_button_keeps_its_place_after_the_thank_you(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    _, _, page = await demo_shop(http, shared_stack)
    await tab.load(page)
    await tab.shadow("root.querySelector('.launcher').click();")
    # Where it sits in the panel's corner (the panel itself shrinks to the thank-you).
    where = ("const x = root.querySelector('.x').getBoundingClientRect();"
             "const panel = root.querySelector('.panel').getBoundingClientRect();"
             "return [panel.right - x.right, x.top - panel.top];")
    before = await tab.shadow(where)
    await fill_and_submit(tab, "Alles gut.")
    await eventually(tab.probe, lambda s: s["thanks"], what="the thank-you state")
    assert await tab.shadow(where) == before


async def test_an_inline_widget_does_not_shift_the_page(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    _, _, page = await demo_shop(http, shared_stack, placement="inline")
    # Tall enough that the place of the widget and all below it are in view from the start.
    await tab.call("Emulation.setDeviceMetricsOverride", width=1100, height=1600,
                   deviceScaleFactor=1, mobile=False)
    shown = await tab.load(page)
    assert shown["state"] == "shown"
    shift = await tab.js("""new Promise((done) => {
      let total = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
      }).observe({ type: 'layout-shift', buffered: true });
      setTimeout(() => done(total), 500);
    })""")
    assert shift < 0.01, f"cumulative layout shift {shift}"
    # The widget fits the place kept for it from the first paint.
    slot, widget = await tab.js("""['[data-resonanz-inline]', '[data-resonanz-widget]'].map(
        (sel) => document.querySelector(sel).getBoundingClientRect().height)""")
    assert widget <= slot == INLINE_MIN_HEIGHT


@contextlib.asynccontextmanager
async def shop_site(gateway_url: str, public_id: str, port: int, *, lang: str = "en",
                    body: str = "<h1>Another shop</h1>") -> AsyncIterator[str]:
    """A shop on its own origin (another port) embedding the widget."""
    html = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Shop'
            f'</title></head><body><main>{body}</main><script src="{gateway_url}/widget.js"'
            f' data-widget="{public_id}" async></script></body></html>')

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_a_shop_on_another_origin_gets_the_widget_in_its_language_only_if_allowed(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    stack = shared_stack
    tenant, key = await new_tenant(stack)
    port = free_port()
    widget = await create_widget(http, stack, key,
                                 allowed_origins=[f"http://127.0.0.1:{port}"],
                                 trigger={"type": "time-on-page", "seconds": 1})

    async with shop_site(gateway(stack), widget["public_id"], port) as shop:
        started = time.monotonic()
        shown = await tab.load(shop)
        assert shown["state"] == "shown" and shown["title"] == "We value your feedback"
        opened = await eventually(tab.probe, lambda s: s["open"], within=5,
                                  what="the time-on-page trigger opening the dialog")
        # It appears; the keyboard stays where the shopper had it.
        assert opened["focus"] == "page" and time.monotonic() - started >= 1
        await fill_and_submit(tab, "Great shop, fast delivery.")
        thanked = await eventually(tab.probe, lambda s: s["thanks"], what="the thank-you")
        assert "Thank you" in thanked["thanks"]
    [entry] = await entries_of(http, stack, tenant, widget["id"])
    assert entry["metadata"]["language"] == "en"

    async with shop_site(gateway(stack), widget["public_id"], free_port()) as foreign_shop:
        refused = await tab.load(foreign_shop)
        assert (refused["state"], refused["rendered"]) == ("hidden", False)


async def test_a_page_in_another_language_follows_the_browsers_languages(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    _, key = await new_tenant(shared_stack)
    widget = await create_widget(http, shared_stack, key)
    agent = await tab.js("navigator.userAgent")
    await tab.call("Emulation.setUserAgentOverride", userAgent=agent,
                   acceptLanguage="fr-FR,de-DE;q=0.8,en;q=0.5")
    async with shop_site(gateway(shared_stack), widget["public_id"], free_port(),
                         lang="fr") as shop:
        shown = await tab.load(shop)
    assert shown["title"] == "Ihre Meinung zählt"


async def test_scroll_depth_fires_on_a_page_too_short_to_scroll_that_far(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    _, key = await new_tenant(shared_stack)
    widget = await create_widget(http, shared_stack, key,
                                 trigger={"type": "scroll-depth", "percentage": 80})
    async with shop_site(gateway(shared_stack), widget["public_id"], free_port()) as shop:
        await tab.load(shop)
        opened = await eventually(tab.probe, lambda s: s["open"], within=5,
                                  what="scroll-depth on a page that cannot scroll")
    assert opened["focus"] == "page"


LONG_FORM = [{"id": f"text{n}", "type": "text", "label": f"Question {n}"} for n in range(4)]


async def test_the_form_keeps_to_what_the_server_accepts(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    widget = await create_widget(http, shared_stack, key, questions=LONG_FORM)
    async with shop_site(gateway(shared_stack), widget["public_id"], free_port()) as shop:
        await tab.load(shop)
        await tab.shadow("root.querySelector('.launcher').click();")
        for n in range(4):
            await tab.shadow(f"root.querySelector('#q-text{n}').focus();")
            await tab.call("Input.insertText", text="x" * 5000)
        state = await tab.shadow("""return [...root.querySelectorAll('textarea')].map(
            (el) => [el.value.length, el.maxLength, el.nextElementSibling.textContent]);""")
        assert state[0][0] == 5000, state
        assert sum(length for length, _, _ in state) < 4 * 5000, "the cap bounded the typing"
        assert state[-1][2] == "0 characters left", state
        # Send what the widget let through: the server takes it.
        await tab.shadow("root.querySelector('.send').click();")
        await eventually(tab.probe, lambda s: s["thanks"], what="the long form accepted")
    [entry] = await entries_of(http, shared_stack, tenant, widget["id"])
    body = json.dumps({"answers": entry["answers"]}, ensure_ascii=False).encode()
    assert 16 * 1024 - 1000 < len(body) <= 16 * 1024


async def test_answers_pasted_beyond_the_cap_are_held_back_with_a_reason(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab,
) -> None:
    tenant, key = await new_tenant(shared_stack)
    widget = await create_widget(http, shared_stack, key, questions=LONG_FORM)
    async with shop_site(gateway(shared_stack), widget["public_id"], free_port()) as shop:
        await tab.load(shop)
        await tab.shadow("root.querySelector('.launcher').click();"
                         "root.querySelectorAll('textarea').forEach((el) => {"
                         " el.value = '€'.repeat(5000);"
                         " el.dispatchEvent(new Event('input', {bubbles: true})); });"
                         "root.querySelector('.send').click();")
        said = await tab.shadow("return [root.querySelector('[role=alert]').textContent,"
                                " root.querySelector('.hint').textContent];")
    assert said[0] == "Your answers are too long. Please shorten them."
    assert said[1] == "Too long, please shorten"
    assert await entries_of(http, shared_stack, tenant, widget["id"]) == []
