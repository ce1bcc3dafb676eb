"""How one entry contributes to the aggregates, which rows a summary reads, and the
summary's arithmetic. No I/O.

Aggregates are kept at grains of UTC time: 15-minute slots, which any time zone's
midnight falls on (every zone in use is offset by a multiple of 15 minutes), UTC days and,
for the duration histograms, also hours and ISO weeks. A summary in a tenant's zone
reads each bucket as a few signed ranges of the coarsest rows that fit (a week, the days
up to it, the hour or two between a local midnight and the UTC one), so a zone change
needs no rebuild and a bucket costs a handful of rows, not 96 per day.
"""

from __future__ import annotations

import math
import uuid
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate as running_sums
from itertools import pairwise
from typing import TypeVar
from zoneinfo import ZoneInfo

from resonanz.shared.events import EntrySnapshot
from resonanz.shared.params import parse_uuid

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
GROUPINGS = ("day", "week", "month")
DEFAULT_TIMEZONE = "Europe/Berlin"

SLOT_SPAN, HOUR_SPAN, DAY_SPAN, WEEK_SPAN = 15, 60, 1440, 10080  # minutes a row covers
# Rows start on multiples of their span from a Monday midnight, so weeks are ISO weeks.
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)
# stats and counts are cheap rows (one per slot, a few per slot): slots and days suffice.
# A duration histogram row holds up to 128 buckets, and a bucket edge read in slots would
# cost 4 to 8 of them per hour: histograms are also kept per hour and per ISO week.
STAT_GRAINS = (SLOT_SPAN, DAY_SPAN)
DURATION_GRAINS = (SLOT_SPAN, HOUR_SPAN, DAY_SPAN, WEEK_SPAN)
NO_WIDGET = uuid.UUID(int=0)
# Every aggregate is kept for the whole shop under this id (no random UUID has it), and for
# the entry's widget if it has one: a summary of the whole shop reads one row where it
# would read one per widget (ten widgets made it ten times slower).
EVERY_WIDGET = uuid.UUID(int=2**128 - 1)
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


def start_of(moment: datetime, span: int) -> datetime:
    """The start of the row of `span` minutes that `moment` falls in."""
    width = timedelta(minutes=span)
    return EPOCH + (moment - EPOCH) // width * width


def key_of(entry: EntrySnapshot) -> Key:
    # Whatever spelling of the widget's id the snapshot carries, one key per widget.
    return Key(parse_uuid(entry.widget_id) or NO_WIDGET, slot_of(entry.created_at))


def milliseconds(start: datetime, end: datetime) -> int:
    """Whole milliseconds, half a millisecond up: exactly what PostgreSQL's round() gives
    in the migrations that compute aggregates in SQL (a float and round-half-even did not,
    for one entry in a thousand), so a later change subtracts what was added."""
    micros = (end - start) // timedelta(microseconds=1)
    return max(0, (micros + 500) // 1000)


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
# A histogram is stored as rows of FINE consecutive buckets (a factor of 3.6 in time):
# the row's total finds which row holds the median, its array the bucket within it.
FINE = 128


def duration_bucket(ms: int) -> int:
    return 0 if ms < 1 else 1 + math.floor(math.log(ms) / _LOG_GAMMA)


def bucket_seconds(bucket: int) -> float:
    return 0.0 if bucket <= 0 else float(GAMMA ** (bucket - 0.5)) / 1000


def median_seconds(lower: int, upper: int) -> float:
    """The median from the buckets holding the middle two durations (one, if odd)."""
    return (bucket_seconds(lower) + bucket_seconds(upper)) / 2


def positions(signs: list[int], rows: list[list[int]], ranks: list[int]) -> list[int]:
    """In a row of FINE buckets held by several pieces (`rows`, each added with its sign),
    the index of the bucket holding each zero-based rank."""
    signed = [[sign * n for n in row] for sign, row in zip(signs, rows, strict=True)]
    running = list(running_sums(map(sum, zip(*signed, strict=True))))
    return [bisect_right(running, rank) for rank in ranks]


def fine_rows(durations: dict[tuple[str, int], int]) -> dict[tuple[str, int], dict[int, int]]:
    """A histogram's changes as stored: per measure and row of FINE buckets (named by its
    first bucket), the changed counts by their index in the row."""
    rows: dict[tuple[str, int], dict[int, int]] = {}
    for (measure, bucket), n in sorted(durations.items()):
        if n:
            first, index = divmod(bucket, FINE)
            row = rows.setdefault((measure, first * FINE), {})
            row[index] = row.get(index, 0) + n
    return rows


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

    def pieces(self, grains: tuple[int, ...]) -> tuple[Piece, ...]:
        """Bucket i as signed ranges of rows of `grains` (see `cover`)."""
        return _pieces(self, grains)

    def total_pieces(self, grains: tuple[int, ...], bucket: int = 0) -> tuple[Piece, ...]:
        """The whole period as one bucket."""
        return _total_pieces(self, grains, bucket)


# A window is the same all day: its pieces are worked out once (a 90-day summary by day in
# a zone 45 minutes off the hour takes milliseconds).
@lru_cache(maxsize=256)
def _pieces(window: Window, grains: tuple[int, ...]) -> tuple[Piece, ...]:
    return tuple(Piece(span, lo, hi, i, sign)
                 for i, edges in enumerate(pairwise(window.edges()))
                 for span, lo, hi, sign in cover(*edges, grains))


@lru_cache(maxsize=256)
def _total_pieces(window: Window, grains: tuple[int, ...], bucket: int) -> tuple[Piece, ...]:
    edges = window.edges()
    return tuple(Piece(span, lo, hi, bucket, sign)
                 for span, lo, hi, sign in cover(edges[0], edges[-1], grains))


Range = tuple[int, datetime, datetime, int]  # span, lo, hi, sign


def cover(lo: datetime, hi: datetime, grains: tuple[int, ...]) -> tuple[Range, ...]:
    """Signed ranges of whole rows of `grains` (spans in minutes, finest first, each a
    multiple of the one before) that add up to exactly [lo, hi), with as few rows as
    possible: a coarser row is used when it and the corrections to its edges, added or
    subtracted, are fewer rows than the finer ones. `lo` and `hi` lie on the finest."""
    _, ranges = _cover(_minutes(lo), _minutes(hi), len(grains) - 1, grains)
    return tuple((span, _instant(a), _instant(b), sign) for span, a, b, sign in ranges)


# In minutes since EPOCH: integer arithmetic keeps a 90-bucket search to milliseconds.
_Ranges = tuple[tuple[int, int, int, int], ...]


@lru_cache(maxsize=16384)
def _cover(lo: int, hi: int, level: int, grains: tuple[int, ...]) -> tuple[int, _Ranges]:
    span = grains[level]
    if level == 0:
        return (hi - lo) // span, ((span, lo, hi, 1),)
    best = _cover(lo, hi, level - 1, grains)
    finer = grains[level - 1]
    for a in {lo // span * span, -(-lo // span) * span}:
        for b in {hi // span * span, -(-hi // span) * span}:
            # At least: the coarse rows, and a correction of length d takes d / finer rows.
            if a >= b or ((b - a) // span + -(-abs(a - lo) // finer)
                          + -(-abs(hi - b) // finer)) > best[0]:
                continue
            head, tail = _signed(lo, a, level - 1, grains), _signed(b, hi, level - 1, grains)
            candidate = ((b - a) // span + head[0] + tail[0],
                         ((span, a, b, 1), *head[1], *tail[1]))
            if (candidate[0], len(candidate[1])) < (best[0], len(best[1])):
                best = candidate
    return best


def _signed(lo: int, hi: int, level: int, grains: tuple[int, ...]) -> tuple[int, _Ranges]:
    """[lo, hi) covered as `_cover` does; negated when lo > hi."""
    if lo == hi:
        return 0, ()
    if lo < hi:
        return _cover(lo, hi, level, grains)
    rows, ranges = _cover(hi, lo, level, grains)
    return rows, tuple((span, a, b, -sign) for span, a, b, sign in ranges)


def _minutes(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(minutes=1)


def _instant(minutes: int) -> datetime:
    return EPOCH + timedelta(minutes=minutes)


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
