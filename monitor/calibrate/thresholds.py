"""Thresholds that meet a false-alarm budget, from the excursion peaks of resamples.

Each detector of a feature (a *cell*: a unit, such as ``acceptance_rate`` or the
``no_data`` silence, and a feature) yields, per bootstrap resample, the peaks of its
rows' excursions (:mod:`monitor.calibrate.record`). At a threshold ``c`` the expected
false alarms per resample are the peaks at or above ``c``, divided by the resamples.

**Split.** The budget is shared equally by the units that watch something in the
reference (each kind of failure gets the same allowance), and a unit's share by its
features in proportion to their rows (series), so every series of a unit gets the same
allowance, whichever feature it belongs to.

**Threshold.** The smallest ``c`` at or above the unit's floor whose expected false
alarms fit the share. Where at least ``MIN_EMPIRICAL`` peaks lie above it, that is read
off the peaks. A budget is usually rarer than that: then a tail is fitted to the unit's
highest peaks, all features together (``TAIL_PEAKS`` per feature), and extrapolated. A
signed-root likelihood ratio, and the funnel's and silence's ``z``, have a tail like a
normal's, ``P(peak >= c | peak >= u) = exp(-beta (c^2 - u^2) / 2)``, with ``beta = 1``
for a statistic with its nominal variance and ``beta = 1 / phi`` for one whose data are
over-dispersed by ``phi`` (clinician mix, busy days): ``beta`` is fitted (maximum
likelihood, closed form), so over-dispersion raises the threshold as much as it
inflates the statistic. It is capped at 1: no tail is lighter than the statistic's
nominal one (peaks just above ``u`` fit a steeper tail than the far ones do: on a
stationary 9-site month, ``beta`` fell from 1.1-1.4 above 3 to 0.6-0.8 above 4).

**Per feature.** A feature has a threshold of its own where at least ``MIN_PEAKS`` of
its peaks lie above the unit's tail base ``u``: its count there, with the unit's tail
shape, gives its rate at any ``c``. The shape is the unit's because a month's
resamples hold too few far peaks of one feature to fit one: fitted per feature, each
threshold settled in the gaps of its own sample, and held-out months of the same
scenario raised 1.5 times the false alarms of shared shapes (thresholds of the unit
alone did as well as shared shapes; ``docs/decisions``). Other features take the unit's
threshold; a unit with fewer than ``MIN_PEAKS`` peaks in all takes the nominal tail
(``beta = 1``) from one more peak than it had.

Examples
--------
>>> import math
>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> peaks = np.sqrt(9.0 + rng.exponential(2.0, size=4000))   # a nominal tail above 3
>>> tail = Tail.fit(peaks, resamples=100, base=3.0)
>>> round(tail.beta, 2)                 # the nominal tail has beta 1 (fit capped at 1)
1.0
>>> z, method = tail.threshold(0.01, floor=3.5)    # 0.01 false alarms per resample
>>> round(z, 2), method, round(tail.expected(z), 3)
(5.04, 'tail', 0.01)
>>> round(math.sqrt(9.0 + 2.0 * math.log(40 / 0.01)), 2)   # exact: 40 peaks above 3 each
5.06
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.calibrate.record import Cell, Excursions

__all__ = ["MIN_EMPIRICAL", "MIN_PEAKS", "TAIL_PEAKS", "Choice", "Tail", "allot"]

TAIL_PEAKS = 50
"""The tail is fitted on this many of the highest peaks (all of them, if fewer)."""
MIN_PEAKS = 10
"""Fewest peaks a cell needs for a threshold of its own."""
MIN_EMPIRICAL = 10
"""A threshold is read off the peaks where at least this many lie above it."""


@dataclass(frozen=True)
class Tail:
    """The peaks of one cell over ``resamples`` resamples, and their fitted tail."""

    peaks: np.ndarray
    """Descending."""
    resamples: int
    base: float
    """``u``: the fitted tail is of the peaks above it."""
    above: int
    """Peaks above ``base`` the tail was fitted on (for a nominal tail, one more than seen)."""
    beta: float
    nominal: bool = False

    @classmethod
    def fit(
        cls,
        peaks: Sequence[float] | np.ndarray,
        resamples: int,
        base: float,
        top: int = TAIL_PEAKS,
    ) -> Tail:
        """Fit the tail of the ``top`` highest peaks at or above ``base`` (the detector's
        excursion level)."""
        p = _descending(peaks, base)
        if len(p) < MIN_PEAKS:
            return cls(p, resamples, base, len(p) + 1, 1.0, nominal=True)
        if len(p) > top:
            u, top_peaks = float(p[top]), p[:top]
        else:
            u, top_peaks = base, p
        spread = float(np.sum(top_peaks * top_peaks - u * u)) / 2.0
        beta = min(len(top_peaks) / spread, 1.0) if spread > 0 else 1.0
        return cls(p, resamples, u, len(top_peaks), beta)

    def of(self, peaks: Sequence[float] | np.ndarray) -> Tail:
        """The same tail shape (base and ``beta``) at the level of other peaks: one
        feature's, counted above this tail's base."""
        p = _descending(peaks, self.base)
        return Tail(p, self.resamples, self.base, len(p), self.beta, self.nominal)

    def empirical(self, c: float) -> float:
        """Peaks at or above ``c`` per resample."""
        return int(np.count_nonzero(self.peaks >= c)) / self.resamples

    def fitted(self, c: float) -> float:
        """The tail's expected peaks at or above ``c >= base``, per resample."""
        return self.above / self.resamples * math.exp(-self.beta * (c * c - self.base**2) / 2)

    def expected(self, c: float) -> float:
        """Expected false alarms per resample at threshold ``c``: the peaks' count where
        there are enough of them above it, the fitted tail beyond."""
        if not self.nominal and np.count_nonzero(self.peaks >= c) >= MIN_EMPIRICAL:
            return self.empirical(c)
        return self.fitted(max(c, self.base))

    def threshold(self, target: float, floor: float) -> tuple[float, str]:
        """The smallest ``c >= floor`` expected to fire at most ``target`` times per
        resample, and how it was found (``peaks``, ``tail``, ``nominal`` or ``floor``)."""
        allowed = target * self.resamples
        if not self.nominal and allowed >= MIN_EMPIRICAL and int(allowed) < len(self.peaks):
            c, how = float(np.nextafter(self.peaks[int(allowed)], math.inf)), "peaks"
        elif self.fitted(self.base) <= target:
            c, how = self.base, "tail"
        else:
            ratio = self.above / (self.resamples * target)
            c = math.sqrt(self.base**2 + 2.0 * math.log(ratio) / self.beta)
            how = "nominal" if self.nominal else "tail"
        if c < floor:
            return floor, "floor"
        return c, how


def _descending(peaks: Sequence[float] | np.ndarray, base: float) -> np.ndarray:
    p = np.asarray(peaks, dtype=float)
    return np.sort(p[p >= base])[::-1]


@dataclass(frozen=True)
class Choice:
    """The threshold of one unit for one feature (``feature`` None: the unit's own, fitted
    on all features' peaks, for features without one)."""

    unit: str
    feature: str | None
    z: float
    method: str
    target: float
    """False alarms per resample allotted."""
    expected: float
    """False alarms per resample expected at ``z``."""
    peaks: int
    rows: float
    """Rows (series) watched, per resample."""

    @property
    def own(self) -> bool:
        """Whether the feature has a threshold of its own (enough peaks)."""
        return self.feature is None or self.method != "pooled"


def allot(
    runs: Sequence[Excursions],
    per_resample: float,
    bases: Mapping[Cell, float],
    floors: Mapping[str, float],
) -> list[Choice]:
    """Split ``per_resample`` expected false alarms over the units and features of the
    recorded ``runs`` (one per resample) and find each one's threshold.

    ``bases`` gives each cell's excursion level (its ``z_resolve``), ``floors`` each
    unit's lowest allowed threshold. Returns, per unit, its own choice and then one per
    feature; a feature whose cell has too few peaks has method ``pooled`` and the
    unit's threshold.
    """
    r = len(runs)
    rows: dict[Cell, float] = {}
    peaks: dict[Cell, list[float]] = {}
    for run in runs:
        for cell, n in run.rows.items():
            rows[cell] = rows.get(cell, 0.0) + n / r
        for cell, values in run.peaks.items():
            peaks.setdefault(cell, []).extend(values)
    watched = {cell: n for cell, n in rows.items() if n > 0}
    units = sorted({u for u, _ in watched})
    if not units:
        return []
    share = per_resample / len(units)
    out: list[Choice] = []
    for unit in units:
        cells = sorted(c for c in watched if c[0] == unit)
        total_rows = sum(watched[c] for c in cells)
        floor = floors[unit]
        pooled_peaks = [v for c in cells for v in peaks.get(c, [])]
        base = min(bases[c] for c in cells)
        pooled = Tail.fit(pooled_peaks, r, base, TAIL_PEAKS * len(cells))
        z_unit, how = pooled.threshold(share, floor)
        feature_choices = []
        for cell in cells:
            target = share * watched[cell] / total_rows
            tail = pooled.of(peaks.get(cell, []))
            if pooled.nominal or tail.above < MIN_PEAKS:
                z, method = z_unit, "pooled"
            else:
                z, method = tail.threshold(target, floor)
            feature_choices.append(
                Choice(unit, cell[1], z, method, target, tail.expected(z),
                       len(peaks.get(cell, [])), watched[cell])
            )  # fmt: skip
        expected = sum(c.expected for c in feature_choices)
        out.append(Choice(unit, None, z_unit, how, share, expected, len(pooled.peaks), total_rows))
        out.extend(feature_choices)
    return out
