"""How one entry contributes to the aggregates, which rows a summary reads, and the
summary's arithmetic. No I/O.

Aggregates are kept at two grains of UTC time: 15-minute slots, which any time zone's
midnight falls on (every zone in use is offset by a multiple of 15 minutes), and UTC
days. A summary in a tenant's zone reads whole UTC days and corrects each bucket edge
with the slots between the edge and the nearer UTC midnight, so a zone change needs no
rebuild and a bucket costs a few dozen rows, not 96 per day.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import TypeVar
from zoneinfo import ZoneInfo

from resonanz.shared.events import EntrySnapshot
from resonanz.shared.params import parse_uuid

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
GROUPINGS = ("day", "week", "month")
DEFAULT_TIMEZONE = "Europe/Berlin"

SLOT, DAY = timedelta(minutes=15), timedelta(days=1)
SLOT_SPAN, DAY_SPAN = 15, 1440  # minutes a row covers
NO_WIDGET = uuid.UUID(int=0)
# Responded and resolved entries are counted where they were created; these measure how
# long after creation the first response and the resolution came.
RESPONSE, RESOLVE = "response", "resolve"
K = TypeVar("K")


# --- contributions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    widget: uuid.UUID
    slot: datetime  # the 15-minute slot (UTC) the entry was created in


@dataclass
class Contribution:
    """What one entry adds to the slot and the day it was created in."""

    stats: Counter[str] = field(default_factory=Counter)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    durations: Counter[tuple[str, int]] = field(default_factory=Counter)


def slot_of(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def day_of(slot: datetime) -> datetime:
    return slot.replace(hour=0, minute=0)


def key_of(entry: EntrySnapshot) -> Key:
    # Whatever spelling of the widget's id the snapshot carries, one key per widget.
    return Key(parse_uuid(entry.widget_id) or NO_WIDGET, slot_of(entry.created_at))


def milliseconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds() * 1000))


def is_resolved(entry: EntrySnapshot) -> bool:
    """Resolved, or archived after being resolved (tidying up does not undo the work)."""
    return entry.resolved_at is not None and entry.status in ("resolved", "archived")


def contribution(entry: EntrySnapshot | None) -> Contribution:
    c = Contribution()
    if entry is None or entry.deleted:
        return c
    c.stats["submissions"] = 1
    c.counts[("status", entry.status)] = 1
    if entry.category:
        c.counts[("category", entry.category)] = 1
    if entry.rating is not None:
        c.stats.update(rating_count=1, rating_sum=entry.rating)
        c.counts[("rating", str(entry.rating))] = 1
    if entry.first_response_at is not None:
        _measure(c, RESPONSE, "responded", milliseconds(entry.created_at,
                                                        entry.first_response_at))
    if is_resolved(entry):
        assert entry.resolved_at is not None
        _measure(c, RESOLVE, "resolved", milliseconds(entry.created_at, entry.resolved_at))
    return c


def _measure(c: Contribution, measure: str, counted: str, ms: int) -> None:
    c.stats[counted] = 1
    c.stats[f"{measure}_ms"] = ms
    c.durations[(measure, duration_bucket(ms))] = 1


def accumulate(into: Contribution, c: Contribution) -> None:
    """Add `c` to `into`: a batch's deltas for one row become one write."""
    into.stats.update(c.stats)
    into.counts.update(c.counts)
    into.durations.update(c.durations)


def delta(old: Contribution, new: Contribution) -> Contribution:
    return Contribution(_minus(new.stats, old.stats), _minus(new.counts, old.counts),
                        _minus(new.durations, old.durations))


def _minus(a: Counter[K], b: Counter[K]) -> Counter[K]:
    out = Counter(a)
    out.subtract(b)
    return Counter({k: v for k, v in out.items() if v})


# --- durations -----------------------------------------------------------------------------

# Log-scale buckets of milliseconds: bucket b >= 1 holds [GAMMA**(b-1), GAMMA**b) ms and is
# read as its geometric midpoint, within 0.5 % of any duration in it; bucket 0 holds
# durations under 1 ms. Three years are bucket 2,546: a smallint.
GAMMA = 1.01
_LOG_GAMMA = math.log(GAMMA)
MEDIAN_RELATIVE_ERROR = math.sqrt(GAMMA) - 1  # 0.499 %


def duration_bucket(ms: int) -> int:
    return 0 if ms < 1 else 1 + math.floor(math.log(ms) / _LOG_GAMMA)


def bucket_seconds(bucket: int) -> float:
    return 0.0 if bucket <= 0 else float(GAMMA ** (bucket - 0.5)) / 1000


def median_of(histogram: Counter[int]) -> float | None:
    """The median duration in seconds from a histogram of buckets."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    ordered = sorted((b, n) for b, n in histogram.items() if n)
    return (_nth(ordered, (total - 1) // 2) + _nth(ordered, total // 2)) / 2


def _nth(histogram: list[tuple[int, int]], index: int) -> float:
    seen = 0
    for bucket, n in histogram:
        seen += n
        if index < seen:
            return bucket_seconds(bucket)
    raise IndexError(index)


# --- the rows a summary reads --------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Rows of one grain in [lo, hi), added to bucket `bucket` with `sign`."""

    span: int
    lo: datetime
    hi: datetime
    bucket: int
    sign: int


@dataclass(frozen=True)
class Window:
    """A summary's days: `days` calendar days in `zone` ending with `today`, in buckets of
    local days, ISO weeks (Monday) or months."""

    zone: ZoneInfo
    today: date
    days: int
    group_by: str

    @classmethod
    def of(cls, zone_name: str, period: str, group_by: str, now: datetime) -> Window:
        zone = ZoneInfo(zone_name)
        return cls(zone, now.astimezone(zone).date(), PERIODS[period], group_by)

    @property
    def first(self) -> date:
        return self.today - timedelta(days=self.days - 1)

    def starts(self) -> list[date]:
        """The local date each bucket's unit begins (the first may lie before `first`)."""
        out, unit = [], unit_start(self.first, self.group_by)
        while unit <= self.today:
            out.append(unit)
            unit = next_unit(unit, self.group_by)
        return out

    def edges(self) -> list[datetime]:
        """The UTC instants between buckets, from the period's start to its end."""
        inner = [self.midnight(max(start, self.first)) for start in self.starts()]
        return [*inner, self.midnight(self.today + timedelta(days=1))]

    def midnight(self, day: date) -> datetime:
        """When `day` begins in the zone, in UTC (on a slot: every zone in use is)."""
        return slot_of(datetime.combine(day, time(), tzinfo=self.zone))

    def pieces(self) -> list[Piece]:
        """Bucket i is the UTC days between its edges' anchors, plus each edge's
        correction: the slots between the edge and its anchor, the nearer UTC midnight."""
        edges = self.edges()
        return [piece for i, (lo, hi) in enumerate(pairwise(edges))
                for piece in _between(lo, hi, i)]

    def total_pieces(self) -> list[Piece]:
        """The whole period as bucket 0."""
        edges = self.edges()
        return _between(edges[0], edges[-1], 0)


def _between(lo: datetime, hi: datetime, bucket: int) -> list[Piece]:
    """Everything before `hi` minus everything before `lo`."""
    a_lo, lo_from, lo_to, lo_sign = _anchored(lo)
    a_hi, hi_from, hi_to, hi_sign = _anchored(hi)
    return [*_span(DAY_SPAN, a_lo, a_hi, bucket, 1),
            *_span(SLOT_SPAN, hi_from, hi_to, bucket, hi_sign),
            *_span(SLOT_SPAN, lo_from, lo_to, bucket, -lo_sign)]


def _anchored(edge: datetime) -> tuple[datetime, datetime, datetime, int]:
    """(anchor, lo, hi, sign): everything before `edge` is everything before the UTC
    midnight `anchor` plus `sign` times the slots in [lo, hi)."""
    floor = day_of(edge)
    if edge - floor <= DAY / 2:
        return floor, floor, edge, 1
    return floor + DAY, edge, floor + DAY, -1


def _span(span: int, lo: datetime, hi: datetime, bucket: int, sign: int) -> list[Piece]:
    if lo == hi:
        return []
    if lo > hi:
        return [Piece(span, hi, lo, bucket, -sign)]
    return [Piece(span, lo, hi, bucket, sign)]


def unit_start(day: date, group_by: str) -> date:
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    return day


def next_unit(start: date, group_by: str) -> date:
    if group_by == "week":
        return start + timedelta(days=7)
    if group_by == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)
