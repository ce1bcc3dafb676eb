"""Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol with
aiohttp's websocket client, for the widget's browser tests (this module holds no tests)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.supervisor import free_port

from .support import eventually

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# What a test needs to know about the widget on the page, in one round trip.
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
    focused: active && (active.getAttribute('aria-label') || active.textContent || active.name),
    thanks: root && root.querySelector('.thanks') && root.querySelector('.thanks').textContent,
    note: root && root.querySelector('.note') && root.querySelector('.note').textContent,
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
        reply = await asyncio.wait_for(self.pending[command_id], 30)
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

    async def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                            clickCount=1)

    async def shadow(self, action: str) -> Any:
        """Run `action` with `root` bound to the widget's shadow root."""
        return await self.js("(() => { const root = document.querySelector("
                             f"'[data-resonanz-widget]').shadowRoot; {action} }})()")


@pytest.fixture
async def tab() -> AsyncIterator[Tab]:
    assert shutil.which("chromium"), "needs Debian's chromium (tools/system-deps.sh)"
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
