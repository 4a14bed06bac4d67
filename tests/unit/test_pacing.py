"""Accelerated time for the demo and the publisher's player."""

from __future__ import annotations

from monitor.pacing import Pacer, occurred_at


def test_pacer_sleeps_until_event_time_catches_up_with_the_wall() -> None:
    now = [100.0]
    naps: list[float] = []

    def sleep(s: float) -> None:
        naps.append(s)
        now[0] += s

    pacer = Pacer(3600.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait(1_000_000.0)  # the first event starts the clock
    pacer.wait(1_000_000.0 + 1800)  # half an event hour: half a wall second
    now[0] += 2.0  # a slow stretch: 2 s of wall for nothing
    pacer.wait(1_000_000.0 + 3600)  # behind the wall already: no sleep
    pacer.wait(1_000_000.0 + 3 * 3600)  # 3 s from the start, 2.5 + 0.5 s passed
    assert naps == [0.5, 0.5]


def test_speed_zero_never_sleeps() -> None:
    pacer = Pacer(0.0, sleep=lambda s: (_ for _ in ()).throw(AssertionError(s)))
    pacer.wait(1.0)
    pacer.wait(1e9)


def test_occurred_at_reads_the_event_time_or_zero() -> None:
    line = b'{"type":"suggestion","occurred_at":"2026-02-02T05:00:00Z","event_id":"e"}'
    assert occurred_at(line) == 1770008400.0
    assert occurred_at(b'{"occurred_at":"2026-02-02T00:00:00-05:00"}') == 1770008400.0
    assert occurred_at(b"not json") == 0.0
    assert occurred_at(b'{"occurred_at":"yesterday at noon"}') == 0.0
