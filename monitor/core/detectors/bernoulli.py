"""Change detection for Bernoulli rates (acceptance, response, flag rates).

A bank of one-sided CUSUMs of log-likelihood ratios tests the reference rate
``p0`` against alternatives ``p0 -/+ d`` for ``d`` in ``min_effect x (2, 4, 8,
16)``. Each CUSUM's drift is zero half-way between ``p0`` and its alternative,
so the smallest one (``d = 2 x min_effect``) drifts *down* for every shift
smaller than ``min_effect``: such shifts never accumulate evidence, whatever the
volume. The larger alternatives make big shifts fast to detect.

Thresholds are set per CUSUM with Siegmund's corrected Brownian approximation
for a target in-control average run length ``arl`` of the whole bank (a union
bound over the CUSUMs), evaluated at the worst in-control rate ``p0 -/+
null_shift x min_effect`` (so shifts below a third of the minimum effect stay
below the false-alarm budget however high the volume; shifts between a third and
the full minimum effect are a grey zone), with the in-control variance inflated by the
over-dispersion factor ``phi`` estimated during warm-up from the spread of
per-batch counts relative to binomial (clinicians and hours differ, so real
streams are over-dispersed; ``phi > 1`` raises the thresholds just enough for
heterogeneous but stationary streams to stay quiet; the estimate is used only
when a chi-square test finds it significant, so an i.i.d. stream is not
penalised for the noise of its own estimate).

When ``p0`` is learned in warm-up, its sampling error is absorbed by moving the
reference ``warmup_margin`` standard errors towards the alarm side.

With ``strata="weekend"`` weekends and ``holidays`` (local time in ``timezone``) get
a reference of their own: night and weekend staff differ from the weekday mix, so a
weekday-learned p0 sits up to the minimum effect above a stationary weekend. Weekday
observations learn ``p0`` as above; weekend ones learn the weekend reference from
their first ``stratum_warmup`` observations and are not monitored until then. Every
observation is scored against its own stratum's reference (same alternatives,
shifted), and the minimum-effect gate follows the recent level of ``x - reference``.

After an alarm the detector keeps firing while the recent rate (an EWMA over
about ``recent_window`` observations, exposed as ``value``) stays beyond
``p0 -/+ min_effect / 2`` and the evidence has not decayed below half the
threshold; then it resolves.

References
----------
Page, E. S. (1954). Continuous inspection schemes. *Biometrika* 41, 100-115.
Siegmund, D. (1985). *Sequential Analysis*, Springer, ch. 2 (ARL approximation).
Lorden, G., Pollak, M. (2008). Sequential change-point detection procedures that
are nearly optimal and computationally simple. *Sequential Analysis* 27, 476-512
(banks of CUSUMs for an unknown post-change parameter).
McCullagh, P., Nelder, J. A. (1989). *Generalized Linear Models*, sec. 4.5
(over-dispersion: quasi-likelihood scaling by ``phi``).
"""

from __future__ import annotations

import math
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from monitor.core.detectors.base import (
    CusumBank,
    CusumParams,
    LocalTimeParams,
    cusum_threshold,
    dispersion,
)
from monitor.core.durations import Seconds
from monitor.core.timezones import local_date

__all__ = ["BernoulliCUSUM", "BernoulliParams"]

_PMIN = 1e-4


def _clip(p: float) -> float:
    return min(max(p, _PMIN), 1 - _PMIN)


class BernoulliParams(CusumParams, LocalTimeParams):
    """Parameters of :class:`BernoulliCUSUM`."""

    p0: float | None = Field(None, gt=0.0, lt=1.0)
    """Reference rate; ``None`` learns it from the first ``warmup`` observations."""
    min_effect: float = Field(0.03, gt=0.0, lt=1.0)
    """Smallest shift worth an alert (absolute, or a fraction of p0 if ``relative``)."""
    relative: bool = False
    warmup: int = Field(2000, ge=0)
    """Observations used to learn p0 and/or phi (not monitored)."""
    warmup_seconds: Seconds = Field(0.0, ge=0.0)
    """Also require this much event time in warm-up (e.g. a week, to cover the diurnal
    mix); needs ``t`` in ``update``."""
    warmup_events: int = Field(0, ge=0)
    """Also require this many successes in warm-up: a rare rate (flags) learned from a
    handful of events is too uncertain to compare with (relative error ~ 1/sqrt(n))."""
    multipliers: tuple[float, ...] = Field((2.0, 4.0, 8.0, 16.0), min_length=1, max_length=8)
    warmup_margin: float = Field(1.0, ge=0.0)
    """Standard errors of the learned p0 to move the reference towards the alarm side."""
    null_shift: float = Field(1.0 / 3.0, ge=0.0, lt=1.0)
    """Shifts up to a third of the minimum effect keep the false-alarm target ``arl`` (1 point
    of a 3-point minimum effect). Half would cost about 13% more delay on a shift of three
    times the minimum effect (bench/bench_bernoulli.py)."""

    strata: Literal["none", "weekend"] = "none"
    """``weekend``: weekends and ``holidays`` get their own learned reference (see the
    module docstring)."""
    stratum_warmup: int = Field(500, ge=100)
    """Observations that learn a secondary stratum's reference (weekends)."""

    @model_validator(mode="after")
    def _check(self) -> BernoulliParams:
        if self.p0 is None and self.warmup < 100:
            raise ValueError("learning p0 needs warmup >= 100")
        return self


class BernoulliCUSUM(CusumBank):
    """Bank of Bernoulli log-likelihood-ratio CUSUMs with min effect and over-dispersion.

    Parameters
    ----------
    params
        A :class:`BernoulliParams`; or pass its fields as keyword arguments.

    Call ``update(x)`` once per resolved observation (``x`` truthy = success).
    It returns True when ``firing`` changes. ``value`` is the recent rate,
    ``statistic`` the largest CUSUM as a fraction of its threshold (fires at
    ``threshold == 1``), ``reference`` the frozen p0 (None during warm-up).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> det = BernoulliCUSUM(p0=0.6, phi=1.0, warmup=0, direction="down")
    >>> alarms = []
    >>> for i in range(20_000):
    ...     p = 0.6 if i < 10_000 else 0.5
    ...     if det.update(rng.random() < p):
    ...         alarms.append((i, det.firing))
    >>> alarms[0][1], 10_000 < alarms[0][0] < 11_500
    (True, True)
    >>> round(det.value, 1)
    0.5
    """

    name = "bernoulli-cusum"
    params_model = BernoulliParams
    _gate = True
    _state_fields = ("_t0", "_n", "_sum", "_bn", "_bsum", "_nb", "_csum", "_csq", "_p0", "_phi",
                     "_s", "_ewma", "_firing", "_dir",
                     "_wn", "_wsum", "_wp0", "_rewma")  # fmt: skip

    params: BernoulliParams

    def __init__(self, params: BernoulliParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        self._t0: float | None = None
        self._n = 0
        self._sum = 0
        self._bn = 0
        self._bsum = 0
        self._nb = 0
        self._csum = 0.0
        self._csq = 0.0
        self._p0: float | None = None
        self._phi: float | None = None
        self._s: list[float] = []
        self._ewma = 0.0
        self._dir = 0
        # weekend stratum: observations and successes it learns from, its reference
        self._wn = 0
        self._wsum = 0
        self._wp0: float | None = None
        self._rewma = 0.0  # recent level of x - reference (stratified gate)
        self._arms: list[tuple[float, float, float, int]] = []
        self._warms: list[tuple[float, float, float, int]] = []
        self._derive()
        p = self.params
        if p.warmup == 0 or (p.p0 is not None and p.phi is not None):
            self._arm(p.p0 if p.p0 is not None else 0.5, p.phi or 1.0)

    def _derive(self) -> None:
        """Attributes that follow from the params alone (not serialised)."""
        self._alpha = 2.0 / (self.params.recent_window + 1.0)
        self._zone = ZoneInfo(self.params.timezone) if self.params.strata != "none" else None
        self._holidays = frozenset(self.params.holidays)
        self._quarter = -1  # the quarter hour whose stratum ``_k`` holds
        self._k = 0

    def _stratum(self, t: float | None) -> int:
        """1 on a local weekend or holiday, else 0 (looked up once per quarter hour;
        only with ``strata``)."""
        if t is None:
            return 0
        q = int(t // 900.0)
        if q != self._quarter:
            self._quarter = q
            assert self._zone is not None
            day = local_date(q * 900.0, self._zone)
            self._k = 1 if day.weekday() >= 5 or day in self._holidays else 0
        return self._k

    # -- warm-up and arming -----------------------------------------------------------------

    def _arm(self, p0: float, phi: float) -> None:
        self._p0 = p0
        self._phi = phi
        self._rewma = self._ewma - p0
        self._s = [0.0] * len(self._build())

    def _build(self) -> list[tuple[float, float, float, int]]:
        """(increment if 1, increment if 0, threshold, sign) of each CUSUM."""
        p = self.params
        p0, phi = self._p0, self._phi
        assert p0 is not None and phi is not None
        m = p.min_effect * p0 if p.relative else p.min_effect
        self._half = 0.5 * m
        margin = 0.0
        if p.p0 is None:
            # the observations p0 was learned from (warm-up may run past ``warmup``)
            n = self._nb * p.batch_size + self._bn
            margin = p.warmup_margin * math.sqrt(phi * p0 * (1 - p0) / max(n, p.warmup, 1))
        signs = {"down": (-1,), "up": (1,), "both": (-1, 1)}[p.direction]
        specs: list[tuple[int, float]] = []  # (sign, alternative - reference)
        for sign in signs:
            ref = _clip(p0 + sign * margin)
            seen: set[float] = set()
            room = 0.9 * ((1 - ref) if sign > 0 else ref)  # keep alternatives inside (0, 1)
            for mult in p.multipliers:
                q1 = ref + sign * min(mult * m, room)
                if abs(q1 - ref) < 0.5 * m or q1 in seen:
                    continue
                seen.add(q1)
                specs.append((sign, q1 - ref))
        arl = p.arl * max(len(specs), 1)
        arms, kept = [], []
        for sign, d in specs:
            arm = self._calibrate(_clip(p0 + sign * margin), d, sign, phi, m, arl)
            if arm is not None:
                arms.append(arm)
                kept.append((sign, d))
        self._arms = arms
        if self._wp0 is None and self._zone is not None and self._wn >= p.stratum_warmup:
            self._wp0 = _clip(self._wsum / self._wn)
        self._warms = []
        if self._wp0 is not None:
            wp0 = self._wp0
            wmargin = p.warmup_margin * math.sqrt(phi * wp0 * (1 - wp0) / self._wn)
            for sign, d in kept:
                arm = self._calibrate(_clip(wp0 + sign * wmargin), d, sign, phi, m, arl)
                # an arm this stratum cannot calibrate stays at zero: it never fires
                self._warms.append(arm or (0.0, 0.0, math.inf, sign))
        return arms

    def _calibrate(
        self, ref: float, d: float, sign: int, phi: float, m: float, arl: float
    ) -> tuple[float, float, float, int] | None:
        """The CUSUM of ``ref`` against ``ref + d``; None when it cannot be calibrated."""
        q1 = ref + d
        if not 0.0 < q1 < 1.0:
            return None
        a = math.log(q1 / ref)
        b = math.log((1 - q1) / (1 - ref))
        pic = ref + sign * self.params.null_shift * m  # worst in-control rate
        mu = pic * a + (1 - pic) * b
        sigma = abs(a - b) * math.sqrt(phi * pic * (1 - pic))
        if mu >= 0.0 or sigma <= 0.0:
            # A reference at the edge (p0 ~ 0 or 1) leaves no room between the
            # tolerated shift and this alternative: the arm cannot be calibrated.
            return None
        return (a, b, cusum_threshold(mu, sigma, arl), sign)

    def _restored(self) -> None:
        self._derive()
        if self._p0 is not None:
            self._build()

    def _finish_warmup(self) -> None:
        p = self.params
        p0 = p.p0 if p.p0 is not None else _clip(self._sum / self._n)
        phi = p.phi
        if phi is None:
            k = p.batch_size
            mean, var = self._batch_moments()
            pb = _clip(mean / k)
            phi = dispersion(var / (k * pb * (1 - pb)), self._nb, p.dispersion_alpha, p.max_phi)
        self._arm(p0, phi)

    # -- protocol ---------------------------------------------------------------------------

    def update(self, x: object, t: float | None = None) -> bool:
        """Feed one observation (truthy = success) at event time ``t`` (epoch seconds,
        needed with ``warmup_seconds`` or ``strata``); True when ``firing`` changed."""
        xi = 1 if x else 0
        weekend = 0 if self._zone is None else self._stratum(t)
        if weekend and self._wp0 is None:
            self._wn += 1
        else:
            self._n += 1
        n = self._n + self._wn
        alpha = self._alpha if n * self._alpha > 1.0 else 1.0 / n
        self._ewma += alpha * (xi - self._ewma)
        if weekend:
            if self._wp0 is None:
                self._wsum += xi
                if self._wn >= self.params.stratum_warmup and self._p0 is not None:
                    self._build()
                return False
            arms, ref = self._warms, self._wp0
        elif self._p0 is None:
            self._sum += xi
            self._batch_add(xi, mean=False)
            if t is not None and self._t0 is None:
                self._t0 = t
            if self._n >= self.params.warmup and self._sum >= self.params.warmup_events and (
                self.params.warmup_seconds <= 0.0
                or (t is not None and self._t0 is not None
                    and t - self._t0 >= self.params.warmup_seconds)
            ):  # fmt: skip
                self._finish_warmup()
            return False
        else:
            arms, ref = self._arms, self._p0
        s = self._s
        fire = 0
        for i, (a, b, h, sign) in enumerate(arms):
            v = s[i] + (a if xi else b)
            if v <= 0.0:
                v = 0.0
            elif v >= h:
                if not fire:
                    fire = sign
                if self._firing:
                    v = h
            s[i] = v
        if self._zone is None:
            shift = self._ewma - ref
        else:
            self._rewma += self._alpha * (xi - ref - self._rewma)
            shift = self._rewma
        # Minimum-effect gate (``_gate``): evidence alone is not enough, the recent
        # rate must also have moved by half the minimum effect (bursts of a few
        # minutes in over-dispersed streams trip the large-shift CUSUMs otherwise).
        return self._transition(fire, shift, self._half)

    @property
    def value(self) -> float:
        """Recent rate (EWMA); the running mean while fewer than ``recent_window`` seen."""
        return self._ewma

    @property
    def reference(self) -> float | None:
        """The frozen reference rate p0 (None during warm-up)."""
        return self._p0

    @property
    def bound(self) -> float | None:
        """Level of concern: the reference of the latest observation's stratum (p0, or
        the weekend's) moved by the minimum effect towards the alarm side (None during
        warm-up, or while a two-sided detector is quiet)."""
        side = self._side()
        if self._p0 is None or not side:
            return None
        ref = self._wp0 if self._k and self._wp0 is not None else self._p0
        p = self.params
        return ref + side * (p.min_effect * ref if p.relative else p.min_effect)

    @property
    def weekend_reference(self) -> float | None:
        """The weekend stratum's reference (None without strata or while it learns)."""
        return self._wp0

    @property
    def learning(self) -> bool:
        """True while a stratum's reference is still being learned."""
        return self._p0 is None or (self._zone is not None and self._wp0 is None)

    @property
    def phi(self) -> float | None:
        """The over-dispersion factor in use (None during warm-up)."""
        return self._phi

    @property
    def direction(self) -> int:
        """-1 when firing on a drop, +1 on a rise, 0 when quiet."""
        return self._dir

    @property
    def thresholds(self) -> list[float]:
        """Raw CUSUM thresholds of the bank (diagnostics)."""
        return [arm[2] for arm in self._arms]
