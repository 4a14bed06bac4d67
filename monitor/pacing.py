"""Accelerated time: hold a stream to ``speed`` event seconds per wall second.

Used by ``vitals demo --speed`` (the replay) and ``vitals publish --speed`` (the
compose stack's player).

>>> naps = []
>>> pacer = Pacer(3600.0, clock=lambda: 0.0, sleep=naps.append)
>>> pacer.wait(1000.0), pacer.wait(1000.0 + 7200.0)
(None, None)
>>> naps
[2.0]
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

_OCCURRED = re.compile(rb'"occurred_at"\s*:\s*"([^"]{10,40})"')


class Pacer:
    """Sleep so that event time advances at most ``speed`` seconds per wall second
    from the first event time seen (``speed`` 0: never sleep)."""

    def __init__(
        self,
        speed: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.speed = speed
        self._clock, self._sleep = clock, sleep
        self._start: tuple[float, float] | None = None  # (event time, wall time)

    def wait(self, event_time: float) -> None:
        if self.speed <= 0 or event_time <= 0:
            return
        if self._start is None:
            self._start = (event_time, self._clock())
            return
        event0, wall0 = self._start
        ahead = (event_time - event0) / self.speed - (self._clock() - wall0)
        if ahead > 0:
            self._sleep(ahead)


def occurred_at(line: bytes) -> float:
    """The ``occurred_at`` of a JSON event line as epoch seconds (0 when absent or bad:
    the publisher reports the line itself)."""
    m = _OCCURRED.search(line)
    if not m:
        return 0.0
    try:
        return datetime.fromisoformat(m.group(1).decode().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
