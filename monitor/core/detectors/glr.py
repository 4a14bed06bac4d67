"""Generalized likelihood-ratio change-point scans over time buckets, many series at once.

Each row of the input arrays is one monitored quantity of one series (acceptance at a
site, burden of a model version, ...), each column one time bucket, oldest first. For
every split of the buckets into a *before* segment (the older columns, plus an
optional prior worth ``prior_n`` pseudo-observations at ``prior_mean``) and an *after*
segment (the newest columns), the scan computes the likelihood ratio of "the level
changed at the split" against "no change", keeps the splits whose estimated change
goes the watched way by at least ``gate``, and reports the best split per row as a
signed-root statistic ``z = sqrt(2 log LR / phi)``: about standard normal for one
fixed split under no change, whatever the volume. The split is unknown, so an alarm
needs ``z`` well above the one-split quantiles (see ``monitor.core.panel``).

* :func:`binomial_scan`: counts of successes among observations (acceptance, response,
  flag rates, a site's share of the volume); exact binomial likelihoods, so rare events
  (a flag in ten suggestions) are not over-read as a normal approximation would.
* :func:`gaussian_scan`: a mean shift of a (winsorized, transformed) measurement
  (correction burden, log decision time, scores, numeric inputs), variance pooled
  within the two segments.
* :func:`multinomial_scan`: a change in the frequencies of categories (coded inputs);
  the G statistic is mapped to ``z`` through its chi-square distribution.

The scans run in compiled code (``monitor.core._scan``, built from ``rust/`` when the
package is installed): a panel scans hundreds of rows at every bucket boundary.

The prior makes a short history usable: a site's before-level is pulled towards its
peers' level with the weight the between-site spread justifies (empirical Bayes), and a
new model version's towards the version it replaces. A row whose before segment holds
only the prior can then still alarm, but never by more than the prior's weight allows.

References
----------
Siegmund, D., Venkatraman, E. S. (1995). Using the generalized likelihood ratio
statistic for sequential detection of a change-point. *Annals of Statistics* 23, 255-271.
Lai, T. L., Xing, H. (2010). Sequential change-point detection when the pre- and
post-change parameters are unknown. *Sequential Analysis* 29, 162-175.
Efron, B., Morris, C. (1975). Data analysis using Stein's estimator and its
generalizations. *JASA* 70, 311-319 (empirical-Bayes shrinkage).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> n = np.full((2, 48), 50.0)                      # two series, 48 buckets of 50
>>> x = rng.binomial(50, 0.6, size=(2, 48)).astype(float)
>>> x[1, 36:] = rng.binomial(50, 0.45, size=12)     # the second drops 15 points
>>> scan = binomial_scan(n, x, direction=-1, gate=0.015)
>>> bool(scan.z[0] < 4), bool(scan.z[1] > 5), int(scan.split[1]) in range(34, 39)
(True, True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.core import _scan

__all__ = ["Scan", "binomial_scan", "gaussian_scan", "multinomial_scan"]

Param = float | np.ndarray
"""A scan parameter: one value for every row, or an array with one per row."""


@dataclass(frozen=True)
class Scan:
    """Best split per row. ``split`` is the index of the first *after* column (0: the
    whole history is after, the before segment is the prior alone); -1 where no split
    passed the gate, ``z`` is 0 there and the figures are those of the most recent
    allowed split (``last``): the recent level against the history before it. Levels
    are the segments' estimates (``before`` includes the prior, ``n_before`` counts its
    pseudo-observations); NaN where a row has no allowed split."""

    z: np.ndarray
    split: np.ndarray
    before: np.ndarray
    after: np.ndarray
    n_before: np.ndarray
    n_after: np.ndarray
    se: np.ndarray
    """Standard error of ``after - before`` (normal approximation)."""


def _rows(v: Param | None, rows: int, default: float = 0.0) -> np.ndarray:
    """A scalar or per-row parameter as a contiguous float array of ``rows`` values."""
    a = np.asarray(default if v is None else v, dtype=np.float64)
    return np.ascontiguousarray(np.broadcast_to(a, (rows,)))


def _last(last: Param, rows: int, buckets: int) -> np.ndarray:
    a = np.minimum(np.broadcast_to(np.asarray(last, dtype=np.float64), (rows,)), buckets - 1)
    return np.ascontiguousarray(a.astype(np.int64))


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def binomial_scan(
    n: np.ndarray,
    x: np.ndarray,
    *,
    direction: Param,
    gate: Param,
    relative: Param = False,
    prior_n: np.ndarray | None = None,
    prior_mean: np.ndarray | None = None,
    phi: Param = 1.0,
    min_after: Param = 1.0,
    last: Param = np.inf,
) -> Scan:
    """Best change-point per row for rates: ``x`` successes of ``n`` per bucket.

    Parameters
    ----------
    n, x
        (rows, buckets), oldest bucket first. ``x`` may be fractional (adjusted for
        the calendar); segment sums are clipped to ``[0, n]``.
    direction
        -1: the rate dropped; +1: it rose.
    gate
        Smallest estimated change that may alarm: absolute, or a fraction of the
        before level where ``relative``.
    prior_n, prior_mean
        Per row, pseudo-observations added to the before segment.
    phi
        Over-dispersion (variance relative to binomial).
    min_after
        Observations the after segment needs.
    last
        Largest split index allowed.
    """
    rows, t = n.shape
    return Scan(*_scan.binomial_scan(
        _f64(n), _f64(x), _rows(direction, rows), _rows(gate, rows), _rows(relative, rows),
        _rows(prior_n, rows), _rows(prior_mean, rows), _rows(phi, rows),
        _rows(min_after, rows), _last(last, rows, t),
    ))  # fmt: skip


def gaussian_scan(
    n: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    *,
    direction: Param,
    gate: Param,
    prior_n: np.ndarray | None = None,
    prior_mean: np.ndarray | None = None,
    phi: Param = 1.0,
    min_after: Param = 2.0,
    last: Param = np.inf,
    var_floor: Param = 0.0,
) -> Scan:
    """Best change-point per row for a mean: bucket counts, sums and sums of squares.

    ``direction`` is -1 (down), +1 (up) or 0 (either way; ``gate`` applies to the
    absolute change). The variance is pooled within the two segments (a change of level
    does not inflate it); ``var_floor`` bounds it below (a constant stream). Being
    estimated from the row's own observations, it makes the statistic a Student t on
    ``n_before + n_after - 2`` degrees of freedom; ``z`` is the normal quantile with
    the same tail (Wallace's approximation), so a small site's 20 observations are not
    read as if their variance were known.
    """
    rows, t = n.shape
    return Scan(*_scan.gaussian_scan(
        _f64(n), _f64(s1), _f64(s2), _rows(direction, rows), _rows(gate, rows),
        _rows(prior_n, rows), _rows(prior_mean, rows), _rows(phi, rows),
        _rows(min_after, rows), _last(last, rows, t), _rows(var_floor, rows),
    ))  # fmt: skip


def multinomial_scan(
    counts: np.ndarray,
    *,
    gate: Param,
    prior_n: np.ndarray | None = None,
    prior_freq: np.ndarray | None = None,
    phi: Param = 1.0,
    min_after: Param = 1.0,
    last: Param = np.inf,
) -> Scan:
    """Best change-point per row for category frequencies: ``counts`` (rows, T, K).

    ``gate`` is the smallest change of any one category's frequency that may alarm;
    ``before``/``after`` report the frequencies of the category that changed most,
    ``se`` the standard error of its change. The G statistic's degrees of freedom count
    the categories seen, and map it to ``z`` (Wilson-Hilferty).
    """
    rows, t, k = counts.shape
    freq = np.zeros((rows, k)) if prior_freq is None else prior_freq
    return Scan(*_scan.multinomial_scan(
        _f64(counts), _rows(gate, rows), _rows(prior_n, rows), _f64(freq), _rows(phi, rows),
        _rows(min_after, rows), _last(last, rows, t),
    ))  # fmt: skip
