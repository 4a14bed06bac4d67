"""Per-series detectors and the panel's modules: exact snapshot/restore, compact JSON
state, doctests."""

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
import monitor.core.detectors.funnel
import monitor.core.detectors.glr
import monitor.core.detectors.silence
import monitor.core.panel
import monitor.core.timegrid
from monitor.core.detectors import (
    ClockDetector,
    CrossSectionalDetector,
    Detector,
    FunnelOutlier,
    SilenceDetector,
)

T0 = 1_700_000_000.0
N = 6000


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
    "silence": (lambda: SilenceDetector(), _silence),
    "funnel": (lambda: FunnelOutlier(), _funnel),
}


def feed(det: Detector, args: tuple[Any, ...]) -> bool:
    """One step of a case's stream, through the detector's own protocol."""
    if isinstance(det, ClockDetector):
        return det.tick(*args)
    assert isinstance(det, CrossSectionalDetector)
    return det.assess(*args)


def trace(det: Detector, stream: list[tuple[Any, ...]]) -> list[tuple[bool, bool, float, float]]:
    return [(feed(det, args), det.firing, det.statistic, det.value) for args in stream]


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
        feed(det, args)
        if len(sizes) % 500 == 0:
            sizes.append(len(json.dumps(det.to_state(), allow_nan=False)))
        else:
            sizes.append(0)
    final = len(json.dumps(det.to_state(), allow_nan=False))
    # steady state, and the transient peak while warm-up samples are held
    limit = {"silence": 4000}.get(case, 800)
    peak = limit
    assert final <= limit and max(sizes) <= peak


def test_from_state_rejects_other_detector() -> None:
    with pytest.raises(ValueError):
        SilenceDetector.from_state(FunnelOutlier().to_state())


@pytest.mark.parametrize(
    "module",
    [
        monitor.core.detectors.base,
        monitor.core.detectors.funnel,
        monitor.core.detectors.glr,
        monitor.core.detectors.silence,
        monitor.core.panel,
        monitor.core.timegrid,
    ],
)
def test_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0
