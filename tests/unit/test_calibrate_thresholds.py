"""Threshold search: on synthetic nulls the thresholds found meet the budget."""

from __future__ import annotations

import math
from statistics import median

import numpy as np
import pytest

from monitor.calibrate.record import Excursions
from monitor.calibrate.thresholds import MIN_PEAKS, Tail, allot


def _tail_peaks(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Peaks above 3 with P(peak >= c) = exp(-beta (c^2 - 9) / 2)."""
    return np.sqrt(9.0 + rng.exponential(2.0 / beta, size=n))


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_the_tail_threshold_meets_its_target_on_a_known_null(beta: float) -> None:
    per_resample, resamples, target = 30.0, 12, 0.05  # 0.6 alarms in all: a far tail
    ratios = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        peaks = _tail_peaks(rng, rng.poisson(per_resample * resamples), beta)
        z, method = Tail.fit(peaks, resamples, 3.0).threshold(target, floor=3.5)
        assert method == "tail"
        truth = per_resample * math.exp(-beta * (z * z - 9.0) / 2.0)
        ratios.append(truth / target)
    # the rate at the threshold, extrapolated from the top 50 peaks far beyond them
    # (ln(50 / 0.6) = 4.4 in log rate), is right within its sampling error: about a
    # factor 1.9 for one standard deviation of the fitted tail's beta (1 / sqrt(50))
    assert 0.6 <= median(ratios) <= 1.6
    assert min(ratios) >= 0.25 and max(ratios) <= 4.0
    # over-dispersion (beta 0.5) needs a higher threshold for the same rate
    assert z > (4.5 if beta == 0.5 else 3.5)


def _ar_peaks(rng: np.random.Generator, rows: int, steps: int, scale: float) -> list[float]:
    """Excursion peaks above 3 of |AR(1)| statistics, one per row (vectorized)."""
    v = np.zeros(rows)
    path = np.empty((rows, steps))
    for t in range(steps):
        v = 0.9 * v + rng.normal(0.0, scale, rows)
        path[:, t] = np.abs(v)
    out: list[float] = []
    for row in path:
        hot = row >= 3.0
        edges = np.flatnonzero(np.diff(np.concatenate([[False], hot, [False]]).astype(int)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            out.append(float(row[a:b].max()))
    return out


def _run(rng: np.random.Generator, spec: dict[tuple[str, str], tuple[int, float]]) -> Excursions:
    ex = Excursions()
    for cell, (rows, scale) in spec.items():
        ex.peaks[cell] = _ar_peaks(rng, rows, 600, scale)
        ex.rows[cell] = rows
    return ex


SPEC = {  # cell -> (rows, innovation scale: the bigger, the heavier the statistic's tail)
    ("acceptance_rate", "note-draft"): (12, 0.55),
    ("acceptance_rate", "order-suggest"): (4, 0.55),
    ("correction_burden", "note-draft"): (12, 0.75),
}


def test_allotted_thresholds_meet_the_budget_on_fresh_null_resamples() -> None:
    rng = np.random.default_rng(7)
    budget = 0.4  # per resample, two units: 0.2 each
    runs = [_run(rng, SPEC) for _ in range(15)]
    bases = dict.fromkeys(SPEC, 3.0)
    choices = allot(runs, budget, bases, {"acceptance_rate": 3.5, "correction_burden": 3.5})
    own = {(c.unit, c.feature): c for c in choices if c.feature is not None}
    assert set(own) == set(SPEC) and all(c.method == "tail" for c in own.values())
    # equal per unit, and within a unit in proportion to the rows
    assert own["correction_burden", "note-draft"].target == pytest.approx(0.2)
    assert own["acceptance_rate", "note-draft"].target == pytest.approx(0.15)
    assert own["acceptance_rate", "order-suggest"].target == pytest.approx(0.05)
    # the heavier tail gets the higher threshold
    assert own["correction_burden", "note-draft"].z > own["acceptance_rate", "note-draft"].z
    fresh = [_run(rng, SPEC) for _ in range(150)]
    alarms = [sum(sum(p >= own[cell].z for p in run.peaks[cell]) for cell in SPEC) for run in fresh]
    assert 0.5 * budget <= float(np.mean(alarms)) <= 1.6 * budget
    expected = sum(c.expected for c in own.values())
    assert expected == pytest.approx(budget, rel=0.01)


def test_a_cell_with_too_few_peaks_takes_its_units_threshold() -> None:
    rng = np.random.default_rng(1)
    runs = []
    for _ in range(10):
        ex = Excursions()
        ex.peaks["flag_rate", "busy"] = list(_tail_peaks(rng, 20, 1.0))
        ex.peaks["flag_rate", "quiet"] = [3.2] if len(runs) < MIN_PEAKS - 2 else []
        ex.rows = {("flag_rate", "busy"): 9, ("flag_rate", "quiet"): 2}
        runs.append(ex)
    choices = allot(runs, 0.1, dict.fromkeys(runs[0].rows, 3.0), {"flag_rate": 4.0})
    unit, busy, quiet = choices
    assert unit.feature is None and busy.method == "tail" and quiet.method == "pooled"
    assert quiet.z == unit.z
    assert quiet.peaks == MIN_PEAKS - 2


def test_a_unit_with_no_peaks_gets_the_nominal_tail_and_a_generous_budget_the_floor() -> None:
    ex = Excursions(peaks={("score_drift", "f"): []}, rows={("score_drift", "f"): 1})
    (unit, cell) = allot([ex, ex], 0.01, {("score_drift", "f"): 3.0}, {"score_drift": 4.0})
    assert unit.method == "nominal" and cell.method == "pooled" and cell.z == unit.z
    # one peak above 3 in two resamples, nominal tail: exp(-(z^2 - 9) / 2) / 2 = 0.01
    assert unit.z == pytest.approx(math.sqrt(9.0 + 2.0 * math.log(50.0)))
    (unit, cell) = allot([ex, ex], 5.0, {("score_drift", "f"): 3.0}, {"score_drift": 4.0})
    assert unit.z == cell.z == 4.0 and unit.method == "floor"


def test_features_share_the_units_tail_shape_at_their_own_level() -> None:
    rng = np.random.default_rng(5)
    runs = []
    for _ in range(10):
        ex = Excursions()
        ex.peaks["acceptance_rate", "noisy"] = list(_tail_peaks(rng, 80, 0.7))
        ex.peaks["acceptance_rate", "calm"] = list(_tail_peaks(rng, 20, 0.7))
        ex.rows = {("acceptance_rate", "noisy"): 5, ("acceptance_rate", "calm"): 5}
        runs.append(ex)
    unit, calm, noisy = allot(runs, 0.2, dict.fromkeys(runs[0].rows, 3.0),
                              {"acceptance_rate": 4.0})  # fmt: skip
    assert calm.method == noisy.method == "tail" and calm.target == noisy.target == 0.1
    assert noisy.z > unit.z > calm.z  # same shape: 4 times the excursions, a higher z
    for c, n in ((calm, 20), (noisy, 80)):  # each meets its target on the true tail
        truth = n * math.exp(-0.7 * (c.z**2 - 9.0) / 2.0)
        assert 0.4 * c.target <= truth <= 2.5 * c.target
