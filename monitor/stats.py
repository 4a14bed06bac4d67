"""Confidence intervals for the workbench: rates, mean differences, and their verdicts.

Rates use Wilson score intervals, and a difference of two rates Newcombe's hybrid
score interval (method 10): it keeps its coverage near 0 and 1 and at small counts,
where the Wald interval does not. Means use Welch's t interval on the difference
(unequal variances, Welch-Satterthwaite degrees of freedom); decision time is compared
on the log scale, so its effect is a ratio of geometric means. A count of events (false
alarms in a period) gets Garwood's exact Poisson interval of its mean.

Observations of one series are not independent: the clinician and shift mix moves the
rate from hour to hour. Every interval takes a dispersion factor ``phi`` (the variance
beyond independence, estimated from hourly bins by :func:`dispersion`), and uses the
effective count ``n / phi``; ``phi = 1`` gives the textbook intervals.

Examples
--------
>>> lo, hi = wilson(45, 100, 0.05)
>>> round(lo, 3), round(hi, 3)
(0.356, 0.548)
>>> d = newcombe(60, 100, 45, 100, 0.05)   # 0.60 vs 0.45
>>> round(d.estimate, 2), round(d.low, 3), round(d.high, 3)
(0.15, 0.012, 0.28)
>>> lo, hi = garwood(3, 0.05)            # 3 events: the mean's exact 95% interval
>>> round(lo, 3), round(hi, 3)
(0.619, 8.767)
>>> w = welch(Moments(50, 0.22, 0.01), Moments(60, 0.12, 0.01), 0.05)
>>> round(w.estimate, 2), w.low > 0
(0.1, True)

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
inference. *JASA* 22, 209-212.
Newcombe, R. G. (1998). Interval estimation for the difference between independent
proportions: comparison of eleven methods. *Statistics in Medicine* 17, 873-890.
Garwood, F. (1936). Fiducial limits for the Poisson distribution. *Biometrika* 28,
437-442.
Welch, B. L. (1947). The generalization of "Student's" problem when several different
population variances are involved. *Biometrika* 34, 28-35.
McCullagh, P., Nelder, J. A. (1989). *Generalized Linear Models*, sec. 4.5
(over-dispersion: quasi-likelihood scaling by ``phi``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from scipy.stats import chi2 as chi_square
from scipy.stats import t as student_t

Verdict = Literal["better", "worse", "no detectable difference", "not enough data"]


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided interval at level ``1 - alpha``."""

    estimate: float
    low: float
    high: float
    alpha: float

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def excludes(self, value: float) -> bool:
        return not self.low <= value <= self.high


@dataclass(frozen=True)
class Moments:
    """Count, mean and (sample) variance of a set of observations."""

    n: float
    mean: float
    var: float

    @classmethod
    def of_sums(cls, n: float, total: float, squares: float) -> Moments:
        if n <= 0:
            return cls(0.0, math.nan, math.nan)
        mean = total / n
        var = max(squares - n * mean * mean, 0.0) / (n - 1) if n > 1 else math.nan
        return cls(n, mean, var)


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def wilson(x: float, n: float, alpha: float, phi: float = 1.0) -> tuple[float, float]:
    """Wilson score interval of the rate ``x / n`` (effective count ``n / phi``)."""
    if n <= 0:
        return (0.0, 1.0)
    p = x / n
    m = n / phi
    z = _z(alpha)
    z2 = z * z
    centre = (p + z2 / (2 * m)) / (1 + z2 / m)
    half = z / (1 + z2 / m) * math.sqrt(p * (1 - p) / m + z2 / (4 * m * m))
    return (max(centre - half, 0.0), min(centre + half, 1.0))


def newcombe(
    x1: float, n1: float, x2: float, n2: float, alpha: float, phi1: float = 1.0, phi2: float = 1.0
) -> Interval:
    """Newcombe's hybrid score interval of ``x1/n1 - x2/n2``."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, alpha, phi1)
    l2, u2 = wilson(x2, n2, alpha, phi2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(d, low, high, alpha)


def welch(a: Moments, b: Moments, alpha: float, phi_a: float = 1.0, phi_b: float = 1.0) -> Interval:
    """Welch's interval of ``mean(a) - mean(b)`` (effective counts ``n / phi``)."""
    na, nb = a.n / phi_a, b.n / phi_b
    va, vb = a.var / na, b.var / nb
    se = math.sqrt(va + vb)
    d = a.mean - b.mean
    if se == 0.0:
        return Interval(d, d, d, alpha)
    df = (va + vb) ** 2 / (va * va / max(na - 1, 1) + vb * vb / max(nb - 1, 1))
    q = float(student_t.ppf(1.0 - alpha / 2.0, df))
    return Interval(d, d - q * se, d + q * se, alpha)


def dispersion(bins: Iterable[tuple[float, float]], pooled: float, variance: float) -> float:
    """Variance of the bins' means beyond what independence allows (at least 1).

    ``bins`` are (count, mean) per time bin, ``pooled`` the overall mean and ``variance``
    the variance of one observation. Pearson's statistic ``sum n_i (m_i - m)^2 / v``
    over its degrees of freedom (bins - 1): near 1 when observations are independent.
    A rate passes ``variance = p (1 - p)``.

    >>> dispersion([(100, 0.5), (100, 0.5)], 0.5, 0.25)
    1.0
    >>> round(dispersion([(100, 0.3), (100, 0.7)], 0.5, 0.25), 1)
    32.0
    """
    if not variance > 0.0:
        return 1.0
    chi2, k = 0.0, 0
    for n, mean in bins:
        if n > 0:
            chi2 += n * (mean - pooled) ** 2 / variance
            k += 1
    if k < 2:
        return 1.0
    return max(chi2 / (k - 1), 1.0)


def verdict(iv: Interval | None, higher_is_better: bool) -> Verdict:
    """Better or worse when the interval excludes no difference, else no detectable one."""
    if iv is None:
        return "not enough data"
    if not iv.excludes(0.0):
        return "no detectable difference"
    return "better" if (iv.estimate > 0) == higher_is_better else "worse"


def bonferroni(alpha: float, comparisons: int) -> float:
    """Per-comparison level for a family of ``comparisons`` simultaneous intervals."""
    return alpha / max(comparisons, 1)


def garwood(k: int, alpha: float) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval of a Poisson mean from ``k`` observed events:
    chi-square quantiles, so each tail has at most ``alpha / 2`` at any mean."""
    low = chi_square.ppf(alpha / 2.0, 2 * k) / 2.0 if k > 0 else 0.0
    high = chi_square.ppf(1.0 - alpha / 2.0, 2 * k + 2) / 2.0
    return float(low), float(high)
