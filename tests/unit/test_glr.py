"""The change-point scans against a direct computation, split by split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.detectors.glr import binomial_scan, gaussian_scan, multinomial_scan
from monitor.core.timegrid import TimeGrid


def _ll(k: float, m: float) -> float:
    out = 0.0
    if k > 0:
        out += k * math.log(k / m)
    if m - k > 0:
        out += (m - k) * math.log((m - k) / m)
    return out


def _binomial_direct(n, x, prior_n, prior_mean, direction, gate, last, min_after):
    best, where = 0.0, -1
    for k in range(n.size):
        if k > last:
            break
        n1 = n[:k].sum() + prior_n
        x1 = min(max(x[:k].sum() + prior_n * prior_mean, 0.0), n1)
        n2 = n[k:].sum()
        x2 = min(max(x[k:].sum(), 0.0), n2)
        if n2 < min_after or n1 <= 0 or (k == 0 and prior_n <= 0) or n[:k].sum() + prior_n <= 0:
            continue
        if direction * (x2 / n2 - x1 / n1) < gate:
            continue
        llr = _ll(x1, n1) + _ll(x2, n2) - _ll(x1 + x2, n1 + n2)
        z = math.sqrt(2 * max(llr, 0.0))
        if z > best:
            best, where = z, k
    return best, where


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    direction=st.sampled_from([-1, 1]),
    prior=st.sampled_from([0.0, 7.0, 60.0]),
    last=st.integers(0, 15),
)
def test_binomial_scan_is_the_best_split(
    seed: int, direction: int, prior: float, last: int
) -> None:
    rng = np.random.default_rng(seed)
    rows, t = 4, 16
    n = rng.integers(0, 25, (rows, t)).astype(float)
    x = np.minimum(rng.binomial(n.astype(int), 0.4).astype(float), n)
    prior_n = np.full(rows, prior)
    prior_mean = rng.uniform(0.2, 0.6, rows)
    scan = binomial_scan(
        n, x, direction=direction, gate=0.01, prior_n=prior_n, prior_mean=prior_mean,
        min_after=3, last=last,
    )  # fmt: skip
    for r in range(rows):
        z, k = _binomial_direct(n[r], x[r], prior, prior_mean[r], direction, 0.01, last, 3)
        assert scan.z[r] == pytest.approx(z, abs=1e-9)
        assert scan.split[r] == k


def _wallace(t: float, df: float) -> float:
    df = max(df, 1.0)
    return (8 * df + 1) / (8 * df + 3) * math.sqrt(df * math.log1p(t * t / df))


@pytest.mark.parametrize("df", [3, 10, 20, 60, 500])
def test_gaussian_scan_reads_its_t_statistic_on_its_degrees_of_freedom(df: int) -> None:
    # two segments of fixed values: t = d / se on df = n1 + n2 - 2, and z must carry
    # Student's tail (a variance from 20 values is not a known variance)
    from scipy import stats

    half = (df + 2) // 2
    rng = np.random.default_rng(df)
    a = rng.normal(0.0, 1.0, half)
    b = rng.normal(1.2, 1.0, df + 2 - half)
    n = np.array([[len(a), len(b)]], float)
    s1 = np.array([[a.sum(), b.sum()]])
    s2 = np.array([[(a * a).sum(), (b * b).sum()]])
    scan = gaussian_scan(n, s1, s2, direction=1, gate=0.0)
    ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    t = (b.mean() - a.mean()) / math.sqrt(ss / df * (1 / len(a) + 1 / len(b)))
    exact = stats.norm.isf(stats.t.sf(t, df))
    assert scan.z[0] == pytest.approx(exact, abs=0.05 if df >= 10 else 0.15)
    assert scan.z[0] < t  # never more significant than the t statistic read as z


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), direction=st.sampled_from([-1, 0, 1]))
def test_gaussian_scan_is_the_best_split(seed: int, direction: int) -> None:
    rng = np.random.default_rng(seed)
    rows, t = 3, 12
    counts = rng.integers(0, 6, (rows, t))
    values = [[rng.normal(1.0, 0.5, c) for c in row] for row in counts]
    n = counts.astype(float)
    s1 = np.array([[v.sum() for v in row] for row in values])
    s2 = np.array([[(v * v).sum() for v in row] for row in values])
    scan = gaussian_scan(n, s1, s2, direction=direction, gate=0.05)
    for r in range(rows):
        best, where = 0.0, -1
        for k in range(1, t):
            a = np.concatenate(values[r][:k])
            b = np.concatenate(values[r][k:])
            if len(a) == 0 or len(b) < 2:
                continue
            ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
            var = ss / max(len(a) + len(b) - 2, 1)
            d = b.mean() - a.mean()
            signed = abs(d) if direction == 0 else direction * d
            if signed < 0.05 or var <= 0:
                continue
            z = _wallace(signed / math.sqrt(var * (1 / len(a) + 1 / len(b))), len(a) + len(b) - 2)
            if z > best:
                best, where = z, k
        assert scan.z[r] == pytest.approx(best, abs=1e-9)
        assert scan.split[r] == where


def test_a_rare_event_is_not_over_read() -> None:
    """One flag in ten suggestions after 2,000 with ten flags is weak evidence: an exact
    binomial statistic stays low where a normal approximation (z > 4) would alarm."""
    n = np.array([[2000.0, 10.0]])
    x = np.array([[10.0, 1.0]])
    scan = binomial_scan(n, x, direction=1, gate=0.0)
    wald = (0.1 - 0.005) / math.sqrt(0.005 * 0.995 / 10)
    assert wald > 4
    assert scan.z[0] < 2.5


def test_a_prior_bounds_what_a_row_without_history_can_show() -> None:
    """With no data before the split, the evidence of a level that differs from the
    prior's is bounded by the prior's weight, however much data comes after."""
    n = np.array([[0.0, 100_000.0]])
    x = np.array([[0.0, 40_000.0]])  # 0.40 against a prior of 0.50 from 100 pseudo-obs
    scan = binomial_scan(n, x, direction=-1, gate=0.01, prior_n=np.array([100.0]),
                         prior_mean=np.array([0.5]))  # fmt: skip
    assert 0 < scan.z[0] < math.sqrt(2 * 100 * 0.5 * math.log(0.5 / 0.4) * 2)
    assert scan.split[0] == 0


def test_multinomial_scan_finds_a_shift_of_mix() -> None:
    rng = np.random.default_rng(3)
    t = 40
    counts = np.zeros((2, t, 3))
    for j in range(t):
        p = [0.5, 0.3, 0.2]
        counts[0, j] = rng.multinomial(50, p)
        counts[1, j] = rng.multinomial(50, [0.3, 0.3, 0.4] if j >= 30 else p)
    scan = multinomial_scan(counts, gate=0.05)
    assert scan.z[0] < 4
    assert scan.z[1] > 6
    assert 28 <= scan.split[1] <= 31
    assert abs(scan.after[1] - scan.before[1]) == pytest.approx(0.2, abs=0.06)


def test_time_grid_merges_keep_boundaries_and_cover_the_horizon() -> None:
    grid = TimeGrid(width=900.0, per_level=4, horizon=7 * 86400.0)
    grid.start(0.0)
    widths_ok = True
    for _ in range(7 * 96 * 3):
        grid.close()
        ends = grid.ends()
        for start, end, level in zip(grid.starts, ends, grid.levels, strict=True):
            widths_ok &= end - start == 900.0 * 2**level
        assert grid.levels == sorted(grid.levels, reverse=True)
        assert all(grid.levels.count(lv) <= 4 for lv in set(grid.levels))
    assert widths_ok
    span = grid.open_at - grid.starts[0]
    assert (
        7 * 86400.0 - 900 * 2 ** max(grid.levels)
        <= span
        <= 7 * 86400.0 + 900 * 2 ** max(grid.levels)
    )
