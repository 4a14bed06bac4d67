"""Whole local days of a resolved stream, and day-block bootstrap resamples of them.

A resample keeps the reference's calendar (the same dates, in order) and fills each
day with a whole day of the reference drawn at random, with replacement, from the days
of its kind: a weekday from the weekdays, a weekend day or holiday from those. Within a
day every item keeps its time of day, so the diurnal profile, the weekly rhythm and the
day-to-day variation (a busy Monday, a quiet clinic) all survive; what a resample
changes is which days follow which. (Items keep their time since local midnight: on a
day the clocks change, an hour shorter or longer, its last hour spills into the next
day or stays empty.)

A suggestion's items go with the day it was shown: its resolution (even one that takes
effect after midnight) and its flags. A day is *whole* when the stream covers it from
its first hour and runs on past its end by the decision timeout, so that every
suggestion shown that day was resolved.

Examples
--------
>>> from monitor.core.records import Resolution
>>> t0 = 1767571200.0                                   # Mon 2026-01-05 00:00 UTC
>>> items = [Resolution(f"s{i}", "f", "v", "a", "other", t0 + i * 3600.0,
...                     t0 + i * 3600.0 + 60, "accepted", 60.0, None, None, None)
...          for i in range(24 * 9)]                     # hourly for 9 days
>>> blocks = DayBlocks.split(items, "UTC", (), timeout=3600.0, end=items[-1].at)
>>> len(blocks.days), [d.weekend for d in blocks.days]
(8, [False, False, False, False, False, True, True, False])
>>> import random
>>> pairs = blocks.resample(random.Random(1))
>>> all(t.weekend == s.weekend for t, s in pairs)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.core.records import Flag, Resolution

__all__ = ["Day", "DayBlocks", "Item", "shifted"]

Item = Resolution | Flag
_COVER = 3600.0
"""The stream must start within this of a day's first moment for the day to be whole."""


@dataclass(frozen=True)
class Day:
    """One local day of the reference: its date, kind, bounds and items (by time)."""

    date: date
    weekend: bool
    """A Saturday, a Sunday, or a configured holiday."""
    start: float
    end: float
    items: tuple[Item, ...]


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(), zone).timestamp()


def _local_day(t: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(t, UTC).astimezone(zone).date()


@dataclass(frozen=True)
class DayBlocks:
    """The whole days of a stream (see the module docstring)."""

    days: tuple[Day, ...]
    zone: str
    partial: int
    """Days the stream touches that are not whole (left out)."""

    @classmethod
    def split(
        cls,
        items: Iterable[Item],
        zone: str,
        holidays: Sequence[date],
        *,
        timeout: float,
        end: float,
    ) -> DayBlocks:
        """Group resolved items by the local day their suggestion was shown.

        ``timeout`` is the (longest) decision timeout and ``end`` the stream's last event
        time: a day is whole only if ``end`` is at least ``timeout`` past it.
        """
        tz = ZoneInfo(zone)
        by_day: dict[date, list[Item]] = {}
        shown: dict[str, date] = {}
        flags: list[Flag] = []
        first = float("inf")
        for item in items:
            if isinstance(item, Flag):
                flags.append(item)
                continue
            first = min(first, item.shown_at)
            day = _local_day(item.shown_at, tz)
            shown[item.suggestion_id] = day
            by_day.setdefault(day, []).append(item)
        for flag in flags:
            day = shown.get(flag.suggestion_id) or _local_day(flag.at, tz)
            by_day.setdefault(day, []).append(flag)
        holiday_set = frozenset(holidays)
        days, partial = [], 0
        for day in sorted(by_day):
            start, stop = _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
            if first > start + _COVER or end < stop + timeout:
                partial += 1
                continue
            weekend = day.weekday() >= 5 or day in holiday_set
            ordered = tuple(sorted(by_day[day], key=lambda i: i.at))
            days.append(Day(day, weekend, start, stop, ordered))
        return cls(tuple(days), zone, partial)

    @property
    def weekdays(self) -> list[Day]:
        return [d for d in self.days if not d.weekend]

    @property
    def weekends(self) -> list[Day]:
        return [d for d in self.days if d.weekend]

    def resample(self, rng: random.Random) -> list[tuple[Day, Day]]:
        """(target day, source day) for every day of the calendar: each source drawn
        with replacement from the days of the target's kind."""
        pools = {False: self.weekdays, True: self.weekends}
        return [(day, rng.choice(pools[day.weekend])) for day in self.days]


def shifted(item: Item, by: float) -> Item:
    """``item`` moved ``by`` seconds in event time."""
    if isinstance(item, Flag):
        return item._replace(at=item.at + by)
    return item._replace(shown_at=item.shown_at + by, at=item.at + by)
