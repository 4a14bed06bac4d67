"""Change and drift detectors of the monitor core (pure Python, river-style ``update``).

Every detector follows :class:`~monitor.core.detectors.base.Detector`: ``update(...)``
returns True when ``firing`` changes; read ``statistic``, ``threshold``,
``value``, ``name``; persist with ``to_state()`` / ``from_state()``.
"""

from monitor.core.detectors.base import Detector, DetectorParams
from monitor.core.detectors.bernoulli import BernoulliCUSUM, BernoulliParams
from monitor.core.detectors.distribution import (
    CategoricalDrift,
    CategoricalParams,
    HistogramDrift,
    HistogramParams,
)
from monitor.core.detectors.funnel import FunnelOutlier, FunnelParams
from monitor.core.detectors.numeric import MeanShiftCUSUM, MeanShiftParams
from monitor.core.detectors.score import ScoreDrift, ScoreDriftParams
from monitor.core.detectors.silence import SilenceDetector, SilenceParams

__all__ = [
    "BernoulliCUSUM",
    "BernoulliParams",
    "CategoricalDrift",
    "CategoricalParams",
    "Detector",
    "DetectorParams",
    "FunnelOutlier",
    "FunnelParams",
    "HistogramDrift",
    "HistogramParams",
    "MeanShiftCUSUM",
    "MeanShiftParams",
    "ScoreDrift",
    "ScoreDriftParams",
    "SilenceDetector",
    "SilenceParams",
]
