"""No-data detection: a normally busy (feature, site) goes implausibly silent.

An hour-of-week profile (168 buckets, UTC) of expected events per hour is
learned by exponential smoothing of the completed hours' counts (running mean
over the first weeks, then weight ``alpha``). On every event and clock tick the
detector integrates the expected count ``Lambda`` over the current gap since
the last event, scaled by ``volume_margin`` (assume only this fraction of the
usual volume, for quiet holidays and bursty traffic). Under a Poisson model
the probability of the silence is ``exp(-Lambda)``; the detector fires when it
drops below ``p_alarm`` and the gap is at least ``min_gap`` seconds, and
resolves on the next event. Night hours with an expected volume near zero add
almost nothing to ``Lambda``, so they never make a gap implausible. Hours spent
in an alarm are not learned (an outage must not teach the profile silence).
Nor are ``holidays`` (local dates in ``timezone``): on a holiday the detector
expects the volume of the same hour on the Sunday before, so a clinic closed for
Thanksgiving is not an outage.

References
----------
Lambert, D., Liu, C. (2006). Adaptive thresholds: monitoring streams of
network counts. *JASA* 101, 78-88.
"""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

from pydantic import Field

from monitor.core.detectors.base import ClockDetector, LocalTimeParams
from monitor.core.durations import Seconds
from monitor.core.timezones import local_date

__all__ = ["SilenceDetector", "SilenceParams", "hour_of_week"]

_WEEK = 168
_EPOCH_OFFSET = 72  # 1970-01-01 was a Thursday: bucket 0 = Monday 00:00 UTC


def hour_of_week(hour: int) -> int:
    """Bucket (0 = Monday 00:00-01:00 UTC) of an absolute hour index ``floor(t / 3600)``."""
    return (hour + _EPOCH_OFFSET) % _WEEK


class SilenceParams(LocalTimeParams):
    """Parameters of :class:`SilenceDetector`."""

    p_alarm: float = Field(1e-6, gt=0.0, lt=0.5)
    min_gap: Seconds = Field(1800.0, ge=0.0)
    """Seconds of silence below which the detector never fires."""
    alpha: float = Field(0.2, gt=0.0, le=1.0)
    """Smoothing weight of a new week's count for an hour-of-week bucket."""
    volume_margin: float = Field(0.5, gt=0.0, le=1.0)
    warmup_hours: int = Field(168, ge=1)
    """Hours of history before the detector may fire."""


class SilenceDetector(ClockDetector):
    """Implausible silence given the learned hour-of-week volume profile.

    Call ``tick(t, events)``: with ``events >= 1`` for events at event time
    ``t`` (epoch seconds), with ``events=0`` on each clock tick (watermark
    advance). Returns True when ``firing`` changes (it fires only on ticks or
    events, resolves on the next event). ``statistic`` is ``Lambda`` (expected
    events in the gap, = -ln P(silence)), ``threshold`` is ``-ln(p_alarm)``,
    ``value`` the gap in seconds.

    Examples
    --------
    >>> det = SilenceDetector()
    >>> t0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600
    >>> for minute in range(2 * 7 * 24 * 60):          # two weeks, 10 events a minute
    ...     _ = det.tick(t0 + 60 * minute, 10)
    >>> last = t0 + 60 * (2 * 7 * 24 * 60 - 1)
    >>> det.tick(last + 600), det.tick(last + 1800)
    (False, True)
    >>> det.tick(last + 1900, 1), det.firing
    (True, False)
    """

    name = "silence"
    params_model = SilenceParams
    _state_fields = ("_profile", "_hours", "_hour", "_count", "_last", "_tick", "_lam",
                     "_firing")  # fmt: skip

    params: SilenceParams

    def __init__(self, params: SilenceParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        self._profile: list[float] = [0.0] * _WEEK
        self._hours = 0  # completed hours learned
        self._hour: int | None = None  # absolute hour being counted
        self._count = 0.0
        self._last: float | None = None  # last event time
        self._tick: float | None = None  # time up to which lam is integrated
        self._lam = 0.0
        self._restored()

    def _restored(self) -> None:
        self._zone = ZoneInfo(self.params.timezone)
        self._holidays = frozenset(self.params.holidays)
        self._memo = (-1, -1, False)  # (hour, its bucket, a holiday)

    def _bucket(self, hour: int) -> tuple[int, bool]:
        """Profile bucket whose volume ``hour`` should have, and whether it is a holiday
        (then the bucket is the same hour on the Sunday before)."""
        if not self._holidays:
            return hour_of_week(hour), False
        if self._memo[0] != hour:
            day = local_date(hour * 3600.0, self._zone)
            if day in self._holidays:
                self._memo = (hour, hour_of_week(hour - 24 * ((day.weekday() + 1) % 7)), True)
            else:
                self._memo = (hour, hour_of_week(hour), False)
        return self._memo[1], self._memo[2]

    def _roll(self, hour: int) -> None:
        """Close the hours before ``hour`` into the profile."""
        if self._hour is None:
            self._hour = hour
            return
        if hour <= self._hour:
            return
        steps = min(hour - self._hour, _WEEK)
        start = hour - steps
        count = self._count if hour - self._hour <= _WEEK else 0.0
        for h in range(start, hour):
            c = count if h == self._hour else 0.0
            b, holiday = self._bucket(h)
            if not self._firing and not holiday:
                a = max(self.params.alpha, 1.0 / (1 + self._hours // _WEEK))
                self._profile[b] += a * (c - self._profile[b])
                self._hours += 1
        self._hour = hour
        self._count = 0.0

    def _integrate(self, upto: float) -> None:
        """Add the expected count between ``self._tick`` and ``upto`` to ``lam``."""
        t = self._tick
        if t is None or upto <= t:
            return
        lam = 0.0
        while t < upto:
            hour = int(t // 3600)
            end = min(upto, (hour + 1) * 3600.0)
            lam += self._profile[self._bucket(hour)[0]] * (end - t) / 3600.0
            t = end
            if lam > 1e6:
                break
        self._lam += lam * self.params.volume_margin
        self._tick = upto

    def tick(self, t: float, events: int = 0) -> bool:
        """Events (``events > 0``) or a clock tick (``events == 0``) at time ``t``."""
        t = float(t)
        if self._tick is not None and t < self._tick:
            if events > 0:  # late event: count it, it ends any alarm
                self._count += events if self._hour is not None else 0
                return self._resume(self._tick)
            return False
        self._roll(int(t // 3600))
        self._integrate(t)
        if events > 0:
            self._count += events
            return self._resume(t)
        if self._tick is None:
            self._tick = t
        if (
            not self._firing
            and self._last is not None
            and self._hours >= self.params.warmup_hours
            and t - self._last >= self.params.min_gap
            and self._lam >= self.threshold
        ):
            self._firing = True
            return True
        return False

    def _resume(self, t: float) -> bool:
        self._last = t
        self._tick = t
        self._lam = 0.0
        if self._firing:
            self._firing = False
            return True
        return False

    @property
    def statistic(self) -> float:
        """Expected events (after ``volume_margin``) in the current gap: -ln P(silence)."""
        return self._lam

    @property
    def threshold(self) -> float:
        return -math.log(self.params.p_alarm)

    @property
    def value(self) -> float:
        """Seconds since the last event, up to the last tick."""
        if self._last is None or self._tick is None:
            return 0.0
        return self._tick - self._last

    @property
    def profile(self) -> list[float]:
        """Expected events per hour for each hour of week (0 = Monday 00:00 UTC)."""
        return list(self._profile)
