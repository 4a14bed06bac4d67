"""Plain river detectors at their defaults, run on the same per-series streams.

The yardstick for ``vitals replay --truth``: river's ``ADWIN`` and
``PageHinkley`` with default parameters, fed exactly the observations our
detectors get (acceptance, response, flag indicators; burden; decision time;
score). A river detection is reported as an alert that fires and resolves at
the next observation, so the scorer counts each detection once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from river import drift

from monitor.core.detectors.base import DetectorParams, ObservationDetector


class RiverParams(DetectorParams):
    pass


class RiverDetector(ObservationDetector):
    """Adapter from a river drift detector to the Vitals observation detector."""

    params_model = RiverParams
    make: ClassVar[Any] = None

    def __init__(self, params: DetectorParams | None = None, **_: Any) -> None:
        super().__init__(RiverParams())
        self._det = type(self).make()
        self._last = 0.0

    def update(self, x: float, t: float) -> bool:
        self._last = float(x)
        self._det.update(self._last)
        was = self._firing
        self._firing = bool(self._det.drift_detected)
        return self._firing != was

    @property
    def statistic(self) -> float:
        return 1.0 if self._firing else 0.0

    @property
    def threshold(self) -> float:
        return 1.0

    @property
    def value(self) -> float:
        return self._last


class ADWINDefault(RiverDetector):
    name = "river-adwin"
    make = drift.ADWIN


class PageHinkleyDefault(RiverDetector):
    name = "river-pagehinkley"
    make = drift.PageHinkley


RIVER_SIGNALS = (
    "acceptance_rate",
    "response_rate",
    "flag_rate",
    "correction_burden",
    "decision_time",
    "score_drift",
)
