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
    detectable: dict[tuple[str, str], array] = field(default_factory=dict)
    """Same keys → the smallest change the detector could see then, as a multiple of its
    minimum effect (panel detectors only; inf while it cannot yet)."""
    levels: dict[tuple[str, str], tuple[array, array, array]] | None = None
    """With ``detail=True``, at the same samples: the detector's value, its level of
    concern and its reference, in the signal's units (NaN where it has none)."""
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
        for state in assessor.series.values():
            for view in state.views():
                key = (view.series, view.slot)
                points = self.series.get(key)
                if points is None:
                    points = self.series[key] = (array("d"), array("d"))
                points[0].append(at)
                points[1].append(view.ratio)
                if view.min_effect == view.min_effect and view.detectable == view.detectable:
                    det = self.detectable.get(key)
                    if det is None:
                        det = self.detectable[key] = array("d", [math.inf] * (len(points[0]) - 1))
                    det.append(view.detectable / view.min_effect)
                if self.levels is not None:
                    rows = self.levels.get(key)
                    if rows is None:
                        rows = self.levels[key] = (array("d"), array("d"), array("d"))
                    rows[0].append(view.value)
                    rows[1].append(view.concern)
                    rows[2].append(view.reference)

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
