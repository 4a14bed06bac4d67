"""Change detectors of the monitor core.

:mod:`~monitor.core.detectors.glr` holds the change-point scans the feature panel runs
over every series at once (:mod:`monitor.core.panel`). The per-series detectors follow
:class:`~monitor.core.detectors.base.Detector` (``update(...)`` returns True when
``firing`` changes; read ``statistic``, ``threshold``, ``value``, ``name``; persist with
``to_state()`` / ``from_state()``): the silence of a site (``no_data``) and the funnel
plot of sites (``site_outlier``).
"""

from monitor.core.detectors.base import Detector, DetectorParams
from monitor.core.detectors.funnel import FunnelOutlier, FunnelParams
from monitor.core.detectors.silence import SilenceDetector, SilenceParams

__all__ = [
    "Detector",
    "DetectorParams",
    "FunnelOutlier",
    "FunnelParams",
    "SilenceDetector",
    "SilenceParams",
]
