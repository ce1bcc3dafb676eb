"""How one entry contributes to the aggregates, and the summary's arithmetic. No I/O."""

from __future__ import annotations

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
    return c


def delta(old: Contribution, new: Contribution) -> Contribution:
    stats = Counter(new.stats)
    stats.subtract(old.stats)
    counts = Counter(new.counts)
    counts.subtract(old.counts)
    return Contribution(
        Counter({k: v for k, v in stats.items() if v}),
        new.seconds - old.seconds,
        Counter({k: v for k, v in counts.items() if v}),
    )
