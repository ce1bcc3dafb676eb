"""Days, weeks and months in the organization's time zone, across both DST changes, from
the aggregates a real consumer loop writes to a real PostgreSQL. Entries are given the
creation times that matter (events as the feedback service publishes them)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from resonanz.analytics.api import summary_for
from resonanz.analytics.consumers import HANDLERS
from resonanz.analytics.domain import EVERY_WIDGET, NO_WIDGET
from resonanz.shared.consumer import ConsumerLoop
from resonanz.shared.db import create_pool, migrate
from resonanz.shared.events import (
    EntrySnapshot,
    FeedbackCreated,
    TenantUpdated,
    new_event,
)
from resonanz.shared.settings import Settings


@dataclass
class Analytics:
    pool: asyncpg.Pool
    loop: ConsumerLoop

    async def created(self, tenant: str, *moments: datetime, widget: str | None = None
                      ) -> None:
        for at in moments:
            snap = EntrySnapshot(id=str(uuid.uuid4()), version=1, widget_id=widget,
                                 status="new", rating=4, category=None, assignee=None,
                                 created_at=at, updated_at=at)
            event = new_event(source="test", tenant_id=tenant,
                              subject=snap.id, data=FeedbackCreated(entry=snap))
            await self.loop.apply_once(event, HANDLERS[event.type])

    async def zone(self, tenant: str, timezone: str, version: int) -> None:
        event = new_event(source="test", tenant_id=tenant, subject=tenant,
                          data=TenantUpdated(name="Shop", timezone=timezone, version=version))
        await self.loop.apply_once(event, HANDLERS[event.type])

    async def counts(self, tenant: str, now: datetime, period: str = "7d",
                     group_by: str = "day") -> dict[str, int]:
        summary = await summary_for(self.pool, tenant, period, group_by, None, now)
        return {b["start"]: b["total_submissions"] for b in summary["buckets"]}

    async def summary(self, tenant: str, now: datetime) -> dict[str, Any]:
        return await summary_for(self.pool, tenant, "7d", "day", None, now)


@pytest.fixture
async def analytics(database_url: str) -> AsyncIterator[Analytics]:
    await migrate(database_url, "analytics")
    pool = await create_pool(Settings(database_url=database_url).service_dsn("analytics"))
    yield Analytics(pool, ConsumerLoop(pool, Settings(), group="analytics", topics=[],
                                       handlers=HANDLERS))
    await pool.close()


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def test_an_entry_at_23_30_utc_is_on_the_next_berlin_day_across_both_dst_changes(
    analytics: Analytics,
) -> None:
    tenant = str(uuid.uuid4())
    await analytics.zone(tenant, "Europe/Berlin", 2)
    await analytics.created(
        tenant,
        utc(2026, 3, 28, 22, 30),  # CET (+1): Saturday 23:30, the same day
        utc(2026, 3, 28, 23, 30),  # Sunday 00:30; at 02:00 the clocks go forward
        utc(2026, 3, 29, 21, 30),  # CEST (+2): Sunday 23:30
        utc(2026, 3, 29, 22, 30),  # Monday 00:30: in UTC still Sunday
        utc(2026, 3, 29, 23, 30),  # Monday 01:30
        utc(2026, 10, 24, 23, 30),  # CEST: Sunday 01:30; at 03:00 the clocks go back
        utc(2026, 10, 25, 22, 30),  # CET (+1): Sunday 23:30 of a 25-hour day
        utc(2026, 10, 25, 23, 30),  # Monday 00:30
    )
    march = await analytics.counts(tenant, utc(2026, 3, 31, 9))
    assert march == {"2026-03-25": 0, "2026-03-26": 0, "2026-03-27": 0, "2026-03-28": 1,
                     "2026-03-29": 2, "2026-03-30": 2, "2026-03-31": 0}
    october = await analytics.counts(tenant, utc(2026, 10, 26, 9))
    assert october == {"2026-10-20": 0, "2026-10-21": 0, "2026-10-22": 0, "2026-10-23": 0,
                       "2026-10-24": 0, "2026-10-25": 2, "2026-10-26": 1}
    # ISO weeks begin on Monday: 22:30 UTC on Sunday 29 March is the next week in Berlin.
    assert await analytics.counts(tenant, utc(2026, 3, 31, 9), "7d", "week") == {
        "2026-03-23": 3, "2026-03-30": 2}
    assert await analytics.counts(tenant, utc(2026, 10, 26, 9), "90d", "month") == {
        "2026-07-01": 0, "2026-08-01": 0, "2026-09-01": 0, "2026-10-01": 3}


async def test_periods_are_whole_local_days_ending_today(analytics: Analytics) -> None:
    tenant = str(uuid.uuid4())  # no event yet: Europe/Berlin
    await analytics.created(tenant, utc(2026, 3, 24, 22, 30), utc(2026, 3, 24, 23, 30),
                            utc(2026, 3, 31, 21, 59))
    summary = await analytics.summary(tenant, utc(2026, 3, 31, 9))
    assert (summary["timezone"], summary["from"], summary["to"]) == (
        "Europe/Berlin", "2026-03-25", "2026-03-31")
    # 25 March 00:30 local is the first day's; 24 March 23:30 local is before it; today
    # counts up to its end (23:59 local).
    assert summary["total_submissions"] == 2
    assert [b["start"] for b in summary["buckets"]][:2] == ["2026-03-25", "2026-03-26"]


async def test_a_zone_change_regroups_without_a_rebuild_and_stale_events_are_ignored(
    analytics: Analytics,
) -> None:
    tenant = str(uuid.uuid4())
    await analytics.zone(tenant, "Europe/Berlin", 2)
    await analytics.created(tenant, utc(2026, 3, 29, 22, 30), utc(2026, 3, 30, 5, 45))
    assert await analytics.counts(tenant, utc(2026, 3, 31, 9)) == {
        **_zeros("2026-03-25", "2026-03-26", "2026-03-27", "2026-03-28", "2026-03-29",
                 "2026-03-31"), "2026-03-30": 2}
    await analytics.zone(tenant, "America/St_Johns", 3)  # UTC-2:30 in summer
    assert await analytics.counts(tenant, utc(2026, 3, 31, 9)) == {
        **_zeros("2026-03-25", "2026-03-26", "2026-03-27", "2026-03-28", "2026-03-31"),
        "2026-03-29": 1, "2026-03-30": 1}
    await analytics.zone(tenant, "Asia/Tokyo", 2)  # an older change, delivered late
    assert (await analytics.summary(tenant, utc(2026, 3, 31, 9)))["timezone"] \
        == "America/St_Johns"


def _zeros(*days: str) -> dict[str, int]:
    return dict.fromkeys(days, 0)


async def test_the_whole_shop_counts_every_widget_and_its_own_rows_are_no_widget(
    analytics: Analytics,
) -> None:
    """The aggregates kept for the whole shop (one row where there would be one per
    widget) hold entries with and without a widget; asking for their id as a widget
    finds nothing, like any unknown id."""
    tenant, widget, now = str(uuid.uuid4()), str(uuid.uuid4()), utc(2026, 6, 10, 12)
    await analytics.created(tenant, utc(2026, 6, 9, 8), utc(2026, 6, 10, 9), widget=widget)
    await analytics.created(tenant, utc(2026, 6, 10, 10))

    async def total(of: str | None) -> int:
        summary = await summary_for(analytics.pool, tenant, "7d", "day", of, now)
        return int(summary["total_submissions"])

    assert await total(None) == 3
    assert await total(widget) == 2
    assert await total(str(EVERY_WIDGET)) == 0
    assert await total(str(NO_WIDGET)) == 0
