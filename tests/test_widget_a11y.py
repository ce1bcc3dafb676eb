"""WCAG 2.2 AA as axe-core checks it, in headless Chromium: the widget (in its open
shadow root) and the demo shop around it, for the default and demo widgets and every
question type, closed, open, refusing a required answer, and after the submission.
No violation of serious or critical impact is allowed. axe-core is vendored in
tests/assets (see its README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.run import DEMO_WIDGET
from resonanz.devstack.supervisor import Stack

from .cdp import Tab, tab
from .helpers import new_tenant
from .support import eventually
from .test_widgets_support import gateway, send

__all__ = ["tab"]

AXE = Path(__file__).parent / "assets" / "axe.min.js"
AXE_VERSION = "4.14.1"

EVERY_TYPE: list[dict[str, Any]] = [
    {"id": "stars", "type": "rating", "required": True, "label": {"de": "Wie war's?",
                                                                 "en": "How was it?"}},
    {"id": "nps", "type": "nps", "required": True, "label": "Would you recommend us?"},
    {"id": "channel", "type": "single_choice", "required": True,
     "label": "How did you find us?",
     "options": [{"id": "search", "label": "Search"}, {"id": "friend", "label": "A friend"}]},
    {"id": "liked", "type": "multiple_choice", "required": True, "label": "What did you like?",
     "options": [{"id": "price", "label": "Price"}, {"id": "speed", "label": "Speed"}]},
    {"id": "comment", "type": "text", "required": True, "label": "What is missing?"},
]

WIDGETS: dict[str, dict[str, Any]] = {
    "default": {"name": "Defaults only", "is_active": True},
    "demo": DEMO_WIDGET,
    "every-type": {"name": "Every type", "is_active": True, "questions": EVERY_TYPE,
                   "reward": {"amount": "5.00", "currency": "EUR"}},
    "every-type-inline": {"name": "Inline", "is_active": True, "questions": EVERY_TYPE,
                          "placement": "inline"},
}

# Serious and critical violations, one line each with where they are.
AUDIT = """axe.run(document, {resultTypes: ['violations']}).then((result) => result.violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => `${v.impact} ${v.id}: ${v.help} at `
    + v.nodes.map((n) => JSON.stringify(n.target)).join(', ')))"""

ANSWER_ALL = """
root.querySelectorAll('fieldset').forEach((group) => group.querySelector('input').click());
root.querySelectorAll('textarea').forEach((area) => {
  area.value = 'Alles gut.'; area.dispatchEvent(new Event('input', {bubbles: true})); });
root.querySelector('.send').click();"""


async def audit(tab: Tab, state: str) -> list[str]:
    if not await tab.js("typeof window.axe === 'object'"):
        await tab.js(AXE.read_text(encoding="utf-8") + "\n;true")
    found: list[str] = await tab.js(AUDIT)
    return [f"{state}: {line}" for line in found]


def test_the_vendored_axe_core_is_the_recorded_version() -> None:
    head = AXE.read_text(encoding="utf-8")[:400]
    assert head.startswith(f"/*! axe v{AXE_VERSION}") and "Mozilla Public" in head


@pytest.mark.parametrize("name", list(WIDGETS))
async def test_no_serious_or_critical_violation_in_any_state(
    shared_stack: Stack, http: aiohttp.ClientSession, tab: Tab, name: str,
) -> None:
    _, key = await new_tenant(shared_stack)
    status, created, _ = await send(http, shared_stack, "POST", "/v1/widgets", key,
                                    json=WIDGETS[name])
    assert status == 201, created
    page = f"{gateway(shared_stack)}/demo/{created['data']['public_id']}"
    inline = WIDGETS[name].get("placement") == "inline"

    assert (await tab.load(page))["state"] == "shown"
    problems = await audit(tab, "open" if inline else "closed")
    if not inline:
        await tab.shadow("root.querySelector('.launcher').click();")
        await eventually(tab.probe, lambda s: s["open"], what="the dialog opening")
        problems += await audit(tab, "open")

    await tab.shadow("root.querySelector('.send').click();")
    errors = await tab.shadow("return [...root.querySelectorAll('[aria-invalid=true]')].length;")
    assert errors > 0, "a required answer missing is reported"
    problems += await audit(tab, "refusing")

    await tab.shadow(ANSWER_ALL)
    await eventually(tab.probe, lambda s: s["thanks"], what="the thank-you")
    problems += await audit(tab, "submitted")
    assert problems == []
