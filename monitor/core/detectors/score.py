"""Model-score drift: the shape of the distribution and its level, against one warm-up.

PSI over a half-day window (:class:`~monitor.core.detectors.distribution.HistogramDrift`)
sees any change of shape, but a window has to fill before it reads: a large,
sudden level shift (an upstream feed change moving every score) shows after
hours. A robust two-sided mean CUSUM (:class:`~monitor.core.detectors.numeric.MeanShiftCUSUM`,
minimum effect in baseline SDs) on the same values sees such a shift within a
few hundred scores. :class:`ScoreDrift` runs both and fires while either fires.

Its ``statistic`` is the larger of PSI / PSI threshold and the CUSUM's fraction of
its threshold (so ``threshold == 1``); ``value`` is the PSI.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field

from monitor.core.detectors.base import Detector, shared_params
from monitor.core.detectors.distribution import HistogramDrift, HistogramParams
from monitor.core.detectors.numeric import MeanShiftCUSUM, MeanShiftParams

__all__ = ["ScoreDrift", "ScoreDriftParams"]


class ScoreDriftParams(HistogramParams):
    """:class:`HistogramParams` for the PSI part, plus the mean CUSUM's own."""

    mean_min_effect: float | None = Field(0.25, gt=0.0)
    """Smallest level shift worth an alert, in baseline SDs; ``None``: PSI only."""
    mean_warmup: int = Field(2000, ge=100)
    """Scores used to learn the level and spread (not monitored by the CUSUM)."""


class ScoreDrift(Detector):
    """PSI (shape) and a two-sided robust mean CUSUM (level) on model scores.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(5)
    >>> det = ScoreDrift(clock="count", half_life=2000, warmup=2000)
    >>> events = []
    >>> for i in range(8000):
    ...     a, b = (4.0, 2.0) if i < 5000 else (3.5, 3.0)   # mean 0.67 -> 0.54
    ...     if det.update(rng.betavariate(a, b)):
    ...         events.append((i, det.firing))
    >>> events[0][1], 5000 < events[0][0] < 5400
    (True, True)
    """

    name = "score-drift"
    params_model = ScoreDriftParams
    _state_fields = ("_firing",)  # the parts' states are restored by from_state
    params: ScoreDriftParams

    def __init__(self, params: ScoreDriftParams | None = None, **overrides: object) -> None:
        super().__init__(params, **overrides)
        p = self.params
        hist = {k: getattr(p, k) for k in HistogramParams.model_fields}
        self.psi = HistogramDrift(shared_params(HistogramParams, hist))
        self.mean: MeanShiftCUSUM | None = None
        if p.mean_min_effect is not None:
            mean = {"direction": "both", "unit": "sd", "min_effect": p.mean_min_effect,
                    "warmup": p.mean_warmup}  # fmt: skip
            self.mean = MeanShiftCUSUM(shared_params(MeanShiftParams, mean))

    def update(self, x: float | None, t: float | None = None) -> bool:
        """Feed one score at event time ``t``; True when ``firing`` changed."""
        self.psi.update(x, t)
        mean = self.mean
        if mean is not None:
            mean.update(x, t)
        firing = self.psi.firing or (mean is not None and mean.firing)
        if firing == self._firing:
            return False
        self._firing = firing
        return True

    @property
    def statistic(self) -> float:
        s = self.psi.statistic / self.psi.threshold
        if self.mean is not None:
            s = max(s, self.mean.statistic)
        return s

    @property
    def threshold(self) -> float:
        return 1.0

    @property
    def value(self) -> float:
        """The PSI of the recent window against the baseline."""
        return self.psi.value

    def to_state(self) -> dict[str, Any]:
        state = super().to_state()  # detector name, params, firing
        state["psi"] = self.psi.to_state()
        state["mean"] = None if self.mean is None else self.mean.to_state()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        obj = super().from_state(state)  # detector name, params, firing
        obj.psi = HistogramDrift.from_state(state["psi"])
        if state["mean"] is not None:
            obj.mean = MeanShiftCUSUM.from_state(state["mean"])
        return obj
