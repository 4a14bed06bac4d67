"""SilenceDetector: implausible gaps given the hour-of-week profile; quiet nights."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pytest
from pydantic import ValidationError

from monitor.core.detectors import SilenceDetector, SilenceParams
from monitor.core.detectors.silence import hour_of_week

MONDAY = 1_699_833_600.0  # 2023-11-13 00:00 UTC, a Monday


def rate_per_hour(t: float) -> float:
    h = int((t - MONDAY) // 3600) % 168
    day, hour = divmod(h, 24)
    if day >= 5:
        return 5.0 if 9 <= hour < 17 else 0.0  # weekends: a trickle
    return 120.0 if 8 <= hour < 18 else (10.0 if 6 <= hour < 22 else 0.05)


def simulate(
    det: SilenceDetector,
    rng: np.random.Generator,
    hours: int,
    outage: tuple[float, float] | None = None,
    rate: Callable[[float], float] = rate_per_hour,
) -> list[tuple[float, bool]]:
    events = []
    for h in range(hours):
        start = MONDAY + 3600 * h
        for m in range(0, 60, 5):  # 5-minute ticks
            t = start + 60 * m
            k = rng.poisson(rate(t) / 12)
            if outage and outage[0] <= t < outage[1]:
                k = 0
            if k and det.tick(t + 1, int(k)):
                events.append((t, det.firing))
            if det.tick(t + 300, 0):
                events.append((t + 300, det.firing))
    return events


def test_hour_of_week_monday() -> None:
    assert hour_of_week(int(MONDAY // 3600)) == 0


def test_quiet_on_nights_and_weekends() -> None:
    rng = np.random.default_rng(0)
    assert simulate(SilenceDetector(), rng, 168 * 5) == []


def test_detects_outage_and_resolves() -> None:
    rng = np.random.default_rng(1)
    start = MONDAY + 3 * 7 * 86400 + 2 * 86400 + 10 * 3600  # a Wednesday 10:00, week 4
    det = SilenceDetector()
    events = simulate(det, rng, 168 * 4, outage=(start, start + 3 * 3600))
    assert len(events) == 2
    (t_on, on), (t_off, off) = events
    assert on and not off
    assert start + 1800 <= t_on <= start + 3600
    assert t_off >= start + 3 * 3600
    assert det.profile[hour_of_week(int(start // 3600))] == pytest.approx(120, rel=0.3)


def test_outage_at_night_is_not_flagged_but_morning_is() -> None:
    rng = np.random.default_rng(2)
    start = MONDAY + 3 * 7 * 86400 + 86400 + 0 * 3600  # Tuesday 00:00
    events = simulate(SilenceDetector(), rng, 168 * 4, outage=(start, start + 9 * 3600))
    assert events and events[0][1]
    assert events[0][0] >= start + 6 * 3600  # only once the morning volume is missing


def test_no_alarm_before_warmup() -> None:
    det = SilenceDetector()
    for m in range(0, 24 * 60):
        det.tick(MONDAY + 60 * m, 10)
    assert det.tick(MONDAY + 86400 * 2, 0) is False


@pytest.mark.parametrize("kwargs", [{"p_alarm": 0.0}, {"alpha": 0}, {"volume_margin": 2.0},
                                    {"min_gap": -1}, {"warmup_hours": 0}])  # fmt: skip
def test_params_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SilenceParams(**kwargs)


def test_a_holiday_staffed_like_a_sunday_is_not_an_outage() -> None:
    """Thanksgiving (Thursday 2023-11-23) with Sunday's trickle of events: expected as
    the Sunday before, and not learned; a real outage on the next Thursday alarms."""
    thanksgiving = MONDAY + 10 * 86400

    def rate(t: float) -> float:  # the holiday runs at the rate of the Sunday before
        return rate_per_hour(t - 4 * 86400 if 0 <= t - thanksgiving < 86400 else t)

    plain = simulate(SilenceDetector(), np.random.default_rng(7), 11 * 24, rate=rate)
    assert any(firing and thanksgiving <= t < thanksgiving + 86400 for t, firing in plain)

    det = SilenceDetector(holidays=(date(2023, 11, 23),))
    thursday_10am = hour_of_week(int((thanksgiving + 10 * 3600) // 3600))
    events = simulate(det, np.random.default_rng(7), 11 * 24, rate=rate)
    assert not [t for t, firing in events if firing]
    assert det.profile[thursday_10am] > 90  # ~120 a weekday; learning the holiday gives ~62

    outage = (MONDAY + 17 * 86400 + 9 * 3600, MONDAY + 17 * 86400 + 12 * 3600)
    events = simulate(det, np.random.default_rng(8), 18 * 24, outage, rate)
    assert any(firing and outage[0] <= t < outage[1] for t, firing in events)


def test_suggestions_expiring_during_an_outage_do_not_end_it() -> None:
    """A site goes silent; the suggestions shown just before it expire hours later,
    inside the silence. An expiry is the absence of an answer, not activity: the
    alert must hold until events come back."""
    from monitor.core.assessor import Assessor
    from monitor.core.config import MonitorConfig
    from monitor.core.records import Resolution, SeriesKey
    from monitor.core.series import SeriesState
    from monitor.core.signals import CONFIG_BLOCKS

    only = {s: {"enabled": s == "no_data"} for s in CONFIG_BLOCKS}
    factory = Assessor(MonitorConfig(signals=only))._factory
    state = SeriesState(SeriesKey("f", "*", "a"))  # a site series: no_data runs there
    rng = np.random.default_rng(4)
    outage = MONDAY + 3 * 7 * 86400 + 2 * 86400 + 10 * 3600  # Wednesday 10:00, week 4
    expiry = outage + 2 * 3600  # shown at 06:00 (4 h decision timeout), expires at 12:00
    alerts = []

    def resolution(i: int, t: float, status: str) -> Resolution:
        return Resolution(f"s{i}", "f", "v", "a", "other", t - 60, t, status, None, None,
                          None, None)  # fmt: skip

    i = 0
    for h in range(168 * 3 + 2 * 24 + 18):
        for m in range(0, 60, 5):
            t = MONDAY + 3600 * h + 60 * m
            silent = outage <= t < outage + 6 * 3600
            for _ in range(0 if silent else rng.poisson(rate_per_hour(t) / 12)):
                i += 1
                alerts += state.observe(resolution(i, t + 1, "accepted"), factory)
            if t == expiry:
                alerts += state.observe(resolution(0, t + 2, "expired"), factory)
            alerts += state.tick(t + 300, factory, 3600.0, 86400.0)
    assert [a.signal for a in alerts] == ["no_data", "no_data"]
    fired, resolved = alerts
    assert fired.state == "firing" and outage < fired.at < expiry
    assert resolved.state == "resolved" and resolved.at >= outage + 6 * 3600
