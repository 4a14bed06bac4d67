"""Change detectors of the monitor core.

:mod:`~monitor.core.detectors.glr` holds the change-point scans the feature panel runs
over every series at once (:mod:`monitor.core.panel`). The per-series detectors follow
one of the protocols of :mod:`~monitor.core.detectors.base`, by what feeds them
(each call returns True when ``firing`` changes; read ``statistic``, ``threshold``,
``value``, ``name``, ``figures()``; persist with ``to_state()`` / ``from_state()``):
the silence of a site (``no_data``, a :class:`ClockDetector`) and the funnel plot of
sites (``site_outlier``, a :class:`CrossSectionalDetector`). The river yardsticks of
:mod:`monitor.baselines` are observation detectors (:class:`ObservationDetector`).
"""

from monitor.core.detectors.base import (
    AlertFigures,
    ClockDetector,
    CrossSectionalDetector,
    Detector,
    DetectorParams,
    ObservationDetector,
    UnitChange,
)
from monitor.core.detectors.funnel import FunnelOutlier, FunnelParams
from monitor.core.detectors.silence import SilenceDetector, SilenceParams

__all__ = [
    "AlertFigures",
    "ClockDetector",
    "CrossSectionalDetector",
    "Detector",
    "DetectorParams",
    "FunnelOutlier",
    "FunnelParams",
    "ObservationDetector",
    "SilenceDetector",
    "SilenceParams",
    "UnitChange",
]
