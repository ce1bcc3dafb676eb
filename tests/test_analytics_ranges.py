"""The rows a summary reads (domain.Window.pieces): whatever the zone, the period, the
grouping and the moment, each bucket's signed ranges add up to exactly its own 15-minute
slots, and a bucket costs a handful of rows (the summary's latency rests on it). Pure:
no database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resonanz.analytics.domain import (
    DURATION_GRAINS,
    EPOCH,
    FINE,
    GROUPINGS,
    PERIODS,
    STAT_GRAINS,
    Piece,
    Window,
    duration_bucket,
    fine_rows,
    positions,
)

SLOT = timedelta(minutes=15)
# Whole-hour, half-hour and 45-minute offsets, both hemispheres' DST, the date line.
ZONES = ["Europe/Berlin", "UTC", "America/St_Johns", "Asia/Kathmandu", "America/New_York",
         "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"]


def slots(lo: datetime, hi: datetime) -> list[datetime]:
    return [lo + i * SLOT for i in range((hi - lo) // SLOT)]


def covered(pieces: Iterable[Piece], bucket: int) -> Counter[datetime]:
    """How often each slot is counted in `bucket`, the rows' signs applied."""
    out: Counter[datetime] = Counter()
    for p in pieces:
        if p.bucket == bucket:
            for slot in slots(p.lo, p.hi):
                out[slot] += p.sign
    return Counter({slot: n for slot, n in out.items() if n})


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), period=st.sampled_from(sorted(PERIODS)),
       group_by=st.sampled_from(GROUPINGS), grains=st.sampled_from([STAT_GRAINS,
                                                                   DURATION_GRAINS]),
       now=st.datetimes(min_value=datetime(2025, 1, 1),  # noqa: DTZ001 (hypothesis: naive)
                        max_value=datetime(2028, 12, 31),  # noqa: DTZ001
                        timezones=st.just(UTC)))
def test_each_bucket_reads_exactly_its_own_slots(
    zone: str, period: str, group_by: str, grains: tuple[int, ...], now: datetime,
) -> None:
    window = Window.of(zone, period, group_by, now)
    edges = window.edges()
    pieces = window.pieces(grains)
    for p in pieces:  # whole rows of their grain, so an index range reads them and no more
        assert p.span in grains and (p.hi - p.lo) % timedelta(minutes=p.span) == timedelta()
        assert (p.lo - EPOCH) % timedelta(minutes=p.span) == timedelta()
    for i, (lo, hi) in enumerate(pairwise(edges)):
        assert covered(pieces, i) == Counter(slots(lo, hi)), f"bucket {i}"
    total = window.total_pieces(grains, bucket=-1)
    assert covered(total, -1) == Counter(slots(edges[0], edges[-1]))


def rows_read(pieces: Iterable[Piece]) -> int:
    distinct = {(p.span, p.lo, p.hi) for p in pieces}
    return sum((hi - lo) // timedelta(minutes=span) for span, lo, hi in distinct)


@pytest.mark.parametrize(("period", "group_by", "at_most"), [
    ("90d", "week", 60), ("90d", "month", 50), ("90d", "day", 300), ("7d", "day", 25),
])
@pytest.mark.parametrize("now", [datetime(2026, 3, 30, 9, tzinfo=UTC),
                                 datetime(2026, 10, 26, 9, tzinfo=UTC),
                                 datetime(2026, 12, 2, 8, tzinfo=UTC)])
def test_a_berlin_summary_reads_a_few_coarse_rows_per_bucket(
    period: str, group_by: str, at_most: int, now: datetime,
) -> None:
    """Weeks, then days, then the hour or two between a Berlin and the UTC midnight: the
    90-day weekly summary read 262 rows of histograms per measure with slots and days."""
    window = Window.of("Europe/Berlin", period, group_by, now)
    pieces = [*window.pieces(DURATION_GRAINS), *window.total_pieces(DURATION_GRAINS, -1)]
    assert rows_read(pieces) <= at_most
    assert not [p for p in pieces if p.span == 15], "Berlin's midnights fall on whole hours"


def test_a_row_holds_fine_consecutive_buckets_and_the_median_is_found_within_it() -> None:
    changes = Counter({("resolve", duration_bucket(ms)): 1 for ms in (1500, 1700, 90_000)})
    changes[("response", duration_bucket(0))] = 2
    rows = fine_rows(changes)
    assert all(first % FINE == 0 and all(0 <= i < FINE for i in counts)
               for (_, first), counts in rows.items())
    assert sum(sum(counts.values()) for counts in rows.values()) == 5
    first = duration_bucket(1500) // FINE * FINE
    assert duration_bucket(1700) // FINE * FINE == first != duration_bucket(90_000) // FINE
    # One row read through two pieces: a day's, less an hour that held the 1.5 s.
    day, hour = [0] * FINE, [0] * FINE
    for index, n in rows[("resolve", first)].items():
        day[index] = n
    hour[duration_bucket(1500) - first] = 1
    assert [first + i for i in positions([1, -1], [day, hour], [0])] == [duration_bucket(1700)]
    assert [first + i for i in positions([1], [day], [0, 1])] == [duration_bucket(1500),
                                                                  duration_bucket(1700)]
