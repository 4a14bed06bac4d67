"""Expected delays from the scan's statistic, and the calibration modules' examples."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy.stats import poisson

import monitor.calibrate.budget
import monitor.calibrate.days
import monitor.calibrate.delays
import monitor.calibrate.thresholds
from monitor.calibrate.delays import Row, needed, onset_delays, weekly_profile
from monitor.core.signals import ScanParams
from monitor.stats import garwood

RATE = ScanParams(direction="down", min_effect=0.03)
MEAN = ScanParams(direction="up", min_effect=0.03, tau_floor=0.01)


@pytest.mark.parametrize(
    "module",
    [monitor.calibrate.budget, monitor.calibrate.days, monitor.calibrate.delays,
     monitor.calibrate.thresholds],
)  # fmt: skip
def test_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0


def test_a_mean_shift_needs_what_the_pooled_z_says() -> None:
    row = Row("correction_burden", 5000.0, 0.12, 0.01, np.full(168, 10.0))
    n2 = needed(row, 0.05, 5.0, MEAN)
    assert 0.05 / math.sqrt(0.01 * (1 / 5000 + 1 / n2)) == pytest.approx(5.0)


def test_delays_shrink_with_volume_and_a_lower_threshold_and_wait_for_weekdays() -> None:
    weekday = np.tile(np.r_[np.zeros(7), np.full(12, 30.0), np.zeros(5)], 7)
    weekday[5 * 24 :] = 0.0  # nothing on weekends
    row = Row("acceptance_rate", 30.0 * 12 * 5 * 4, 0.6, 0.0, weekday)
    at_5, at_4 = (onset_delays(row, -0.05, z, RATE) for z in (5.0, 4.0))
    assert np.all(at_4 <= at_5) and np.median(at_4) < np.median(at_5)
    busier = Row("acceptance_rate", row.n * 2, 0.6, 0.0, weekday * 2)
    assert np.median(onset_delays(busier, -0.05, 5.0, RATE)) < np.median(at_5)
    friday_evening, monday_morning = 4 * 24 + 18, 7
    assert at_5[friday_evening] > at_5[monday_morning] + 2 * 86400 - 3600


def test_a_change_below_the_gate_is_never_seen() -> None:
    row = Row("acceptance_rate", 1e5, 0.6, 0.0, np.full(168, 100.0))
    assert math.isinf(needed(row, -0.01, 5.0, RATE))  # gate 0.5 x 0.03
    assert np.all(np.isinf(onset_delays(row, -0.01, 5.0, RATE)))


def test_weekly_profile_places_hours_on_the_week() -> None:
    monday_9_utc = (4 * 24 + 9) + 0  # 1970-01-05 09:00 UTC was a Monday
    prof = weekly_profile([(monday_9_utc, 20.0), (monday_9_utc + 168, 40.0)], 2 * 168)
    assert prof[9] == 30.0 and prof.sum() == 30.0


@pytest.mark.parametrize("k", [0, 1, 2, 5, 30])
def test_garwood_is_exact(k: int) -> None:
    low, high = garwood(k, 0.05)
    assert poisson.cdf(k, high) == pytest.approx(0.025)
    if k:
        assert poisson.sf(k - 1, low) == pytest.approx(0.025)
    else:
        assert low == 0.0 and high == pytest.approx(-math.log(0.025))
