"""Change and drift detectors of the monitor core (pure Python, river-style ``update``).

Every detector follows :class:`~monitor.detectors.base.Detector`: ``update(...)``
returns True when ``firing`` changes; read ``statistic``, ``threshold``,
``value``, ``name``; persist with ``to_state()`` / ``from_state()``.
"""

from monitor.detectors.base import Detector, DetectorParams
from monitor.detectors.bernoulli import BernoulliCUSUM, BernoulliParams
from monitor.detectors.distribution import (
    CategoricalDrift,
    CategoricalParams,
    HistogramDrift,
    HistogramParams,
)
from monitor.detectors.funnel import FunnelOutlier, FunnelParams
from monitor.detectors.numeric import MeanShiftCUSUM, MeanShiftParams
from monitor.detectors.score import ScoreDrift, ScoreDriftParams
from monitor.detectors.silence import SilenceDetector, SilenceParams

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
