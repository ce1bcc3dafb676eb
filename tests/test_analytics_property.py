"""Property: whatever the history, the tenant's time zone and the moment asked, and
however events are delivered (duplicated, reordered), the summary from aggregates equals
a direct computation over the entries' final state — for every period, grouping and
widget filter, with widget ids in any spelling."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import threading
import uuid
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resonanz.analytics.api import summary_for
from resonanz.analytics.consumers import HANDLERS
from resonanz.analytics.domain import GROUPINGS, MEDIAN_RELATIVE_ERROR, PERIODS
from resonanz.feedback.domain import TRANSITIONS, Entry, Patch, plan_update
from resonanz.shared.consumer import ConsumerLoop
from resonanz.shared.db import create_pool, migrate
from resonanz.shared.events import (
    CloudEvent,
    EntrySnapshot,
    FeedbackCreated,
    TenantUpdated,
    new_event,
)
from resonanz.shared.params import parse_uuid
from resonanz.shared.settings import Settings

T = TypeVar("T")
A, B = uuid.uuid4(), uuid.uuid4()
# How a widget's id may have reached the feedback service: canonical, upper case, without
# hyphens, in braces. None is an entry without a widget.
SPELLINGS = [None, str(A), str(A).upper(), A.hex, f"{{{A}}}", str(B), B.hex.upper()]
WIDGET_FILTERS = [None, str(A), str(B)]
ZONES = ["Europe/Berlin", "UTC", "America/St_Johns", "Asia/Kathmandu", "America/New_York"]
# Moments to ask at: around both of 2026's DST changes in Europe and North America, and
# any other time of the year.
DST_WEEKENDS = [datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC),
                datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)]


class LoopThread:
    """An event loop in a thread of its own, so hypothesis' sync examples can await."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@dataclass
class Harness:
    runner: LoopThread
    pool: asyncpg.Pool
    loop: ConsumerLoop


@pytest.fixture(scope="module")
def harness(infra: Any) -> Iterator[Harness]:
    from .conftest import create_database, drop_database

    runner = LoopThread()
    url = runner.run(create_database(infra))
    runner.run(migrate(url, "analytics"))
    pool = runner.run(create_pool(Settings(database_url=url).service_dsn("analytics")))
    consumer = ConsumerLoop(pool, Settings(), group="analytics", topics=[], handlers=HANDLERS)
    yield Harness(runner, pool, consumer)
    runner.run(pool.close())
    runner.run(drop_database(infra, url))
    runner.close()


# --- histories ---------------------------------------------------------------------------


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """When the summary is asked: near a DST change, or anywhere in 2026."""
    base = draw(st.sampled_from([*DST_WEEKENDS, datetime(2026, 1, 1, tzinfo=UTC)]))
    span = 3 * 86400 if base.month != 1 else 365 * 86400
    return base + timedelta(seconds=draw(st.integers(-span, span)))


@st.composite
def entry_history(draw: st.DrawFn, now: datetime) -> list[EntrySnapshot]:
    """One entry's snapshots, version by version, made by the feedback service's own
    rules (plan_update): what counts as a response, what resolved_at keeps."""
    created = now - timedelta(milliseconds=draw(st.integers(0, 100 * 86_400_000)))
    entry = Entry.fresh(
        str(uuid.uuid4()), "t", created, widget_id=draw(st.sampled_from(SPELLINGS)),
        body=None, rating=draw(st.none() | st.integers(1, 5)),
        category=draw(st.sampled_from([None, "usability", "delivery"])), metadata={},
        customer_email=None, answers={}, quality=None, quality_score=None)
    history = [entry.snapshot()]
    for _ in range(draw(st.integers(0, 6))):
        at = entry.updated_at + timedelta(milliseconds=draw(st.integers(1, 5 * 86_400_000)))
        if draw(st.integers(0, 9)) == 0:
            history.append(_changed(entry, {"deleted_at": at}, at).snapshot())
            break
        plan = plan_update(entry, draw(patches(entry.status)), at)
        if plan.changes_anything:
            entry = _changed(entry, plan.columns, at)
            history.append(entry.snapshot())
    return history


@st.composite
def patches(draw: st.DrawFn, status: str) -> Patch:
    kind = draw(st.sampled_from(["status", "status", "assign", "unassign", "note",
                                 "category"]))
    if kind == "status":
        return Patch(status=draw(st.sampled_from(sorted(TRANSITIONS[status]))))
    if kind in ("assign", "unassign"):
        return Patch(assignee=draw(st.sampled_from(["anna", "ben"])) if kind == "assign"
                     else None)
    if kind == "note":
        return Patch(note="Kunde angerufen")
    return Patch(category=draw(st.sampled_from([None, "usability", "price"])))


def _changed(entry: Entry, columns: dict[str, Any], at: datetime) -> Entry:
    return dataclasses.replace(entry, **columns, version=entry.version + 1, updated_at=at)


def as_event(tenant: str, snap: EntrySnapshot) -> CloudEvent:
    # Every feedback event carries the snapshot; the type does not change the effect.
    return new_event(source="test", tenant_id=tenant, subject=snap.id,
                     data=FeedbackCreated(entry=snap))


@dataclass
class Case:
    now: datetime
    zone: str
    histories: list[list[EntrySnapshot]]
    order: list[int]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    now = draw(moments())
    histories = draw(st.lists(entry_history(now), min_size=1, max_size=10))
    count = sum(len(h) for h in histories)
    order = draw(st.permutations(range(count)))
    duplicates = draw(st.lists(st.integers(0, count - 1), max_size=count))
    return Case(now, draw(st.sampled_from(ZONES)), histories, list(order) + duplicates)


# --- the direct computation -----------------------------------------------------------------


def unit_of(day: date, group_by: str) -> date:
    if group_by == "week":
        year, week, _ = day.isocalendar()
        return date.fromisocalendar(year, week, 1)
    return day.replace(day=1) if group_by == "month" else day


def expected(finals: list[EntrySnapshot], zone: str, now: datetime, period: str,
             group_by: str, widget: str | None) -> dict[str, Any]:
    """The summary computed from the entries themselves: local creation dates, every
    bucket of the period, the stated definitions."""
    today = now.astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=PERIODS[period] - 1)

    def local(s: EntrySnapshot) -> date:
        return s.created_at.astimezone(ZoneInfo(zone)).date()

    live = [s for s in finals if not s.deleted and first <= local(s) <= today
            and (widget is None or parse_uuid(s.widget_id) == uuid.UUID(widget))]
    units = sorted({unit_of(first + timedelta(days=d), group_by)
                    for d in range(PERIODS[period])})
    return {"from": first.isoformat(), "to": today.isoformat(), "timezone": zone,
            **rates(live), "statuses": _count(s.status for s in live),
            "rating_distribution": _count(str(s.rating) for s in live if s.rating is not None),
            "categories": _count(s.category for s in live if s.category),
            "buckets": [{"start": u.isoformat(),
                         **rates([s for s in live if unit_of(local(s), group_by) == u])}
                        for u in units]}


def rates(live: list[EntrySnapshot]) -> dict[str, Any]:
    rated = [s.rating for s in live if s.rating is not None]
    responses = [seconds(s.created_at, s.first_response_at) for s in live
                 if s.first_response_at is not None]
    resolutions = [seconds(s.created_at, s.resolved_at) for s in live
                   if s.resolved_at is not None and s.status in ("resolved", "archived")]
    return {
        "total_submissions": len(live),
        "average_rating": round(sum(rated) / len(rated), 3) if rated else None,
        "response_rate": round(len(responses) / len(live), 4) if live else None,
        "time_to_first_response": durations("responded", responses),
        "time_to_resolve": durations("resolved", resolutions),
    }


def seconds(start: datetime, end: datetime | None) -> float:
    assert end is not None
    return max(0.0, (end - start).total_seconds())


def durations(counted: str, values: list[float]) -> dict[str, Any]:
    return {counted: len(values),
            "average_seconds": round(sum(values) / len(values), 3) if values else None,
            "median_seconds": statistics.median(values) if values else None}


def _count(values: Iterable[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        assert v is not None
        out[v] = out.get(v, 0) + 1
    return out


def assert_rates(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("total_submissions", "average_rating", "response_rate"):
        assert got[key] == want[key], key
    for key in ("time_to_first_response", "time_to_resolve"):
        g, w = got[key], want[key]
        counted = "responded" if key == "time_to_first_response" else "resolved"
        assert g[counted] == w[counted], key
        if w["average_seconds"] is None:
            assert g["average_seconds"] is None and g["median_seconds"] is None, key
            continue
        assert g["average_seconds"] == pytest.approx(w["average_seconds"], abs=0.0011), key
        # The stated bound: within 0.5 % of the exact median, then rounded to the millisecond.
        bound = w["median_seconds"] * MEDIAN_RELATIVE_ERROR + 0.0005 + 1e-9
        assert abs(g["median_seconds"] - w["median_seconds"]) <= bound, (key, g, w)


def assert_matches(summary: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("from", "to", "timezone", "statuses", "rating_distribution", "categories"):
        assert summary[key] == want[key], key
    assert_rates(summary, want)
    assert [b["start"] for b in summary["buckets"]] == [b["start"] for b in want["buckets"]]
    for got, wanted in zip(summary["buckets"], want["buckets"], strict=True):
        assert_rates(got, wanted)


# 150 cases of up to a few dozen events each, 36 summaries per case: about 2 minutes on
# a quiet 2-core machine, several beside other work, hence the timeout of its own.
@pytest.mark.timeout(900)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(), batch_size=st.integers(1, 8))
def test_summary_equals_direct_computation_under_any_delivery(
    harness: Harness, case: Case, batch_size: int,
) -> None:
    """Delivered in batches as the consumer applies them (one transaction each, duplicates
    inside a batch and across batches), and one by one as its replay does; the tenant's
    zone arrives as the gateway's event. Then every period, group_by and widget."""
    tenant = str(uuid.uuid4())
    events = [as_event(tenant, snap) for history in case.histories for snap in history]
    delivered = [(events[i], HANDLERS[events[i].type]) for i in case.order]
    zone = new_event(source="test", tenant_id=tenant, subject=tenant,
                     data=TenantUpdated(name="Shop", timezone=case.zone, version=2))

    async def deliver() -> dict[tuple[str, str, str | None], dict[str, Any]]:
        await harness.loop.apply_once(zone, HANDLERS[zone.type])
        for start in range(0, len(delivered), batch_size):
            batch = delivered[start:start + batch_size]
            if batch_size == 1:
                await harness.loop.apply_once(*batch[0])
            else:
                await harness.loop.apply_batch(batch)
        return {(period, group_by, widget): await summary_for(
                    harness.pool, tenant, period, group_by, widget, case.now)
                for period in PERIODS for group_by in GROUPINGS for widget in WIDGET_FILTERS}

    summaries = harness.runner.run(deliver())
    finals = [h[-1] for h in case.histories]
    for (period, group_by, widget), summary in summaries.items():
        want = expected(finals, case.zone, case.now, period, group_by, widget)
        try:
            assert_matches(summary, want)
        except AssertionError as failure:
            raise AssertionError(f"{period} {group_by} widget={widget}") from failure
