"""The day-block bootstrap keeps whole days, their kind and every item's time of day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.calibrate.days import DayBlocks, shifted
from monitor.core.records import Flag, Resolution

MONDAY = datetime(2026, 2, 2, tzinfo=UTC)


def _stream(days: int, zone: str = "UTC", start: datetime = MONDAY) -> list[Resolution | Flag]:
    """Hourly suggestions (resolved 5 minutes later; every tenth flagged), with the day's
    index in the site name so a test can tell which day an item came from."""
    tz = ZoneInfo(zone)
    local = start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    items: list[Resolution | Flag] = []
    for d in range(days):
        day = (local + timedelta(days=d)).date()
        for h in range(24):
            shown = datetime(day.year, day.month, day.day, h, 30, tzinfo=tz).timestamp()
            sid = f"s{d}-{h}"
            items.append(Resolution(sid, "f", "v", f"day-{d}", "other", shown, shown + 300,
                                    "accepted", 300.0, None, None, None))  # fmt: skip
            if h % 10 == 0:
                items.append(Flag(sid, "f", "v", f"day-{d}", shown + 7200, "other", True))
    return items


def test_whole_days_only_and_their_kinds() -> None:
    items = _stream(15)
    blocks = DayBlocks.split(items, "UTC", [date(2026, 2, 4)], timeout=3600.0,
                             end=max(i.at for i in items))  # fmt: skip
    # the last day ends too close to the end of the stream for its suggestions to resolve
    assert len(blocks.days) == 14 and blocks.partial == 1
    kinds = {d.date: d.weekend for d in blocks.days}
    assert kinds[date(2026, 2, 7)] and kinds[date(2026, 2, 8)]  # Saturday, Sunday
    assert kinds[date(2026, 2, 4)]  # a holiday counts as a weekend day
    assert not kinds[date(2026, 2, 5)]
    for day in blocks.days:
        assert all(day.start <= i.at < day.end + 7200 for i in day.items)
        sites = {i.site for i in day.items}
        assert len(sites) == 1  # a day's items, flags included, are that day's


def test_a_stream_that_starts_late_in_a_day_leaves_that_day_out() -> None:
    items = _stream(9, start=MONDAY)
    late = [i for i in items if i.at >= MONDAY.timestamp() + 6 * 3600]
    blocks = DayBlocks.split(late, "UTC", (), timeout=3600.0, end=max(i.at for i in late))
    assert blocks.days[0].date == date(2026, 2, 3)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]))
def test_a_resample_keeps_each_days_kind_items_and_times_of_day(seed: int, zone: str) -> None:
    # across the start of US daylight saving time (2026-03-08)
    items = _stream(22, zone, start=datetime(2026, 2, 23, 12, tzinfo=UTC))
    tz = ZoneInfo(zone)
    blocks = DayBlocks.split(items, zone, (), timeout=3600.0, end=max(i.at for i in items))
    pairs = blocks.resample(random.Random(seed))
    assert [t for t, _ in pairs] == list(blocks.days)  # the calendar is the reference's
    for target, source in pairs:
        assert target.weekend == source.weekend
        assert target.date.weekday() >= 5 or not target.weekend
        moved = [shifted(i, target.start - source.start) for i in source.items]
        assert len(moved) == len(source.items)
        for old, new in zip(source.items, moved, strict=True):
            assert new.at - old.at == target.start - source.start
            was = datetime.fromtimestamp(old.at, UTC).astimezone(tz)
            now = datetime.fromtimestamp(new.at, UTC).astimezone(tz)
            if isinstance(old, Resolution):
                # the time since local midnight survives (a day of a clock change is an
                # hour shorter or longer: its last hour may spill over, or stay empty)
                since = old.shown_at - source.start
                assert new.shown_at - target.start == since
                if target.date != date(2026, 3, 8) and source.date != date(2026, 3, 8):
                    assert now.date() == target.date
                    assert (now.hour, now.minute) == (was.hour, was.minute)


def test_draws_come_from_every_day_of_a_kind() -> None:
    items = _stream(29)
    blocks = DayBlocks.split(items, "UTC", (), timeout=3600.0, end=max(i.at for i in items))
    rng = random.Random(3)
    drawn = {s.date for _ in range(50) for _, s in blocks.resample(rng)}
    assert drawn == {d.date for d in blocks.days}


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_flags_follow_the_day_their_suggestion_was_shown(zone: str) -> None:
    items = _stream(9, zone)
    blocks = DayBlocks.split(items, zone, (), timeout=3600.0, end=max(i.at for i in items))
    for day in blocks.days:
        flags = [i for i in day.items if isinstance(i, Flag)]
        shown = {i.suggestion_id for i in day.items if isinstance(i, Resolution)}
        assert flags and {f.suggestion_id for f in flags} <= shown
