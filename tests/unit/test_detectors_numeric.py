"""MeanShiftCUSUM: level shifts with a minimum effect on skewed, over-dispersed metrics."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from monitor.core.detectors import MeanShiftCUSUM, MeanShiftParams


def run(det: MeanShiftCUSUM, xs: list[float]) -> list[tuple[int, bool]]:
    return [(i, det.firing) for i, x in enumerate(xs) if det.update(x)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quiet_on_skewed_burden(seed: int) -> None:
    rng = np.random.default_rng(seed)
    zero = rng.random(150_000) < 0.4
    xs = np.where(zero, 0.0, rng.beta(0.7, 4.0, 150_000)).tolist()
    assert run(MeanShiftCUSUM(), xs) == []


def test_detects_burden_rise_and_resolves() -> None:
    rng = np.random.default_rng(3)
    n = 30_000
    mean_shift = np.r_[np.zeros(10_000), np.full(10_000, 0.06), np.zeros(10_000)]
    xs = np.clip(rng.beta(1.0, 5.0, n) + mean_shift, 0, 1).tolist()
    events = run(MeanShiftCUSUM(), xs)
    assert events[0][1] and 10_000 < events[0][0] < 11_000
    assert not events[1][1] and events[1][0] > 20_000


def test_decision_time_log_scale_with_clustering() -> None:
    """Clinicians differ (per-session log-mean offsets): stays quiet, then catches +60%."""
    rng = np.random.default_rng(4)
    parts, total = [], 0
    while total < 120_000:
        k = int(rng.integers(10, 40))
        parts.append(rng.lognormal(np.log(40) + rng.normal(0, 0.3), 0.9, k))
        total += k
    xs = np.concatenate(parts)
    det = MeanShiftCUSUM(transform="log")
    assert run(det, xs.tolist()) == []
    assert det.reference == pytest.approx(40, rel=0.15)
    xs2 = xs.copy()
    xs2[80_000:] *= 1.6
    events = run(MeanShiftCUSUM(transform="log"), xs2.tolist())
    assert events and events[0][1] and 80_000 < events[0][0] < 82_000


def test_below_min_effect_is_quiet() -> None:
    rng = np.random.default_rng(5)
    xs = rng.normal(0.0, 1.0, 300_000)
    xs[2000:] += 0.1  # 0.1 SD < min_effect 0.25 SD
    assert run(MeanShiftCUSUM(mu0=0.0, sigma0=1.0, phi=1.0, warmup=0), xs.tolist()) == []


def test_absolute_min_effect_and_outlier_robustness() -> None:
    det = MeanShiftCUSUM(mu0=0.2, sigma0=0.1, phi=1.0, warmup=0, min_effect=0.05, unit="abs")
    rng = np.random.default_rng(6)
    xs = rng.normal(0.2, 0.1, 5000).tolist()
    xs[3000:3003] = [50.0, 60.0, 70.0]  # a few absurd values are winsorized
    assert run(det, xs) == []
    assert det.update(None) is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sigma0": 0.0},
        {"min_effect": -1.0},
        {"transform": "sqrt"},
        {"warmup": 50},
        {"multipliers": ()},
        {"clip": 0.5},
    ],
)
def test_params_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MeanShiftParams(**kwargs)
