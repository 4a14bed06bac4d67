"""FunnelOutlier: binomial funnel limits with over-dispersion and min effect."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pydantic import ValidationError

from monitor.core.detectors import FunnelOutlier, FunnelParams


def sites(rng: np.random.Generator, k: int, sd: float) -> dict[str, tuple[int, int]]:
    """k sites, volumes 50..5000, true rates 0.6 + N(0, sd) (between-site spread)."""
    ns = rng.integers(50, 5000, k)
    ps = np.clip(0.6 + rng.normal(0, sd, k), 0.01, 0.99)
    return {
        f"s{i}": (int(rng.binomial(n, p)), int(n))
        for i, (n, p) in enumerate(zip(ns, ps, strict=True))
    }


def test_quiet_on_overdispersed_sites() -> None:
    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(200):
        det = FunnelOutlier()
        det.assess(sites(rng, 30, 0.02))
        alarms += len(det.outliers)
        assert det.phi >= 1.0
    plain = 0
    for _ in range(200):
        det = FunnelOutlier(overdispersion="none")
        det.assess(sites(rng, 30, 0.02))
        plain += len(det.outliers)
    # 6000 site evaluations at one-sided 0.1% limits: ~6 expected with a known tau^2;
    # estimating it from 30 winsorized sites costs some (measured ~27).
    assert alarms <= 40 and 2 * alarms < plain
    mult = 0
    for _ in range(200):
        det = FunnelOutlier(overdispersion="multiplicative")
        det.assess(sites(rng, 30, 0.02))
        mult += len(det.outliers)
    assert mult < plain  # multiplicative helps, but is misspecified for mixed volumes


def test_flags_bad_site_and_resolves() -> None:
    rng = np.random.default_rng(1)
    counts = sites(rng, 20, 0.01)
    counts["bad"] = (300, 1000)  # 0.30 vs ~0.60
    det = FunnelOutlier()
    assert det.assess(counts)
    assert set(det.outliers) == {"bad"} and det.firing
    assert det.statistic >= det.threshold
    counts["bad"] = (590, 1000)
    assert det.assess(counts)
    assert det.changes == [("bad", "resolved", pytest.approx(det.z_scores["bad"]))]
    assert not det.firing


def test_min_effect_and_min_n() -> None:
    counts = {f"s{i}": (60_000, 100_000) for i in range(10)}
    counts["big"] = (58_800, 100_000)  # z ~ -7.7 but only 1.2 points below
    counts["tiny"] = (2, 20)
    det = FunnelOutlier(phi=1.0)
    det.assess(counts)
    assert det.outliers == {}


def test_additive_mode_and_direction() -> None:
    rng = np.random.default_rng(2)
    counts = sites(rng, 25, 0.03)
    counts["high"] = (950, 1000)
    down = FunnelOutlier()
    down.assess(counts)
    assert "high" not in down.outliers and down.tau2 > 0
    both = FunnelOutlier(direction="both")
    both.assess(counts)
    assert "high" in both.outliers


def test_site_leaving_resolves() -> None:
    det = FunnelOutlier(phi=1.0)
    base = {f"s{i}": (600, 1000) for i in range(8)}
    det.assess({**base, "bad": (300, 1000)})
    assert det.firing
    assert det.assess(base) and not det.firing


@pytest.mark.parametrize("kwargs", [{"z": 0}, {"z": 2, "z_resolve": 3}, {"min_sites": 1},
                                    {"overdispersion": "x"}, {"phi": 0.5}])  # fmt: skip
def test_params_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FunnelParams(**kwargs)


def test_an_outlier_does_not_widen_its_own_limits() -> None:
    """Four sites and one far below them: measured against all five (itself included),
    the spread it adds would hide it; against the other four it stands out."""
    det = FunnelOutlier(min_sites=3)
    counts = {f"s{i}": (600 + 5 * i, 1000) for i in range(4)}
    counts["bad"] = (430, 1000)
    assert det.assess(counts)
    assert [(s, state) for s, state, _ in det.changes] == [("bad", "firing")]
    assert det.centres["bad"] == pytest.approx((600 + 605 + 610 + 615) / 4000)
    # the others are compared with a centre that includes the bad site, and stay in
    assert set(det.outliers) == {"bad"}


def test_the_spread_floor_keeps_a_site_a_few_points_off_among_few_peers_inside() -> None:
    # four identical peers estimate no between-site spread; a site 6 points below them
    # at n = 1500 is 4.8 binomial SDs out, but within what sites of one feature differ by
    counts = {f"s{i}": (750, 1500) for i in range(4)}
    counts["low"] = (660, 1500)
    assert FunnelOutlier(z=3.5).assess(counts)
    assert not FunnelOutlier(z=3.5, tau_floor=0.02).assess(counts)
    counts["low"] = (560, 1500)  # 12.7 points below: out with the floor too
    assert FunnelOutlier(z=3.5, tau_floor=0.02).assess(counts)


def test_the_spread_is_not_trimmed_by_winsorizing_the_other_sites() -> None:
    # ten peers spread by +-8 points: their spread must keep a site 15 points low inside
    rng = random.Random(3)
    counts = {f"s{i}": (round(1000 * (0.5 + rng.uniform(-0.08, 0.08))), 1000) for i in range(10)}
    counts["low"] = (350, 1000)
    det = FunnelOutlier(z=3.5, tau_floor=0.02)
    det.assess(counts)
    assert det.tau2 > 0.04**2
    assert "low" not in det.outliers
