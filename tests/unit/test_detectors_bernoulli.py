"""BernoulliCUSUM: detects real shifts, stays quiet on stationary heterogeneous streams."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from monitor.core.detectors import BernoulliCUSUM, BernoulliParams


def run(det: BernoulliCUSUM, xs: list[bool]) -> list[tuple[int, bool]]:
    return [(i, det.firing) for i, x in enumerate(xs) if det.update(x)]


def test_detects_drop_and_resolves() -> None:
    rng = np.random.default_rng(1)
    xs = (rng.random(30_000) < np.r_[np.full(10_000, 0.6), np.full(10_000, 0.5),
                                     np.full(10_000, 0.6)]).tolist()  # fmt: skip
    det = BernoulliCUSUM(direction="down")
    events = run(det, xs)
    assert events[0][1] and 10_000 < events[0][0] < 12_000
    assert events[1][0] > 20_000 and not events[1][1]
    assert len(events) == 2
    assert det.reference == pytest.approx(0.6, abs=0.03)


def test_up_direction_flags_rise_only() -> None:
    rng = np.random.default_rng(2)
    drop = (rng.random(40_000) < np.r_[np.full(5_000, 0.3), np.full(35_000, 0.2)]).tolist()
    rise = (rng.random(40_000) < np.r_[np.full(5_000, 0.3), np.full(35_000, 0.4)]).tolist()
    assert run(BernoulliCUSUM(direction="up"), drop) == []
    assert run(BernoulliCUSUM(direction="up"), rise)[0][1]


def test_quiet_below_min_effect_at_huge_volume() -> None:
    """A drop of 0.3 x the minimum effect: inside the null (a third), so no alarm."""
    rng = np.random.default_rng(3)
    xs = (rng.random(400_000) < np.r_[np.full(5_000, 0.6), np.full(395_000, 0.591)]).tolist()
    assert run(BernoulliCUSUM(p0=0.6, phi=1.0, warmup=0), xs) == []
    assert run(BernoulliCUSUM(p0=0.6, phi=1.0, warmup=0, null_shift=0.0), xs) != []


def test_quiet_on_overdispersed_clinicians() -> None:
    """Sessions of 20-60 suggestions by clinicians whose own rate ~ Beta(mean 0.6, sd 0.15)."""
    rng = np.random.default_rng(4)
    parts = []
    total = 0
    while total < 300_000:
        n = int(rng.integers(20, 60))
        p = rng.beta(5.8, 3.9)
        parts.append(rng.random(n) < p)
        total += n
    xs = np.concatenate(parts).tolist()
    det = BernoulliCUSUM()
    assert run(det, xs) == []
    assert det.phi is not None and det.phi > 2.0
    plain = BernoulliCUSUM(phi=1.0, p0=det.reference, warmup=0)
    assert len(run(plain, xs)) > 0  # without the allowance the same stream alarms


def test_quiet_on_diurnal_stream_and_still_detects() -> None:
    """Days (p=0.63, 450 obs) and nights (p=0.51, 150 obs) alternate.

    The warm-up must span whole cycles (in production: ``warmup_seconds`` = a week).
    """
    rng = np.random.default_rng(5)
    cycle = np.r_[np.full(450, 0.63), np.full(150, 0.51)]
    p = np.tile(cycle, 400)
    xs = (rng.random(p.size) < p).tolist()
    det = BernoulliCUSUM(direction="down", warmup=6000)
    assert run(det, xs) == []
    assert det.phi is not None and det.phi > 1.3
    p2 = p.copy()
    p2[120_000:] -= 0.12
    xs2 = (rng.random(p.size) < p2).tolist()
    events = run(BernoulliCUSUM(direction="down", warmup=6000), xs2)
    assert events and events[0][1] and 120_000 < events[0][0] < 125_000


def test_value_tracks_recent_rate() -> None:
    det = BernoulliCUSUM(p0=0.5, phi=1.0, warmup=0, recent_window=100)
    for _ in range(1000):
        det.update(True)
    assert det.value > 0.99
    assert det.firing and det.direction == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p0": 1.2},
        {"min_effect": 0.0},
        {"direction": "sideways"},
        {"warmup": 50},
        {"warmup": 300, "batch_size": 100},
        {"multipliers": (0.5, 2.0)},
        {"arl": 10},
        {"unknown": 1},
    ],
)
def test_params_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BernoulliParams(**kwargs)


def test_rare_rate_relative_effect() -> None:
    rng = np.random.default_rng(6)
    p = np.r_[np.full(20_000, 0.01), np.full(60_000, 0.02)]
    xs = (rng.random(p.size) < p).tolist()
    det = BernoulliCUSUM(direction="up", min_effect=0.3, relative=True, warmup=5000,
                         batch_size=500)  # fmt: skip
    events = run(det, xs)
    assert events and events[0][1] and events[0][0] > 20_000
