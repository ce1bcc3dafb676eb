"""The dashboard's analytics page in a real browser against the whole stack: a shop's
entries (ratings, categories, a response, a resolution, two widgets) made through the API,
and every chart's table, the overview and each CSV file equal to GET
/v1/analytics/summary for the same period, grouping and widget; switching them; German and
English; axe; no Content-Security-Policy violation while uPlot draws."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from resonanz.devstack.supervisor import Stack

from .browser import SCREENSHOTS, Person, Shop, audit, new_shop, settled, sign_in
from .support import eventually

STATUSES = ["new", "pending", "in_progress", "resolved", "archived"]

# Installed before the app's scripts: every violation the policy reports, kept on window.
WATCH_POLICY = """window.policyViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.policyViolations.push(
  `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""

SHOWN = """() => {
  const tables = {};
  for (const panel of document.querySelectorAll('section.chart-panel')) {
    tables[panel.id.replace(/^chart-/, '')] = [...panel.querySelectorAll('table tbody tr')]
      .map((tr) => [...tr.children].map((cell) => cell.dataset.value));
  }
  const totals = Object.fromEntries([...document.querySelectorAll('.analytics-totals > div')]
    .map((d) => [d.dataset.key, d.dataset.value]));
  const scope = document.getElementById('analytics-scope');
  return {tables, totals, scope: scope ? {...scope.dataset} : null,
          busy: document.getElementById('analytics-results').getAttribute('aria-busy')};
}"""


def number(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def row(first: Any, *numbers: Any) -> list[Any]:
    return [str(first), *(number(n) for n in numbers)]


def expected(summary: dict[str, Any]) -> dict[str, Any]:
    """What the page must show for this summary: each chart's rows, the overview."""
    buckets = summary["buckets"]
    first, resolve = "time_to_first_response", "time_to_resolve"
    categories = sorted(summary["categories"].items(), key=lambda kv: (-kv[1], kv[0]))
    extra = [s for s in summary["statuses"] if s not in STATUSES]
    return {
        "tables": {
            "submissions": [row(b["start"], b["total_submissions"]) for b in buckets],
            "average-rating": [row(b["start"], b["average_rating"]) for b in buckets],
            "response-rate": [row(b["start"], b["response_rate"], b[first]["responded"])
                              for b in buckets],
            "first-response": [row(b["start"], b[first]["responded"],
                                   b[first]["average_seconds"], b[first]["median_seconds"])
                               for b in buckets],
            "resolve": [row(b["start"], b[resolve]["resolved"], b[resolve]["average_seconds"],
                            b[resolve]["median_seconds"]) for b in buckets],
            "rating": [row(r, summary["rating_distribution"].get(str(r), 0))
                       for r in range(1, 6)],
            "category": [row(name, n) for name, n in categories],
            "status": [row(s, summary["statuses"].get(s, 0)) for s in [*STATUSES, *extra]],
        },
        "totals": {
            "total_submissions": number(summary["total_submissions"]),
            "average_rating": number(summary["average_rating"]),
            "response_rate": number(summary["response_rate"]),
            **{f"{m}.{s}_seconds": number(summary[m][f"{s}_seconds"])
               for m in (first, resolve) for s in ("average", "median")},
        },
        "scope": {"from": summary["from"], "to": summary["to"],
                  "timezone": summary["timezone"]},
    }


async def shown(page: Page) -> dict[str, Any]:
    """The page's numbers as the data-value of every cell, parsed like `expected`."""
    raw = await page.evaluate(SHOWN)
    tables = {name: [row(*cells) for cells in rows] for name, rows in raw["tables"].items()}
    return {"tables": tables, "busy": raw["busy"], "scope": raw["scope"],
            "totals": {k: number(v) for k, v in raw["totals"].items()}}


def agrees(page_view: dict[str, Any], summary: dict[str, Any]) -> bool:
    want = expected(summary)
    return (page_view["busy"] == "false" and page_view["scope"] == want["scope"]
            and page_view["totals"] == want["totals"]
            and page_view["tables"] == want["tables"])


async def text_of(locator: Any) -> str:
    """The text as read, with Intl's no-break spaces as plain ones."""
    text: str = await locator.inner_text()
    return text.replace("\u00a0", " ").replace("\u202f", " ").strip()


async def api_summary(shop: Shop, query: str) -> dict[str, Any]:
    summary: dict[str, Any] = await shop.ok("GET", f"/v1/analytics/summary?{query}")
    return summary


async def page_agrees_with_api(page: Page, shop: Shop, query: str) -> dict[str, Any]:
    """Poll until the page shows what the API answers for `query` (both read the same
    aggregates; the page may still be loading after a switch)."""
    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        return await shown(page), await api_summary(shop, query)

    _, summary = await eventually(both, lambda pair: agrees(*pair), within=15,
                                  what=f"the page showing the summary for {query}")
    return summary


async def downloaded_csv(page: Page, chart: str) -> list[dict[str, str]]:
    async with page.expect_download() as info:
        await page.locator(f"#chart-{chart} a.csv").click()
    download = await info.value
    assert download.suggested_filename.startswith(f"resonanz-{chart}-")
    path = await download.path()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


async def scene(shop: Shop) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two widgets; entries with and without ratings and categories, one noted (a
    response), one resolved, one without a widget."""
    checkout = await shop.ok("POST", "/v1/widgets", {"name": "Checkout", "is_active": True})
    shipping = await shop.ok("POST", "/v1/widgets", {"name": "Versand", "is_active": True})
    made = [
        await shop.entry(body="Schnell geliefert.", rating=5, category="delivery",
                         widget_id=checkout["id"]),
        await shop.entry(body="M fällt wie S aus.", rating=2, category="sizes, fit",
                         widget_id=checkout["id"]),
        await shop.entry(body="Gut.", rating=4, widget_id=checkout["id"]),
        await shop.entry(body="Paket beschädigt.", rating=1, category="delivery",
                         widget_id=shipping["id"]),
        await shop.entry(body="Ohne Widget, ohne Bewertung.", category="=1+1"),
    ]
    await shop.ok("PATCH", f"/v1/feedback/{made[0]['id']}", {"status": "resolved"})
    await shop.ok("PATCH", f"/v1/feedback/{made[3]['id']}", {"note": "Ersatz verschickt."})
    return checkout, shipping


async def test_the_analytics_page_shows_the_summary_as_charts_tables_and_csv(
        team_stack: Stack, people: Any) -> None:
    stack = team_stack
    shop = await new_shop(stack, "Analytics")
    checkout, _ = await scene(shop)
    # The aggregator consumes the events asynchronously: wait until it has every change.
    await eventually(lambda: api_summary(shop, "period=30d&group_by=week"),
                     lambda s: s["total_submissions"] == 5
                     and s["time_to_resolve"]["resolved"] == 1
                     and s["time_to_first_response"]["responded"] == 2
                     and s["statuses"].get("resolved") == 1,
                     what="analytics counting every entry and change")
    _, viewer = await shop.member("viewer")  # every signed-in role sees analytics

    person: Person = await people()
    await person.page.add_init_script(WATCH_POLICY)
    await sign_in(person, stack, viewer)
    page = person.page
    await page.get_by_role("link", name="Analytics").click()
    await page.wait_for_selector("h1:text('Analytics')")
    await settled(page)
    assert page.url.endswith("/app/analytics")
    assert await page.locator("#chart-submissions canvas").count() == 1, "uPlot drew"

    summary = await page_agrees_with_api(page, shop, "period=30d&group_by=week")
    assert summary["total_submissions"] == 5 and summary["categories"] == {
        "delivery": 2, "sizes, fit": 1, "=1+1": 1}
    overview = page.locator(".analytics-totals")
    assert "3.0" in await overview.locator("[data-key=average_rating] dd").inner_text()
    assert await text_of(overview.locator("[data-key=response_rate] dd")) == "40%"
    assert "Europe/Berlin" in await page.locator("#analytics-scope").inner_text()

    # The CSV files hold the same numbers as the API, quoting and defusing text cells.
    submissions = await downloaded_csv(page, "submissions")
    assert [(r["start"], int(r["total_submissions"])) for r in submissions] == [
        (b["start"], b["total_submissions"]) for b in summary["buckets"]]
    durations = await downloaded_csv(page, "resolve")
    assert [number(r["median_seconds"]) for r in durations] == [
        number(b["time_to_resolve"]["median_seconds"]) for b in summary["buckets"]]
    categories = await downloaded_csv(page, "category")
    assert {r["category"]: int(r["count"]) for r in categories} == {
        "delivery": 2, "sizes, fit": 1, "'=1+1": 1}

    # Switching period, grouping and widget: the address follows, focus stays put.
    await page.select_option("#analytics-period", "7d")
    await page.select_option("#analytics-group_by", "day")
    await page.locator("#analytics-widget").focus()
    await page.select_option("#analytics-widget", checkout["id"])
    one_widget = await page_agrees_with_api(
        page, shop, f"period=7d&group_by=day&widget_id={checkout['id']}")
    assert one_widget["total_submissions"] == 3 and len(one_widget["buckets"]) == 7
    assert "period=7d" in page.url and f"widget={checkout['id']}" in page.url
    assert await page.evaluate("document.activeElement.id") == "analytics-widget"
    ratings = await downloaded_csv(page, "rating")
    assert [(r["rating"], int(r["count"])) for r in ratings] == [
        ("1", 0), ("2", 1), ("3", 0), ("4", 1), ("5", 1)]
    await page.select_option("#analytics-period", "90d")
    await page.select_option("#analytics-group_by", "month")
    await page.select_option("#analytics-widget", "")
    await page_agrees_with_api(page, shop, "period=90d&group_by=month")

    # A reload keeps the choices from the address.
    await page.goto(page.url.replace("period=90d", "period=30d"))
    await settled(page)
    assert await page.locator("#analytics-period").input_value() == "30d"
    await page_agrees_with_api(page, shop, "period=30d&group_by=month")

    problems = []
    for summary_toggle in await page.locator("details.numbers summary").all():
        await summary_toggle.click()
    problems += await audit(page, "en analytics")
    await page.screenshot(path=str(SCREENSHOTS / "analytics.png"), full_page=True)

    await page.get_by_label("Language").select_option("de")
    await page.wait_for_selector("h1:text('Auswertung')")
    await settled(page)
    await page_agrees_with_api(page, shop, "period=30d&group_by=month")
    assert "3,0" in await overview.locator("[data-key=average_rating] dd").inner_text()
    assert await text_of(overview.locator("[data-key=response_rate] dd")) == "40 %"
    for summary_toggle in await page.locator("details.numbers summary").all():
        await summary_toggle.click()
    problems += await audit(page, "de analytics")
    assert problems == []
    assert await page.evaluate("window.policyViolations") == []
    assert person.errors == [] and person.dialogs == []
