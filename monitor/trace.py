"""Every detector's statistic over event time, sampled during a replay.

What a data scientist calibrating a candidate config needs besides the alert
log: how close each detector came to firing, and when. The statistic is taken
as a fraction of its threshold (1 = fires), the same figure as
``vitals_detector_statistic_ratio`` on /metrics, once per ``every`` seconds of
event time. :mod:`monitor.plots` draws it; :func:`Trace.peaks` gives the
headroom left on a stream (on a stationary one, the margin before a false alarm).

Examples
--------
>>> from monitor.core.assessor import Assessor
>>> trace = Trace(every=3600.0)
>>> trace.sample(7200.0, Assessor())  # no series yet: nothing recorded
>>> trace.series
{}
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

from monitor.core.series import alert_figures

_ABSENT = object()


@dataclass
class Peak:
    signal: str
    ratio: float  # highest statistic / threshold seen
    series: str  # "feature|model_version|site", with " [input]" for input_drift
    at: float  # event time of that sample


@dataclass
class Trace:
    every: float = 3600.0
    series: dict[tuple[str, str], tuple[array, array]] = field(default_factory=dict)
    """(series key, detector slot) → (sample times, statistic / threshold)."""
    levels: dict[tuple[str, str], tuple[array, array, array]] | None = None
    """With ``detail=True``, at the same samples: the detector's value, its level of
    concern and its reference, in the signal's units (NaN where it has none yet), as
    the alert log reports them (:func:`~monitor.core.series.alert_figures`)."""
    detail: bool = False
    _next: float = -math.inf

    def __post_init__(self) -> None:
        if self.detail and self.levels is None:
            self.levels = {}

    def sample(self, at: float, assessor: Any) -> None:
        """Record every detector of ``assessor`` if ``at`` reached the next sample time."""
        if at < self._next:
            return
        self._next = (at // self.every + 1) * self.every
        for skey, state in assessor.series.items():
            for slot, det in state.detectors.items():
                if det is None:
                    continue
                thr = det.threshold
                ratio = det.statistic / thr if thr else 0.0
                points = self.series.get((skey, slot))
                if points is None:
                    points = self.series[(skey, slot)] = (array("d"), array("d"))
                points[0].append(at)
                points[1].append(ratio if math.isfinite(ratio) else 0.0)
                if self.levels is not None:
                    self._levels(skey, slot, det)

    def _levels(self, skey: str, slot: str, det: Any) -> None:
        bound = getattr(det, "bound", _ABSENT)
        if bound is _ABSENT:  # distribution, outlier, silence: statistic vs threshold
            value, concern = alert_figures(slot, det)
        else:  # rates and means: the recent level vs the level of concern (none in warm-up)
            value, concern = float(det.value), math.nan if bound is None else float(bound)
        ref = getattr(det, "reference", None)
        assert self.levels is not None
        rows = self.levels.get((skey, slot))
        if rows is None:
            rows = self.levels[(skey, slot)] = (array("d"), array("d"), array("d"))
        rows[0].append(value)
        rows[1].append(concern)
        rows[2].append(math.nan if ref is None else float(ref))

    def signals(self) -> dict[str, list[tuple[str, str]]]:
        """Traced (series, slot) keys by signal name."""
        out: dict[str, list[tuple[str, str]]] = {}
        for key in self.series:
            out.setdefault(key[1].partition(":")[0], []).append(key)
        return out

    def peaks(self) -> list[Peak]:
        """Per signal, the highest ratio reached and where (signals in catalogue order)."""
        out = []
        for signal, keys in self.signals().items():
            best = max(keys, key=lambda k: max(self.series[k][1], default=0.0))
            times, ratios = self.series[best]
            i = max(range(len(ratios)), key=ratios.__getitem__)
            out.append(Peak(signal, ratios[i], label(best), times[i]))
        return out


def label(key: tuple[str, str]) -> str:
    """``("f|v|s", "input_drift:age")`` → ``"f|v|s [age]"``."""
    skey, slot = key
    _, _, name = slot.partition(":")
    return f"{skey} [{name}]" if name else skey
