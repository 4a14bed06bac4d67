"""Distribution drift against a frozen baseline: numeric histograms and categorical codes.

Both detectors keep two histograms over the same slots: a *baseline* filled
during warm-up and then frozen, and a *recent* one with exponentially decayed
weights (half-life in event-time seconds by default, so a window spans whole
days whatever the volume and diurnal mix changes average out; or in
observations). The statistic is the Population Stability Index

    PSI = sum_b (q_b - p_b) * ln(q_b / p_b)

(with half-count smoothing), minus its expected value under no drift,
``(B - 1) * (1 / n_recent + 1 / n_baseline)`` (PSI ~ chi-square / n), so that a
small window does not read as drift. An alarm needs the corrected PSI at or
above ``threshold`` with at least ``min_count`` effective recent observations
(and, for categories, a frequency change of at least ``min_effect``); it
resolves when the PSI falls below ``resolve_ratio x threshold``.

* :class:`HistogramDrift`: numeric values; fixed equal-width bins on
  ``bounds`` (default [0, 1], for model scores), or, with ``bounds=None``, bins
  at the baseline quantiles of the first ``edge_sample`` warm-up values with
  open-ended end bins.
* :class:`CategoricalDrift`: short codes; the ``top_k`` most frequent warm-up
  categories plus ``"other"``.

References
----------
Yurdakul, B. (2018). *Statistical properties of population stability index*.
PhD thesis, Western Michigan University.
Siddiqi, N. (2006). *Credit Risk Scorecards*, Wiley (PSI rules of thumb: 0.1, 0.25).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Literal

from pydantic import Field, model_validator

from monitor.core.detectors.base import Detector, DetectorParams
from monitor.core.durations import Seconds

__all__ = ["CategoricalDrift", "CategoricalParams", "HistogramDrift", "HistogramParams"]

OTHER = "other"


class _PSIParams(DetectorParams):
    clock: Literal["time", "count"] = "time"
    """Decay the recent histogram by event time (needs ``t``) or by observation count."""
    half_life: Seconds = Field(43200.0, gt=0.0)
    """Half-life of the recent window: seconds (``clock="time"``) or observations."""
    warmup: int = Field(1000, ge=10)
    """Minimum baseline observations."""
    warmup_seconds: Seconds = Field(86400.0, ge=0.0)
    """Minimum baseline duration (``clock="time"`` only): cover the diurnal cycle."""
    threshold: float = Field(0.2, gt=0.0)
    resolve_ratio: float = Field(0.5, gt=0.0, lt=1.0)
    min_count: float = Field(200.0, ge=1.0)
    """Minimum effective number of recent observations to fire."""
    check_every: int = Field(10, ge=1)
    """Recompute PSI and decide every this many observations (PSI costs O(bins))."""


class _PSIDetector(Detector):
    """Shared machinery: frozen baseline, decayed recent counts, corrected PSI."""

    params: _PSIParams
    _base: list[float]
    _rec: list[float]

    def _init_common(self) -> None:
        self._n = 0
        self._t0: float | None = None
        self._tref = 0.0
        self._tnow = 0.0
        self._w1 = 0.0
        self._w2 = 0.0
        self._frozen = False
        self._psi = 0.0
        self._delta = 0.0

    def _clock(self, t: float | None) -> float:
        if self.params.clock == "count":
            return float(self._n)
        if t is None:
            raise ValueError("clock='time' needs the event time t")
        return float(t)

    def _observe(self, slot: int, t: float | None) -> bool:
        self._n += 1
        now = self._clock(t)
        if not self._frozen:
            if self._t0 is None:
                self._t0 = now
            self._base[slot] += 1.0
            p = self.params
            enough_time = p.clock == "count" or now - self._t0 >= p.warmup_seconds
            if self._n >= p.warmup and enough_time:
                self._freeze_baseline(now)
            return False
        if now > self._tnow:
            self._tnow = now
        hl = self.params.half_life
        e = (now - self._tref) / hl
        if e > 60.0:  # rescale the decayed counts to keep weights finite
            f = 2.0 ** (-e)
            self._rec = [c * f for c in self._rec]
            self._w1 *= f
            self._w2 *= f * f
            self._tref = now
            e = 0.0
        w = 2.0**e
        self._rec[slot] += w
        self._w1 += w
        self._w2 += w * w
        if self._n % self.params.check_every:
            return False
        return self._decide()

    def _freeze_baseline(self, now: float) -> None:
        """Freeze the baseline; seed the recent window with it (a window's worth of weight)
        so that the first hours after warm-up are not compared alone to a whole cycle."""
        self._frozen = True
        self._tref = self._tnow = now
        nb = sum(self._base)
        span = now - (self._t0 if self._t0 is not None else now)
        window = self.params.half_life / math.log(2.0)
        w = min(nb, nb * window / span) if span > 0 else nb
        self._rec = [b * w / nb for b in self._base]
        self._w1 = w
        self._w2 = w

    def _scores(self) -> tuple[float, float, float]:
        """(corrected PSI, max |q - p|, effective recent count)."""
        if not self._frozen or self._w1 <= 0.0:
            return 0.0, 0.0, 0.0
        scale = 2.0 ** ((self._tnow - self._tref) / self.params.half_life)
        n_rec = self._w1 / scale
        n_eff = self._w1 * self._w1 / self._w2
        nb = sum(self._base)
        k = len(self._base)
        psi = 0.0
        dmax = 0.0
        used = 0
        for b, r in zip(self._base, self._rec, strict=True):
            if b <= 0.0 and r <= 0.0:
                continue
            used += 1
            p = (b + 0.5) / (nb + 0.5 * k)
            q = (r / scale + 0.5) / (n_rec + 0.5 * k)
            psi += (q - p) * math.log(q / p)
            d = abs(q - p)
            if d > dmax:
                dmax = d
        psi -= max(used - 1, 0) * (1.0 / n_eff + 1.0 / nb)
        return max(psi, 0.0), dmax, n_rec

    def _effect_ok(self, delta: float, resolving: bool) -> bool:
        return True

    def _decide(self) -> bool:
        psi, delta, n_rec = self._scores()
        self._psi = psi
        self._delta = delta
        p = self.params
        if not self._firing:
            if psi >= p.threshold and n_rec >= p.min_count and self._effect_ok(delta, False):
                self._firing = True
                return True
            return False
        if psi < p.resolve_ratio * p.threshold or not self._effect_ok(delta, True):
            self._firing = False
            return True
        return False

    @property
    def statistic(self) -> float:
        """Bias-corrected PSI of the recent window vs the baseline (at the last check)."""
        return self._psi

    @property
    def threshold(self) -> float:
        return self.params.threshold

    @property
    def value(self) -> float:
        """Same as ``statistic`` (PSI is the drift magnitude)."""
        return self._psi

    @property
    def max_shift(self) -> float:
        """Largest absolute change of a slot's frequency (at the last update)."""
        return self._delta

    @property
    def recent_count(self) -> float:
        """Effective number of observations in the recent window (sum of decayed weights)."""
        if not self._frozen or self._w1 <= 0.0:
            return 0.0
        return self._w1 / 2.0 ** ((self._tnow - self._tref) / self.params.half_life)

    @property
    def ready(self) -> bool:
        """Whether the baseline is frozen (warm-up done)."""
        return self._frozen


_COMMON = ("_n", "_t0", "_tref", "_tnow", "_w1", "_w2", "_frozen", "_psi", "_delta",
           "_base", "_rec", "_firing")  # fmt: skip


class HistogramParams(_PSIParams):
    """Parameters of :class:`HistogramDrift`."""

    bins: int = Field(10, ge=2, le=50)
    bounds: tuple[float, float] | None = (0.0, 1.0)
    """Fixed range of equal-width bins (values outside go to the end bins); ``None``:
    quantile bins learned from the first ``edge_sample`` warm-up values."""
    edge_sample: int = Field(200, ge=20, le=1000)

    @model_validator(mode="after")
    def _check(self) -> HistogramParams:
        if self.bounds is not None and not self.bounds[0] < self.bounds[1]:
            raise ValueError("bounds must be (low, high) with low < high")
        if self.bounds is None and self.warmup < self.edge_sample:
            raise ValueError("quantile bins need warmup >= edge_sample")
        return self


class HistogramDrift(_PSIDetector):
    """PSI drift of a numeric value against its warm-up baseline.

    Parameters
    ----------
    params
        A :class:`HistogramParams`; or pass its fields as keyword arguments.

    Call ``update(x, t)`` per value with its event time ``t`` (epoch seconds;
    ignored with ``clock="count"``); ``None``/NaN values are skipped. Returns
    True when ``firing`` changes. ``statistic``/``value`` is the corrected PSI.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> det = HistogramDrift(clock="count", half_life=500, warmup=2000)
    >>> events = []
    >>> for i in range(8000):
    ...     mean = 0.70 if i < 5000 else 0.55
    ...     x = min(max(rng.gauss(mean, 0.12), 0.0), 1.0)
    ...     if det.update(x):
    ...         events.append((i, det.firing))
    >>> events[0][1], 5000 < events[0][0] < 5500
    (True, True)
    """

    name = "psi"
    params_model = HistogramParams
    _state_fields = (*_COMMON, "_edges", "_sample")

    params: HistogramParams

    def __init__(self, params: HistogramParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        self._init_common()
        p = self.params
        self._base = [0.0] * p.bins
        self._rec = [0.0] * p.bins
        self._sample: list[float] = []
        self._edges: list[float] = []
        if p.bounds is not None:
            lo, hi = p.bounds
            self._edges = [lo + (hi - lo) * i / p.bins for i in range(1, p.bins)]

    def _learn_edges(self) -> None:
        srt = sorted(self._sample)
        n = len(srt)
        edges: list[float] = []
        for i in range(1, self.params.bins):
            e = srt[min(n - 1, (i * n) // self.params.bins)]
            if not edges or e > edges[-1]:
                edges.append(e)
        self._edges = edges
        k = len(edges) + 1
        self._base = [0.0] * k
        self._rec = [0.0] * k
        sample, self._sample = self._sample, []
        n0, self._n = self._n, 0
        for v in sample:  # replay the held values into the baseline
            self._observe(bisect_right(self._edges, v), self._t0 if self._t0 is not None else 0.0)
        self._n = n0

    def update(self, x: float | None, t: float | None = None) -> bool:
        """Feed one value at event time ``t``; True when ``firing`` changed."""
        if x is None or x != x:
            return False
        x = float(x)
        if not self._edges and self.params.bounds is None:
            if self._t0 is None:
                self._t0 = self._clock(t) if self.params.clock == "time" else 0.0
            self._sample.append(x)
            self._n += 1
            if len(self._sample) >= self.params.edge_sample:
                self._learn_edges()
            return False
        return self._observe(bisect_right(self._edges, x), t)


class CategoricalParams(_PSIParams):
    """Parameters of :class:`CategoricalDrift`."""

    top_k: int = Field(20, ge=1, le=50)
    max_tracked: int = Field(80, ge=1, le=200)
    """Distinct categories counted during warm-up (later ones count as ``other``)."""
    threshold: float = Field(0.1, gt=0.0)
    min_effect: float = Field(0.1, ge=0.0, lt=1.0)
    """Smallest absolute change of one category's frequency worth an alert."""

    @model_validator(mode="after")
    def _check(self) -> CategoricalParams:
        if self.max_tracked < self.top_k:
            raise ValueError("max_tracked must be >= top_k")
        return self


class CategoricalDrift(_PSIDetector):
    """Frequency drift of a short categorical code against its warm-up baseline.

    Parameters
    ----------
    params
        A :class:`CategoricalParams`; or pass its fields as keyword arguments.

    Call ``update(code, t)`` per value (``None`` skipped); True when ``firing``
    changes. Fires when the corrected PSI >= ``threshold`` *and* some category's
    frequency moved by >= ``min_effect``; resolves when either falls back below
    half. ``statistic``/``value`` is the corrected PSI, ``max_shift`` the
    largest frequency change.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(2)
    >>> det = CategoricalDrift(clock="count", half_life=500, warmup=2000)
    >>> events = []
    >>> for i in range(8000):
    ...     p_a = 0.5 if i < 5000 else 0.3      # 20 points move from "a" to "b"
    ...     u = rng.random()
    ...     code = "a" if u < p_a else ("b" if u < 0.8 else "c")
    ...     if det.update(code):
    ...         events.append((i, det.firing))
    >>> events[0][1], 5000 < events[0][0] < 6500
    (True, True)
    """

    name = "psi-categorical"
    params_model = CategoricalParams
    _state_fields = (*_COMMON, "_cats", "_counts")

    params: CategoricalParams

    def __init__(self, params: CategoricalParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        self._init_common()
        self._cats: list[str] = []
        self._counts: dict[str, int] = {}
        self._base = [0.0]
        self._rec = [0.0]
        self._index: dict[str, int] = {}

    def _restored(self) -> None:
        self._index = {c: i for i, c in enumerate(self._cats)}

    def _effect_ok(self, delta: float, resolving: bool) -> bool:
        return delta >= (0.5 if resolving else 1.0) * self.params.min_effect

    def update(self, x: str | None, t: float | None = None) -> bool:
        """Feed one code at event time ``t``; True when ``firing`` changed."""
        if x is None:
            return False
        if not self._frozen:
            counts = self._counts
            if x in counts or len(counts) < self.params.max_tracked:
                counts[x] = counts.get(x, 0) + 1
            else:
                counts[OTHER] = counts.get(OTHER, 0) + 1
            self._observe(0, t)
            if self._frozen:
                self._freeze()
            return False
        return self._observe(self._index.get(x, len(self._cats)), t)

    def _freeze(self) -> None:
        ranked = sorted(
            ((c, n) for c, n in self._counts.items() if c != OTHER), key=lambda cn: (-cn[1], cn[0])
        )
        self._cats = [c for c, _ in ranked[: self.params.top_k]]
        self._index = {c: i for i, c in enumerate(self._cats)}
        self._base = [float(n) for _, n in ranked[: self.params.top_k]]
        self._base.append(float(sum(n for _, n in ranked[self.params.top_k :])
                                + self._counts.get(OTHER, 0)))  # fmt: skip
        self._counts = {}
        self._freeze_baseline(self._tnow)

    @property
    def categories(self) -> list[str]:
        """Tracked categories (the last slot, not listed, is ``other``)."""
        return list(self._cats)
