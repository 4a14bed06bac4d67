"""All detectors: snapshot/restore equivalence, JSON-native compact state, doctests."""

from __future__ import annotations

import doctest
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import monitor.core.detectors.base
import monitor.core.detectors.bernoulli
import monitor.core.detectors.distribution
import monitor.core.detectors.funnel
import monitor.core.detectors.numeric
import monitor.core.detectors.score
import monitor.core.detectors.silence
from monitor.core.detectors import (
    BernoulliCUSUM,
    CategoricalDrift,
    Detector,
    FunnelOutlier,
    HistogramDrift,
    MeanShiftCUSUM,
    ScoreDrift,
    SilenceDetector,
)

T0 = 1_700_000_000.0
N = 6000


def _bern(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    p = np.r_[np.full(3000, 0.6), np.full(3000, 0.45)]
    return [(bool(x),) for x in rng.random(N) < p]


def _bern_weekend(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    """One a minute from a Tuesday evening: a drop on Friday, then a weekend to learn."""
    p = np.r_[np.full(3000, 0.6), np.full(3000, 0.45)]
    return [(bool(x), T0 + 60.0 * i) for i, x in enumerate(rng.random(N) < p)]


def _mean(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    x = rng.beta(1, 5, N)
    x[3500:] += 0.1
    return [(float(v),) for v in x]


def _hist(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    x = np.clip(rng.normal(0.7, 0.1, N), 0, 1)
    x[4000:] -= 0.2
    return [(float(v), T0 + 30.0 * i) for i, v in enumerate(x)]


def _hist_q(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    x = rng.lognormal(0, 1, N)
    x[4000:] *= 2
    return [(float(v), None) for v in x]


def _cat(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    idx = rng.choice(5, N, p=[0.4, 0.3, 0.1, 0.1, 0.1])
    idx[4000:] = rng.choice(5, N - 4000, p=[0.2, 0.5, 0.1, 0.1, 0.1])
    return [(f"c{i}", T0 + 30.0 * j) for j, i in enumerate(idx)]


def _silence(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    """Six weeks in 10-minute steps (ticks when no event), a 5-hour outage in week 5."""
    out: list[tuple[Any, ...]] = []
    t = T0
    for i in range(N):
        t += 600.0
        if 5000 <= i < 5030:
            out.append((t, 0))
        else:
            out.append((t, int(rng.poisson(30))))
    return out


def _funnel(rng: np.random.Generator) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in range(60):
        counts = {f"s{k}": (int(rng.binomial(500, 0.6)), 500) for k in range(12)}
        if 20 <= i < 40:
            counts["s3"] = (200, 500)
        out.append((counts,))
    return out


CASES: dict[str, tuple[Callable[[], Detector], Callable[[np.random.Generator], list]]] = {
    "bernoulli": (lambda: BernoulliCUSUM(warmup=1000), _bern),
    "bernoulli_weekend": (lambda: BernoulliCUSUM(warmup=1000, strata="weekend"), _bern_weekend),
    "mean": (lambda: MeanShiftCUSUM(warmup=1000), _mean),
    "hist": (
        lambda: HistogramDrift(warmup=1000, warmup_seconds=3600, half_life=3600, min_count=50),
        _hist,
    ),
    "hist_q": (lambda: HistogramDrift(bounds=None, clock="count", half_life=300), _hist_q),
    "score": (
        lambda: ScoreDrift(warmup=1000, warmup_seconds=3600, half_life=3600, mean_warmup=1000),
        _hist,
    ),
    "cat": (
        lambda: CategoricalDrift(warmup=1000, warmup_seconds=3600, half_life=3600, min_count=50),
        _cat,
    ),
    "silence": (lambda: SilenceDetector(), _silence),
    "funnel": (lambda: FunnelOutlier(), _funnel),
}


def trace(det: Detector, stream: list[tuple[Any, ...]]) -> list[tuple[bool, bool, float, float]]:
    return [(det.update(*args), det.firing, det.statistic, det.value) for args in stream]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_alarms(case: str) -> None:
    make, gen = CASES[case]
    out = trace(make(), gen(np.random.default_rng(0)))
    assert any(changed and firing for changed, firing, _, _ in out)


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=6, deadline=None)
@given(frac=st.floats(0.0, 1.0), seed=st.integers(0, 3))
def test_snapshot_restore_is_exact(case: str, frac: float, seed: int) -> None:
    make, gen = CASES[case]
    stream = gen(np.random.default_rng(seed))
    cut = int(frac * len(stream))
    full = trace(make(), stream)
    det = make()
    head = trace(det, stream[:cut])
    blob = json.dumps(det.to_state(), allow_nan=False)
    restored = type(det).from_state(json.loads(blob))
    assert restored.to_state() == det.to_state()
    tail = trace(restored, stream[cut:])
    assert head + tail == full


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_is_compact_json(case: str) -> None:
    make, gen = CASES[case]
    det = make()
    sizes = []
    for args in gen(np.random.default_rng(1)):
        det.update(*args)
        if len(sizes) % 500 == 0:
            sizes.append(len(json.dumps(det.to_state(), allow_nan=False)))
        else:
            sizes.append(0)
    final = len(json.dumps(det.to_state(), allow_nan=False))
    # steady state, and the transient peak while warm-up samples are held
    limit = {"silence": 4000, "cat": 1200, "score": 1800}.get(case, 800)
    peak = {"hist_q": 5000, "mean": 3500, "cat": 2500, "score": 4300}.get(case, limit)
    assert final <= limit and max(sizes) <= peak


def test_from_state_rejects_other_detector() -> None:
    with pytest.raises(ValueError):
        BernoulliCUSUM.from_state(MeanShiftCUSUM().to_state())


@pytest.mark.parametrize(
    "module",
    [
        monitor.core.detectors.base,
        monitor.core.detectors.bernoulli,
        monitor.core.detectors.distribution,
        monitor.core.detectors.funnel,
        monitor.core.detectors.numeric,
        monitor.core.detectors.score,
        monitor.core.detectors.silence,
    ],
)
def test_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0


def test_snapshot_from_before_the_weekend_fields_restores() -> None:
    """State written before the weekend reference existed: no weekend fields in it."""
    make, gen = CASES["bernoulli"]
    stream = gen(np.random.default_rng(5))
    det = make()
    trace(det, stream[:2000])
    old = det.to_state()
    for key in ("wn", "wsum", "wp0", "rewma"):
        del old[key]
    restored = BernoulliCUSUM.from_state(json.loads(json.dumps(old)))
    assert restored.reference == det.reference and restored.weekend_reference is None
    assert trace(restored, stream[2000:]) == trace(det, stream[2000:])
