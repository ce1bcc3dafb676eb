"""The widget in a real browser: headless Chromium (Debian's `chromium`), driven over the
Chrome DevTools Protocol with aiohttp's websocket client. A shopper opens the demo shop,
uses the widget with the keyboard, submits; theme changes, pauses and resumes reach
newly loaded pages within the config's max-age."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from resonanz.shared.devstack import Stack, free_port
from resonanz.shared.stack import DEMO_WIDGET

from .helpers import new_tenant
from .support import eventually
from .test_widgets_support import entries_of, gateway, send, session

__all__ = ["session"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A PATCH is live on a newly loaded page within the config's max-age (<= 15 s).
LIVE_WITHIN = 16.0

PROBE = """(() => {
  const script = document.querySelector('script[data-widget]');
  const host = document.querySelector('[data-resonanz-widget]');
  const root = host && host.shadowRoot;
  const launcher = root && root.querySelector('.launcher');
  const dialog = root && root.querySelector('[role=dialog]');
  const active = root && root.activeElement;
  return {
    state: script && script.getAttribute('data-resonanz-state'),
    rendered: !!host,
    colour: launcher ? getComputedStyle(launcher).backgroundColor : null,
    title: root && (root.querySelector('h2') || {}).textContent,
    open: !!dialog && !dialog.hidden,
    expanded: launcher && launcher.getAttribute('aria-expanded'),
    focus: !active ? (document.activeElement === host ? 'host' : 'page')
      : active === launcher ? 'launcher'
      : active.closest('[role=dialog],[role=region]') ? 'form' : 'other',
    thanks: root && root.querySelector('.thanks') && root.querySelector('.thanks').textContent,
  };
})()"""


class Tab:
    """One browser tab over CDP: commands by id, events ignored."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            future = self.pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self.ids)
        self.pending[command_id] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": command_id, "method": method, "params": params})
        reply = await asyncio.wait_for(self.pending[command_id], 15)
        assert "error" not in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                                 returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def probe(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.js(PROBE)
        return state

    async def load(self, url: str) -> dict[str, Any]:
        """A fresh navigation (the HTTP cache applies); returns once the widget decided."""
        await self.call("Page.navigate", url=url)
        return await eventually(self.probe, lambda s: s["state"] is not None, within=10,
                                what=f"the widget deciding on {url}")

    async def press(self, key: str, code: int, text: str | None = None) -> None:
        event = {"key": key, "code": key, "windowsVirtualKeyCode": code}
        await self.call("Input.dispatchKeyEvent", type="keyDown", **event,
                        **({"text": text} if text else {}))
        await self.call("Input.dispatchKeyEvent", type="keyUp", **event)

    async def shadow(self, action: str) -> Any:
        """Run `action` with `root` bound to the widget's shadow root."""
        return await self.js("(() => { const root = document.querySelector("
                             f"'[data-resonanz-widget]').shadowRoot; {action} }})()")


@pytest.fixture
async def tab() -> AsyncIterator[Tab]:
    assert shutil.which("chromium"), "needs Debian's chromium (.ci/run installs it)"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="resonanz-chromium-")
    browser = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1100,800", f"--remote-debugging-port={port}",
        f"--user-data-dir={profile}", "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            targets = await eventually(lambda: _targets(http, port), lambda t: bool(t),
                                       within=20, interval=0.2, what="chromium's debugger")
            async with http.ws_connect(targets[0]["webSocketDebuggerUrl"],
                                       max_msg_size=0) as ws:
                page = Tab(ws)
                await page.call("Page.enable")
                yield page
                page.reader.cancel()
    finally:
        browser.terminate()
        try:
            await asyncio.wait_for(browser.wait(), 10)
        except TimeoutError:
            browser.kill()
            await browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _targets(http: aiohttp.ClientSession, port: int) -> list[dict[str, Any]]:
    try:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
            found: list[dict[str, Any]] = await response.json()
    except aiohttp.ClientError:
        return []
    return [t for t in found if t.get("type") == "page"]


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def keyboard_opens_and_escape_closes(tab: Tab) -> None:
    await tab.shadow("root.querySelector('.launcher').focus();")
    await tab.press("Enter", 13, "\r")
    opened = await eventually(tab.probe, lambda s: s["open"], what="the dialog opening")
    assert (opened["expanded"], opened["focus"]) == ("true", "form")
    await tab.press("Escape", 27)
    closed = await eventually(tab.probe, lambda s: not s["open"], what="Escape closing")
    assert (closed["expanded"], closed["focus"]) == ("false", "launcher")


async def dialog_in_accessibility_tree(tab: Tab) -> list[str]:
    tree = await tab.call("Accessibility.getFullAXTree")
    return [n.get("name", {}).get("value") for n in tree["nodes"]
            if n.get("role", {}).get("value") == "dialog"]


async def fill_and_submit(tab: Tab, comment: str) -> None:
    await tab.shadow("root.querySelector('label[for=\"q-rating-4\"]').click();"
                     "root.querySelector('input[name=\"q-found\"][value=\"yes\"]').click();"
                     "root.querySelector('textarea').focus();")
    await tab.call("Input.insertText", text=comment)
    await tab.shadow("root.querySelector('.send').focus();")
    await tab.press("Enter", 13, "\r")


async def test_a_shopper_gives_feedback_on_the_demo_shop_and_changes_go_live(
    stack: Stack, session: aiohttp.ClientSession, tab: Tab,
) -> None:
    _, key = await new_tenant(stack)
    status, created, _ = await send(session, stack, "POST", "/v1/widgets", key, json=DEMO_WIDGET)
    assert status == 201, created
    widget = created["data"]
    page = f"{gateway(stack)}/demo/{widget['public_id']}"

    shown = await tab.load(page)
    assert shown["state"] == "shown" and shown["title"] == "Ihre Meinung zählt"
    assert shown["colour"] == rgb(DEMO_WIDGET["theme"]["primary_color"])
    await keyboard_opens_and_escape_closes(tab)
    await tab.press("Enter", 13, "\r")  # focus is back on the launcher: open again
    assert await dialog_in_accessibility_tree(tab) == ["Ihre Meinung zählt"]
    await fill_and_submit(tab, "Schöner Shop, schnelle Lieferung.")
    thanked = await eventually(tab.probe, lambda s: s["thanks"], what="the thank-you state")
    assert "Vielen Dank" in thanked["thanks"]

    status, listed, _ = await send(session, stack, "GET",
                                   f"/v1/feedback?widget_id={widget['id']}", key)
    assert status == 200, listed
    [entry] = listed["data"]
    assert (entry["widget_id"], entry["rating"]) == (widget["id"], 4)
    assert entry["body"] == "Schöner Shop, schnelle Lieferung."

    await send(session, stack, "PATCH", f"/v1/widgets/{widget['id']}", key,
               json={"theme": {"primary_color": "#1d4ed8"}})
    await eventually(lambda: tab.load(page), lambda s: s["colour"] == rgb("#1d4ed8"),
                     within=LIVE_WITHIN, interval=1.0, what="the new theme on a new page")

    await send(session, stack, "POST", f"/v1/widgets/{widget['id']}/pause", key,
               json={"reason": "maintenance"})
    hidden = await eventually(lambda: tab.load(page), lambda s: s["state"] == "hidden",
                              within=LIVE_WITHIN, interval=1.0, what="the paused widget gone")
    assert hidden["rendered"] is False

    await send(session, stack, "POST", f"/v1/widgets/{widget['id']}/resume", key, json={})
    await eventually(lambda: tab.load(page), lambda s: s["state"] == "shown" and s["rendered"],
                     within=LIVE_WITHIN, interval=1.0, what="the resumed widget back")


@contextlib.asynccontextmanager
async def shop_site(gateway_url: str, public_id: str, port: int) -> AsyncIterator[str]:
    """A shop on its own origin (another port), in English, embedding the widget."""
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
            f'</head><body><h1>Another shop</h1><script src="{gateway_url}/widget.js"'
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
    stack: Stack, session: aiohttp.ClientSession, tab: Tab,
) -> None:
    tenant, key = await new_tenant(stack)
    port = free_port()
    status, created, _ = await send(session, stack, "POST", "/v1/widgets", key, json={
        **DEMO_WIDGET, "allowed_origins": [f"http://127.0.0.1:{port}"],
        "trigger": {"type": "time-on-page", "seconds": 1}})
    assert status == 201, created
    widget = created["data"]

    async with shop_site(gateway(stack), widget["public_id"], port) as shop:
        started = time.monotonic()
        shown = await tab.load(shop)
        assert shown["state"] == "shown" and shown["title"] == "We value your feedback"
        opened = await eventually(tab.probe, lambda s: s["open"], within=5,
                                  what="the time-on-page trigger opening the dialog")
        assert opened["focus"] == "form" and time.monotonic() - started >= 1
        await fill_and_submit(tab, "Great shop, fast delivery.")
        thanked = await eventually(tab.probe, lambda s: s["thanks"], what="the thank-you")
        assert "Thank you" in thanked["thanks"]
    [entry] = await entries_of(session, stack, tenant, widget["id"])
    assert entry["metadata"]["language"] == "en"

    async with shop_site(gateway(stack), widget["public_id"], free_port()) as foreign_shop:
        refused = await tab.load(foreign_shop)
        assert (refused["state"], refused["rendered"]) == ("hidden", False)
