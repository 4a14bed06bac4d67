"""Level-shift detection for a continuous metric (correction burden, decision time).

The baseline mean and standard deviation are learned robustly in warm-up (the
first ``robust_sample`` values give a median and MAD; every warm-up value is
then winsorized at ``median +/- 2 clip x 1.4826 MAD`` before a Welford mean and
variance), then frozen. Monitored values are standardized, ``z = (f(x) - mu) /
sigma`` with an optional log transform ``f``, and winsorized at ``+/- clip`` so
that a single extreme value cannot fire an alarm. A bank of Gaussian
log-likelihood-ratio CUSUMs for shifts ``delta = min_effect x (2, 4, 8)``
(in baseline SD units) runs on ``z``; the smallest one drifts down for every
shift below ``min_effect``. Thresholds follow Siegmund's approximation for a
target in-control ARL of the bank, evaluated at the worst in-control shift
``null_shift x min_effect`` (shifts below half the minimum effect stay within
the false-alarm budget at any volume), with the variance inflated by ``phi``, the
ratio of the variance of warm-up batch means to ``1 / batch_size`` (serial
correlation and clinician clustering make real streams over-dispersed), and
divided by the adjustment coefficient ``theta`` (the root of ``E exp(theta Z)
= 1`` for the increments ``Z``, computed on a 64-bin histogram of the warm-up
values): ``theta = 1`` for Gaussian data, ``< 1`` for skewed metrics whose long
tail would otherwise make the CUSUM fire (ARL0 ~ exp(theta h), Cramer-Lundberg).

After an alarm, the detector keeps firing while the recent mean (EWMA, exposed
as ``value`` in original units) stays beyond ``mu +/- min_effect / 2`` and the
evidence has not decayed below half the threshold.

References
----------
Page, E. S. (1954). Continuous inspection schemes. *Biometrika* 41, 100-115.
Hawkins, D. M., Olwell, D. H. (1998). *Cumulative Sum Charts and Charting for
Quality Improvement*, Springer (robust and winsorized CUSUMs).
Siegmund, D. (1985). *Sequential Analysis*, Springer, ch. 2.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from monitor.core.detectors.base import CusumBank, CusumParams, cusum_threshold, dispersion

__all__ = ["MeanShiftCUSUM", "MeanShiftParams"]


class MeanShiftParams(CusumParams):
    """Parameters of :class:`MeanShiftCUSUM`."""

    mu0: float | None = None
    """Baseline mean (in transformed units); ``None`` learns it in warm-up."""
    sigma0: float | None = Field(None, gt=0.0)
    """Baseline SD (in transformed units); ``None`` learns it in warm-up."""
    transform: Literal["none", "log", "log1p"] = "none"
    """``log`` for durations (values floored at ``log_floor``); ``log1p`` for counts."""
    log_floor: float = Field(1e-3, gt=0.0)
    min_effect: float = Field(0.25, gt=0.0)
    """Smallest shift worth an alert, in baseline SDs (``unit="sd"``) or transformed units."""
    unit: Literal["sd", "abs"] = "sd"
    direction: Literal["down", "up", "both"] = "up"
    robust_sample: int = Field(100, ge=10, le=500)
    """Warm-up values kept to compute the median/MAD for winsorization."""
    clip: float = Field(3.0, ge=1.0)
    batch_size: int = Field(50, ge=2)
    multipliers: tuple[float, ...] = Field((2.0, 4.0, 8.0), min_length=1, max_length=8)
    """Alternatives ``min_effect x multipliers``; keep the largest <= ~2 SD on skewed data."""

    @model_validator(mode="after")
    def _check(self) -> MeanShiftParams:
        learn = self.mu0 is None or self.sigma0 is None
        if learn and self.warmup < self.robust_sample:
            raise ValueError("learning mu0/sigma0 needs warmup >= robust_sample")
        return self


class MeanShiftCUSUM(CusumBank):
    """Robust, over-dispersion-aware CUSUM bank for a level shift with a minimum effect.

    Parameters
    ----------
    params
        A :class:`MeanShiftParams`; or pass its fields as keyword arguments.

    Call ``update(x)`` once per observed value (``None``/NaN values are ignored
    and return False). Returns True when ``firing`` changes. ``value`` is the
    recent mean in original units (EWMA; back-transformed with ``exp`` for
    ``log``, i.e. a geometric mean), ``statistic`` the largest CUSUM as a
    fraction of its threshold (``threshold == 1``).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(3)
    >>> det = MeanShiftCUSUM(transform="log", warmup=1000)
    >>> alarms = []
    >>> for i in range(6000):
    ...     scale = 30.0 if i < 4000 else 45.0      # decision time +50%
    ...     if det.update(rng.lognormvariate(math.log(scale), 0.8)):
    ...         alarms.append((i, det.firing))
    >>> alarms[0][1], 4000 < alarms[0][0] < 4300
    (True, True)
    """

    name = "mean-cusum"
    params_model = MeanShiftParams
    _state_fields = ("_n", "_sample", "_lo", "_hi", "_wn", "_wmean", "_wm2", "_bn", "_bsum",
                     "_nb", "_csum", "_csq", "_mu", "_sigma", "_phi", "_s", "_ewma", "_firing",
                     "_dir", "_hist", "_theta")  # fmt: skip

    params: MeanShiftParams

    def __init__(self, params: MeanShiftParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        self._n = 0
        self._sample: list[float] = []
        self._lo = -math.inf
        self._hi = math.inf
        self._wn = 0
        self._wmean = 0.0
        self._wm2 = 0.0
        self._bn = 0
        self._bsum = 0.0
        self._nb = 0
        self._csum = 0.0
        self._csq = 0.0
        self._mu: float | None = None
        self._sigma: float | None = None
        self._phi: float | None = None
        self._s: list[float] = []
        self._ewma = 0.0
        self._dir = 0
        self._hist: list[float] = []
        self._theta: list[float] = []
        self._arms: list[tuple[float, float, float, int]] = []
        self._alpha = 2.0 / (self.params.recent_window + 1.0)
        p = self.params
        if p.mu0 is not None and p.sigma0 is not None and (p.phi is not None or p.warmup == 0):
            self._arm(p.mu0, p.sigma0, p.phi or 1.0)

    def to_state(self) -> dict[str, object]:
        state = super().to_state()
        # +/-inf are not JSON: encode the winsorization bounds as None.
        state["lo"] = None if math.isinf(self._lo) else self._lo
        state["hi"] = None if math.isinf(self._hi) else self._hi
        return state

    def _restored(self) -> None:
        self._lo = -math.inf if self._lo is None else self._lo
        self._hi = math.inf if self._hi is None else self._hi
        self._alpha = 2.0 / (self.params.recent_window + 1.0)
        if self._mu is not None:
            self._build()

    def _f(self, x: float) -> float:
        tr = self.params.transform
        if tr == "log":
            return math.log(max(x, self.params.log_floor))
        if tr == "log1p":
            return math.log1p(max(x, 0.0))
        return x

    def _arm(self, mu: float, sigma: float, phi: float) -> None:
        self._mu, self._sigma, self._phi = mu, sigma, phi
        self._s = [0.0] * len(self._build())

    def _build(self) -> list[tuple[float, float, float, int]]:
        """(delta, -delta^2/2, threshold, sign) of each CUSUM, on standardized values."""
        p = self.params
        assert self._sigma is not None and self._phi is not None
        m = p.min_effect if p.unit == "sd" else p.min_effect / self._sigma
        signs = {"down": (-1,), "up": (1,), "both": (-1, 1)}[p.direction]
        deltas = sorted({mult * m for mult in p.multipliers})
        k = len(deltas) * len(signs)
        arms = []
        thetas = self._theta or [1.0] * k
        for sign in signs:
            for d in deltas:
                mu = -0.5 * d * d + d * p.null_shift * m  # drift at the worst in-control shift
                h = cusum_threshold(mu, d * math.sqrt(self._phi), p.arl * k)
                arms.append((d, -0.5 * d * d, h / thetas[len(arms)], sign))
        self._arms = arms
        return arms

    def _finish_warmup(self) -> None:
        p = self.params
        mu = p.mu0 if p.mu0 is not None else self._wmean
        sigma = p.sigma0
        if sigma is None:
            sigma = math.sqrt(self._wm2 / max(self._wn - 1, 1))
            sigma = max(sigma, 1e-9 * max(1.0, abs(mu)), 1e-12)
        phi = p.phi
        if phi is None:
            k = p.batch_size
            _, var = self._batch_moments()
            phi = dispersion(var * k / (sigma * sigma), self._nb, p.dispersion_alpha, p.max_phi)
        self._sample = []
        self._mu, self._sigma, self._phi = mu, sigma, phi
        if self._hist and p.mu0 is None and p.sigma0 is None:
            self._theta = self._adjustment(mu, sigma)
        self._hist = []
        self._arm(mu, sigma, phi)

    def _adjustment(self, mu: float, sigma: float) -> list[float]:
        """Root theta in (0, 1] of E exp(theta Z) = 1 per arm, on the warm-up histogram."""
        hist, lo, hi, c = self._hist, self._lo, self._hi, self.params.clip
        total = sum(hist)
        width = (hi - lo) / len(hist)
        pts = []
        for i, w in enumerate(hist):
            if w:
                z = (lo + (i + 0.5) * width - mu) / sigma
                pts.append((w / total, c if z > c else (-c if z < -c else z)))
        thetas = []
        for d, off, _, sign in self._build():

            def excess(th: float, d: float = d, off: float = off, sign: int = sign) -> float:
                return sum(w * math.exp(th * (d * sign * z + off)) for w, z in pts) - 1.0

            if excess(1.0) <= 0.0:  # tail no heavier than Gaussian: keep theta = 1
                thetas.append(1.0)
                continue
            a, b = 0.0, 1.0
            for _ in range(40):
                mid = 0.5 * (a + b)
                a, b = (mid, b) if excess(mid) < 0.0 else (a, mid)
            thetas.append(max(a, 0.05))
        return thetas

    def _welford(self, y: float) -> None:
        y = min(max(y, self._lo), self._hi)
        if self._hist:
            nb = len(self._hist)
            self._hist[min(int((y - self._lo) / (self._hi - self._lo) * nb), nb - 1)] += 1.0
        self._wn += 1
        d = y - self._wmean
        self._wmean += d / self._wn
        self._wm2 += d * (y - self._wmean)
        self._batch_add(y, mean=True)

    def update(self, x: float | None, t: float | None = None) -> bool:
        """Feed one value (``t``, its event time, is accepted for the common protocol
        and not used); True when ``firing`` changed."""
        if x is None or x != x:
            return False
        y = self._f(float(x))
        self._n += 1
        alpha = self._alpha if self._n * self._alpha > 1.0 else 1.0 / self._n
        self._ewma += alpha * (y - self._ewma)
        if self._mu is None:
            p = self.params
            if len(self._sample) < p.robust_sample and self._wn == 0:
                self._sample.append(y)
                if len(self._sample) == p.robust_sample:
                    srt = sorted(self._sample)
                    med = srt[len(srt) // 2]
                    # MAD, but never below the mean absolute deviation (zero-inflated metrics)
                    mad = max(
                        sorted(abs(v - med) for v in srt)[len(srt) // 2] * 1.4826,
                        1.2533 * sum(abs(v - med) for v in srt) / len(srt),
                    )
                    if mad > 0.0:
                        self._lo, self._hi = med - 2 * p.clip * mad, med + 2 * p.clip * mad
                        self._hist = [0.0] * 64
                    for v in self._sample:
                        self._welford(v)
            else:
                self._welford(y)
            if self._n >= p.warmup and self._wn > 1:
                self._finish_warmup()
            return False
        assert self._sigma is not None
        z = (y - self._mu) / self._sigma
        c = self.params.clip
        z = c if z > c else (-c if z < -c else z)
        s = self._s
        fire = 0
        for i, (d, off, h, sign) in enumerate(self._arms):
            v = s[i] + d * sign * z + off
            if v <= 0.0:
                v = 0.0
            elif v >= h:
                if not fire:
                    fire = sign
                if self._firing:
                    v = h
            s[i] = v
        p = self.params
        m = p.min_effect * self._sigma if p.unit == "sd" else p.min_effect
        return self._transition(fire, self._ewma - self._mu, 0.5 * m)

    def _back(self, y: float) -> float:
        tr = self.params.transform
        if tr == "log":
            return math.exp(y)
        if tr == "log1p":
            return math.expm1(y)
        return y

    @property
    def value(self) -> float:
        """Recent mean (EWMA) in original units (geometric mean for ``log``)."""
        return self._back(self._ewma) if self._n else 0.0

    @property
    def reference(self) -> float | None:
        """Baseline mean in original units (None during warm-up)."""
        return None if self._mu is None else self._back(self._mu)

    @property
    def bound(self) -> float | None:
        """Level of concern in original units: the baseline moved by the minimum effect
        (in transformed units) towards the alarm side (None during warm-up, or while a
        two-sided detector is quiet)."""
        side = self._side()
        if self._mu is None or self._sigma is None or not side:
            return None
        p = self.params
        m = p.min_effect * self._sigma if p.unit == "sd" else p.min_effect
        return self._back(self._mu + side * m)

    @property
    def direction(self) -> int:
        return self._dir
