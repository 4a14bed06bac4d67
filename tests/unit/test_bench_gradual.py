"""The evidence bound of bench/bench_gradual.py: its cumulative-sum scans equal a direct
computation, and weekends are compared with weekends."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_gradual import BASELINE_DAYS, MIN_N, RAMP_HOURS, STEP_HOURS, evidence

START = 1_770_008_400.0  # 2026-02-02 05:00 UTC: Monday 00:00 at -05:00
OFFSET = -5 * 3600.0


def _weekend(t: np.ndarray) -> np.ndarray:
    days = (t + OFFSET) // 86400
    return (days + 3) % 7 >= 5


def _direct(t, x, end):
    """Step and ramp z at *end*, one window at a time, without cumulative sums."""
    base = t < START + BASELINE_DAYS * 86400
    we = _weekend(t)
    p = np.where(we, x[base & we].mean(), x[base & ~we].mean())
    step = ramp = -np.inf
    for h in STEP_HOURS:
        m = (t >= end - h * 3600) & (t <= end)
        if m.sum() >= MIN_N:
            step = max(step, (p[m] - x[m]).sum() / np.sqrt((p[m] * (1 - p[m])).sum()))
    for h in RAMP_HOURS:
        s = end - h * 3600
        m = (t >= s) & (t <= end)
        if m.sum() >= MIN_N:
            w = (t[m] - s) / 3600
            num = (w * (p[m] - x[m])).sum()
            ramp = max(ramp, num / np.sqrt((w * w * p[m] * (1 - p[m])).sum()))
    return step, ramp


def test_scans_equal_a_direct_computation() -> None:
    rng = np.random.default_rng(7)
    t = np.sort(START + rng.uniform(0, 20 * 86400, 30_000))
    drop = np.clip((t - START - 12 * 86400) / (5 * 86400), 0, 1) * 0.1  # a ramp from day 12
    x = (rng.uniform(size=t.size) < 0.6 - drop).astype(float)
    ev = evidence(t, x, START, OFFSET)
    for k in (3, 200, 500, len(ev["ends"]) - 1):
        step, ramp = _direct(t, x, ev["ends"][k])
        assert ev["step"][k] == pytest.approx(step, rel=1e-6)
        assert ev["ramp"][k] == pytest.approx(ramp, rel=1e-6)
    # the injected decline is found, and it grows
    assert ev["ramp"][-1] > 10 > ev["ramp"][3]


def test_weekends_are_compared_with_weekends() -> None:
    """Weekends 20 points below weekdays, stationary: no evidence; pooled, there would be."""
    t = START + np.arange(0, 20 * 86400, 60.0)
    we = _weekend(t)
    # every 5-event block holds exactly 3 (weekdays) or 2 (weekends) acceptances
    x = np.where(we, np.arange(t.size) % 5 < 2, np.arange(t.size) % 5 < 3).astype(float)
    ev = evidence(t, x, START, OFFSET)
    assert np.max(ev["step"]) < 0.5
    assert np.max(ev["ramp"]) < 0.5
    pooled = x[t < START + BASELINE_DAYS * 86400].mean()
    weekend_z = (pooled - 0.4) * np.sqrt(2880 / (pooled * (1 - pooled)))  # 48 h of weekend
    assert weekend_z > 10
