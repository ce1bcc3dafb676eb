"""How one entry contributes to the aggregates, and the summary's arithmetic. No I/O."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from resonanz.shared.events import EntrySnapshot

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
GROUPINGS = ("day", "week", "month")


@dataclass(frozen=True)
class Key:
    widget_key: str
    day: date


@dataclass
class Contribution:
    """What one entry adds to its creation day's bucket."""

    stats: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    resolve_buckets: Counter[int] = field(default_factory=Counter)


# Log-scale buckets for durations: bucket i covers (GAMMA**(i-1), GAMMA**i] seconds, so
# a bucket's midpoint is within 1 % of any duration in it.
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)


def resolve_bucket(seconds: float) -> int:
    return 0 if seconds <= 1 else math.ceil(math.log(seconds) / _LOG_GAMMA)


def bucket_value(bucket: int) -> float:
    """The representative duration of a bucket: its geometric midpoint."""
    if bucket <= 0:
        return 1.0 if bucket == 0 else 0.0
    return float(GAMMA ** (bucket - 0.5))


def median_of(histogram: list[tuple[int, int]]) -> float | None:
    """The median duration from (bucket, count) rows in bucket order."""
    total = sum(n for _, n in histogram)
    if total <= 0:
        return None
    lower, upper = (total - 1) // 2, total // 2
    return (_nth(histogram, lower) + _nth(histogram, upper)) / 2


def _nth(histogram: list[tuple[int, int]], index: int) -> float:
    seen = 0
    for bucket, n in histogram:
        seen += n
        if index < seen:
            return bucket_value(bucket)
    raise IndexError(index)


def key_of(entry: EntrySnapshot) -> Key:
    return Key(entry.widget_id or "", entry.created_at.date())


def contribution(entry: EntrySnapshot | None) -> Contribution:
    c = Contribution()
    if entry is None or entry.deleted:
        return c
    c.stats["submissions"] = 1
    c.counts[("status", entry.status)] = 1
    if entry.category:
        c.counts[("category", entry.category)] = 1
    if entry.rating is not None:
        c.stats["rating_count"] = 1
        c.stats["rating_sum"] = entry.rating
        c.counts[("rating", str(entry.rating))] = 1
    if entry.first_response_at is not None:
        c.stats["responded"] = 1
    if entry.status == "resolved" and entry.resolved_at is not None:
        c.stats["resolved"] = 1
        c.seconds = (entry.resolved_at - entry.created_at).total_seconds()
        c.resolve_buckets[resolve_bucket(c.seconds)] = 1
    return c


def accumulate(into: Contribution, c: Contribution) -> None:
    """Add `c` to `into`: a batch's deltas for one bucket become one write."""
    into.stats.update(c.stats)
    into.seconds += c.seconds
    into.counts.update(c.counts)
    into.resolve_buckets.update(c.resolve_buckets)


def delta(old: Contribution, new: Contribution) -> Contribution:
    stats = Counter(new.stats)
    stats.subtract(old.stats)
    counts = Counter(new.counts)
    counts.subtract(old.counts)
    buckets = Counter(new.resolve_buckets)
    buckets.subtract(old.resolve_buckets)
    return Contribution(
        Counter({k: v for k, v in stats.items() if v}),
        new.seconds - old.seconds,
        Counter({k: v for k, v in counts.items() if v}),
        Counter({k: v for k, v in buckets.items() if v}),
    )
