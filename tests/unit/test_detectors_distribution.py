"""HistogramDrift / CategoricalDrift: quiet through diurnal mix changes, catch real shifts."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from monitor.core.detectors import (
    CategoricalDrift,
    CategoricalParams,
    HistogramDrift,
    HistogramParams,
    ScoreDrift,
)

T0 = 1_700_000_000.0


def diurnal_times(rng: np.random.Generator, days: int) -> np.ndarray:
    """Event times: ~400/h by day (8-20h), ~40/h at night."""
    out = []
    for h in range(days * 24):
        rate = 400 if 8 <= h % 24 < 20 else 40
        k = rng.poisson(rate)
        out.append(T0 + 3600 * h + np.sort(rng.random(k)) * 3600)
    return np.concatenate(out)


def night(t: np.ndarray) -> np.ndarray:
    h = ((t - T0) // 3600) % 24
    return (h < 8) | (h >= 20)


def scores(rng: np.random.Generator, t: np.ndarray, shift_at: float | None) -> np.ndarray:
    """Outpatient (mean 0.72) by day 80/20 with inpatient (mean 0.62); at night 30/70."""
    inpatient = rng.random(t.size) < np.where(night(t), 0.7, 0.2)
    mean = np.where(inpatient, 0.62, 0.72)
    if shift_at is not None:
        mean = np.where(t >= shift_at, mean - 0.15, mean)
    return np.clip(rng.normal(mean, 0.12), 0, 1)


def run(det, xs, ts) -> list[tuple[float, bool]]:  # type: ignore[no-untyped-def]
    return [(t, det.firing) for x, t in zip(xs, ts, strict=True) if det.update(x, t)]


def test_score_quiet_on_diurnal_mix_then_detects() -> None:
    rng = np.random.default_rng(0)
    t = diurnal_times(rng, 14)
    assert run(HistogramDrift(), scores(rng, t, None).tolist(), t.tolist()) == []
    shift = T0 + 10 * 86400 + 10 * 3600
    events = run(HistogramDrift(), scores(rng, t, shift).tolist(), t.tolist())
    assert events and events[0][1]
    assert shift < events[0][0] < shift + 6 * 3600


def test_unbounded_quantile_bins() -> None:
    rng = np.random.default_rng(1)
    xs = rng.lognormal(3.0, 1.0, 60_000)
    xs[40_000:] *= 1.8
    det = HistogramDrift(bounds=None, clock="count", half_life=1000, warmup=5000)
    events = [(i, det.firing) for i, x in enumerate(xs.tolist()) if det.update(x)]
    assert events and events[0][1] and 40_000 < events[0][0] < 44_000
    assert len(det.to_state()["edges"]) == 9


def test_categorical_quiet_on_diurnal_mix_then_detects() -> None:
    rng = np.random.default_rng(2)
    t = diurnal_times(rng, 14)
    cats = np.array(["outpatient", "inpatient", "emergency", "telehealth"])
    p_day = [0.6, 0.2, 0.1, 0.1]
    p_night = [0.2, 0.5, 0.3, 0.0]
    idx = np.where(night(t), rng.choice(4, t.size, p=p_night), rng.choice(4, t.size, p=p_day))
    codes = cats[idx].tolist()
    assert run(CategoricalDrift(), codes, t.tolist()) == []
    shift = T0 + 10 * 86400
    moved = (t >= shift) & (idx == 0) & (rng.random(t.size) < 0.4)  # ~20 points out → inpatient
    idx2 = np.where(moved, 1, idx)
    events = run(CategoricalDrift(), cats[idx2].tolist(), t.tolist())
    assert events and events[0][1] and shift < events[0][0] < shift + 18 * 3600


def test_categorical_caps_categories() -> None:
    det = CategoricalDrift(clock="count", warmup=500, top_k=5, max_tracked=10)
    for i in range(2000):
        det.update(f"c{i % 50}")
    assert len(det.categories) == 5
    assert len(det.to_state()["base"]) == 6


def test_time_clock_requires_t() -> None:
    det = HistogramDrift()
    with pytest.raises(ValueError):
        det.update(0.5)


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        (HistogramParams, {"bins": 1}),
        (HistogramParams, {"bounds": (1.0, 0.0)}),
        (HistogramParams, {"bounds": None, "warmup": 100}),
        (HistogramParams, {"clock": "wall"}),
        (CategoricalParams, {"top_k": 30, "max_tracked": 20}),
        (CategoricalParams, {"min_effect": 1.5}),
        (CategoricalParams, {"resolve_ratio": 1.0}),
    ],
)
def test_params_validation(model: type, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model(**kwargs)


def test_score_drift_quiet_on_diurnal_mix_and_faster_on_level_shifts() -> None:
    """ScoreDrift adds a level CUSUM to the PSI: same quiet through the day/night mix,
    earlier on a sudden level shift."""
    rng = np.random.default_rng(0)
    t = diurnal_times(rng, 14)
    assert run(ScoreDrift(), scores(rng, t, None).tolist(), t.tolist()) == []
    shift = T0 + 10 * 86400 + 10 * 3600
    xs = scores(rng, t, shift).tolist()
    both = run(ScoreDrift(), xs, t.tolist())
    psi = run(HistogramDrift(), xs, t.tolist())
    assert both and both[0][1] and psi and psi[0][1]
    assert shift < both[0][0] < psi[0][0]
