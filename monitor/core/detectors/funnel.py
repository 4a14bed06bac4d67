"""Site outliers on a funnel plot with an over-dispersion allowance.

Given per-site counts ``(successes, n)`` over a recent window, each site is compared
with the rate ``p`` of the *other* sites pooled (or a given feature-wide ``p``), and gets
``z = (y - p) / sqrt(phi * p (1 - p) / n)`` with ``y = successes / n``. The
over-dispersion factor ``phi`` is estimated from the other sites as in Spiegelhalter
(2005): the mean of their squared z-scores after winsorizing them at the 10th/90th
percentiles, used when it exceeds 1 and there are at least ``min_sites`` of them (or
fixed with ``phi``). Leaving the site out of its own centre and spread keeps an
outlying site from widening its own limits. The default ``overdispersion="additive"`` turns
it into the DerSimonian-Laird random-effects variance ``tau^2`` and uses
``z = (y - p) / sqrt(p (1 - p) / n + tau^2)`` (a big site is not an outlier
just because it is big); ``"multiplicative"`` uses ``z / sqrt(phi)``.

A site fires when ``|z| >= z`` (99.8% limits by default), its rate differs from
``p`` by at least ``min_effect`` in the watched direction and ``n >= min_n``; it
resolves when ``|z| < z_resolve`` or the difference falls below
``min_effect / 2``.

References
----------
Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional
performance. *Statistics in Medicine* 24, 1185-1202.
Spiegelhalter, D. J. (2005). Handling over-dispersion of performance
indicators. *Quality and Safety in Health Care* 14, 347-351.
DerSimonian, R., Laird, N. (1986). Meta-analysis in clinical trials.
*Controlled Clinical Trials* 7, 177-188.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from monitor.core.detectors.base import (
    AlertFigures,
    CrossSectionalDetector,
    DetectorParams,
    UnitChange,
)

__all__ = ["FunnelOutlier", "FunnelParams"]


class FunnelParams(DetectorParams):
    """Parameters of :class:`FunnelOutlier`."""

    z: float = Field(3.09, gt=0.0)
    """Control limit in (over-dispersion-adjusted) z units; 3.09 = 99.8% two-sided."""
    z_resolve: float = Field(2.0, gt=0.0)
    min_effect: float = Field(0.05, ge=0.0, lt=1.0)
    """Smallest absolute rate difference from the feature-wide rate worth an alert."""
    direction: Literal["down", "up", "both"] = "down"
    overdispersion: Literal["multiplicative", "additive", "none"] = "additive"
    """``additive`` (default): DerSimonian-Laird random effects, right when site volumes
    differ a lot; ``multiplicative``: z / sqrt(phi)."""
    phi: float | None = Field(None, ge=1.0)
    """Fixed multiplicative factor; ``None`` estimates it from the sites."""
    min_sites: int = Field(5, ge=2)
    """Sites needed to estimate over-dispersion (fewer: phi = 1 or the fixed value)."""
    min_n: int = Field(30, ge=1)
    winsor: float = Field(0.1, ge=0.0, lt=0.5)
    tau_floor: float = Field(0.0, ge=0.0, lt=0.5)
    """Least between-site spread (absolute rate) the additive limits assume: sites of
    one feature differ by a few points in real deployments, and a spread estimated
    from a handful of other sites is often near zero by chance."""

    @model_validator(mode="after")
    def _check(self) -> FunnelParams:
        if self.z_resolve > self.z:
            raise ValueError("z_resolve must be <= z")
        return self


class FunnelOutlier(CrossSectionalDetector):
    """Funnel-plot outlier sites with hysteresis.

    Call ``assess(counts, p=None)`` at each evaluation (e.g. every minute of
    event time) with ``{site: (successes, n)}`` over the recent window; returns
    True when the set of outlying sites changed. Then read ``changes`` (this
    assessment's ``(site, "firing" | "resolved", z)``), ``outliers`` (site -> z of
    the sites currently out), ``scores`` (site -> z of all sites) and
    ``unit_figures(site)`` (the site's rate against the feature-wide rate).
    ``firing`` is True while any site is out; ``statistic`` is the largest |z| in
    the watched direction, ``threshold`` the limit ``z``, ``value`` the feature-wide
    rate.

    Examples
    --------
    >>> det = FunnelOutlier()
    >>> counts = {f"s{i}": (600 + 7 * (i % 3), 1000) for i in range(10)}
    >>> counts["bad"] = (450, 1000)
    >>> det.assess(counts)
    True
    >>> det.changes[0][:2], round(det.outliers["bad"], 1) <= -3.09
    (('bad', 'firing'), True)
    """

    name = "funnel"
    params_model = FunnelParams
    _state_fields = ("_out", "_p", "_phi", "_tau2", "_stat", "_firing")

    params: FunnelParams

    def __init__(self, params: FunnelParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        self._out: dict[str, float] = {}
        self._p = 0.0
        self._phi = 1.0
        self._tau2 = 0.0
        self._stat = 0.0
        self._rates: dict[str, float] = {}
        self.z_scores: dict[str, float] = {}
        self.centres: dict[str, float] = {}
        """Site -> the rate it is compared with: the other sites' pooled rate."""

    def _restored(self) -> None:
        self._out = dict(self._out)

    def _winsorized_mean_sq(self, zs: list[float]) -> float:
        srt = sorted(zs)
        n = len(srt)
        k = math.floor(self.params.winsor * n)
        lo, hi = srt[k], srt[n - 1 - k]
        return sum(min(max(z, lo), hi) ** 2 for z in srt) / n

    def assess(self, counts: Mapping[str, tuple[float, float]], p: float | None = None) -> bool:
        """Evaluate all sites; True when any site starts or stops being an outlier."""
        par = self.params
        sites = {s: (float(x), float(n)) for s, (x, n) in counts.items() if n > 0}
        self._rates = {s: x / n for s, (x, n) in sites.items()}
        tot_x = sum(x for x, _ in sites.values())
        tot_n = sum(n for _, n in sites.values())
        self._p = p if p is not None else (tot_x / tot_n if tot_n else 0.0)
        self.changes = []
        self.z_scores, self.centres = {}, {}
        phis, taus = [], []
        for s, (x, n) in sites.items():
            # each site against the others: an outlier must not move its own centre
            # or widen its own limits
            others = {o: v for o, v in sites.items() if o != s}
            rest_n = tot_n - n
            centre = p if p is not None else ((tot_x - x) / rest_n if rest_n > 0 else 0.0)
            var0 = centre * (1.0 - centre)
            if var0 <= 0.0 or not others:
                continue
            phi, tau2 = self._spread(others, centre)
            phis.append(phi)
            taus.append(tau2)
            self.centres[s] = centre
            if par.overdispersion == "additive":
                self.z_scores[s] = (x / n - centre) / math.sqrt(var0 / n + tau2)
            else:
                self.z_scores[s] = (x / n - centre) / math.sqrt(phi * var0 / n)
        self._phi = max(phis, default=1.0)
        self._tau2 = max(taus, default=0.0)
        sign = {"down": -1.0, "up": 1.0, "both": 0.0}[par.direction]
        stat = 0.0
        for s, z in sorted(self.z_scores.items()):
            x, n = sites[s]
            c = self.centres[s]
            zd = abs(z) if sign == 0.0 else sign * z
            diff = abs(x / n - c) if sign == 0.0 else sign * (x / n - c)
            stat = max(stat, zd)
            if s in self._out:
                if zd < par.z_resolve or diff < 0.5 * par.min_effect:
                    del self._out[s]
                    self.changes.append(UnitChange(s, "resolved", z))
                else:
                    self._out[s] = z
            elif zd >= par.z and diff >= par.min_effect and n >= par.min_n:
                self._out[s] = z
                self.changes.append(UnitChange(s, "firing", z))
        for s in [s for s in self._out if s not in self.z_scores]:  # site left the window
            z = self._out.pop(s)
            self.changes.append(UnitChange(s, "resolved", z))
        self._stat = stat
        self._firing = bool(self._out)
        return bool(self.changes)

    def _spread(self, sites: Mapping[str, tuple[float, float]], p: float) -> tuple[float, float]:
        """Over-dispersion of ``sites`` around ``p``: the multiplicative factor and the
        additive (DerSimonian-Laird) between-site variance."""
        par = self.params
        if par.overdispersion == "none":
            return 1.0, 0.0
        var0 = p * (1.0 - p)
        phi = 1.0
        raw = [(x / n - p) / math.sqrt(var0 / n) for x, n in sites.values()]
        if par.phi is not None:
            phi = par.phi
        elif len(sites) >= par.min_sites:
            phi = max(1.0, self._winsorized_mean_sq(raw))
        tau2 = par.tau_floor**2 if par.overdispersion == "additive" else 0.0
        if par.overdispersion == "additive" and len(sites) >= par.min_sites:
            # DerSimonian-Laird on the other sites, not winsorized: the site itself is
            # already left out, and trimming the others' tails would shrink tau^2
            w = [n / var0 for _, n in sites.values()]
            sw = sum(w)
            denom = sw - sum(v * v for v in w) / sw
            q = sum(z * z for z in raw)
            if denom > 0:
                tau2 = max(tau2, (q - (len(w) - 1)) / denom)
        return phi, tau2

    @property
    def outliers(self) -> dict[str, float]:
        """Sites currently outside the limits, with their adjusted z-score."""
        return dict(self._out)

    @property
    def scores(self) -> dict[str, float]:
        """Every site's adjusted z-score at the last assessment."""
        return dict(self.z_scores)

    def unit_figures(self, unit: str) -> AlertFigures:
        """The site's rate at the last assessment (NaN: it had no observations) against
        the feature-wide rate."""
        return AlertFigures(self._rates.get(unit, math.nan), self._p)

    @property
    def statistic(self) -> float:
        return self._stat

    @property
    def threshold(self) -> float:
        return self.params.z

    @property
    def value(self) -> float:
        """Feature-wide rate used as the funnel centre at the last update."""
        return self._p

    @property
    def phi(self) -> float:
        """Over-dispersion factor used at the last update."""
        return self._phi

    @property
    def tau2(self) -> float:
        """DerSimonian-Laird between-site variance (additive mode)."""
        return self._tau2
