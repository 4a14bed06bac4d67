"""The signal catalogue: which detector watches each signal, with what defaults, where.

Series roles follow the rollups of :meth:`monitor.core.records.SeriesKey.rollups`:
``exact`` (feature, version, site), ``version`` (feature, version, *),
``site`` (feature, *, site) and ``feature`` (feature, *, *). A signal runs only
in the roles where it means something: score and input drift are properties
of a model version; a silent site is a (feature, site) matter; site outliers
need the feature-wide view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.core.detectors.base import Detector, DetectorParams
from monitor.core.detectors.bernoulli import BernoulliCUSUM
from monitor.core.detectors.distribution import CategoricalDrift, HistogramDrift
from monitor.core.detectors.funnel import FunnelOutlier
from monitor.core.detectors.numeric import MeanShiftCUSUM
from monitor.core.detectors.score import ScoreDrift
from monitor.core.detectors.silence import SilenceDetector
from monitor.core.records import ALL, SeriesKey


@dataclass(frozen=True)
class SignalSpec:
    name: str
    detector: type[Detector]
    defaults: dict[str, Any] = field(default_factory=dict)
    roles: frozenset[str] = frozenset({"exact", "version", "site", "feature"})

    def detector_for(self, x: Any) -> type[Detector]:
        """Input drift: a histogram for numeric inputs, frequencies for categorical codes."""
        if self.name == "input_drift" and isinstance(x, str):
            return CategoricalDrift
        return self.detector

    @property
    def params_model(self) -> type[DetectorParams]:
        return self.detector.params_model


def role(key: SeriesKey) -> str:
    if key.model_version == ALL:
        return "feature" if key.site == ALL else "site"
    return "version" if key.site == ALL else "exact"


_WARMUP = 3 * 86400.0
"""Rate baselines span several days: diurnal and weekday mixes, and expiries and late
feedback, which trail their suggestions by hours, must be in the reference."""
_EVERYWHERE = frozenset({"exact", "version", "site", "feature"})
_PER_VERSION = frozenset({"exact", "version"})

SIGNAL_SPECS: dict[str, SignalSpec] = {
    s.name: s
    for s in (
        SignalSpec(
            "acceptance_rate",
            BernoulliCUSUM,
            # The clinician mix of a weekend afternoon can dip acceptance by ~3 points for
            # an hour or two: a 2,000-observation recent level (the minimum-effect gate)
            # does not follow such dips, and costs little delay on lasting shifts.
            # Weekends have their own reference: the weekday-learned one false-alarmed on
            # weekend evenings in 3 of 12 stationary months (variants of control and
            # flag-spike), and none with the weekend reference.
            {
                "direction": "down",
                "min_effect": 0.03,
                "warmup_seconds": _WARMUP,
                "recent_window": 2000,
                "strata": "weekend",
            },
            _EVERYWHERE,
        ),
        SignalSpec(
            "response_rate",
            BernoulliCUSUM,
            # Observed at each suggestion's decision timeout, answered or expired (see
            # monitor.core.assessor). The response rate still moves with the shift and clinician
            # mix: phi estimated in warm-up false-alarmed on 5 of the 18 seed runs; with
            # phi 3 none did, at timeouts of 4 h, 8 h and 24 h, and the highest peak was
            # a third of the threshold. (Before answers were held to their timeout, the
            # mixing of hours needed min_effect 0.10: a 6-point drop went unseen.)
            {
                "direction": "down",
                "min_effect": 0.05,
                "recent_window": 3000,
                "warmup_seconds": _WARMUP,
                "phi": 3.0,  # hour-to-hour variance beyond binomial (the mix above)
                "null_shift": 0.5,
            },
            _EVERYWHERE,
        ),
        SignalSpec(
            "flag_rate",
            BernoulliCUSUM,
            {
                "direction": "up",
                "relative": True,
                "min_effect": 0.9,
                "warmup": 10000,
                "recent_window": 3000,
                "warmup_seconds": _WARMUP,
                # p0 from at least 100 flags (+-10%): from the ~40 flags of 10,000
                # observations it came out low enough to false-alarm on three seeds.
                "warmup_events": 100,
                # No 8x/16x arms: flags follow their suggestion by minutes to hours, so
                # the afternoon's flags land in the quiet evening, and a handful of them
                # among few resolutions tripped the large-shift arms (false alarms on 4 of
                # 18 seed runs: the seeds plus 5 variants each of control and flag-spike).
                "multipliers": (2.0, 4.0),
                # Over-dispersion learned (chi-square gated) from batches of ~4 expected
                # flags; batches of 100 hold 0.4. Clinicians who flag a lot raise it; an
                # even stream keeps 1.0. The fixed 1.5 used before missed one 4-day
                # tripling in six variants of seeds/flag-spike and took 21-40 h on three.
                "batch_size": 1000,
            },
            frozenset({"exact", "version", "feature"}),
        ),
        SignalSpec(
            "correction_burden",
            MeanShiftCUSUM,
            {"direction": "up", "unit": "abs", "min_effect": 0.03},
            frozenset({"exact", "version", "feature"}),
        ),
        SignalSpec(
            "decision_time",
            MeanShiftCUSUM,
            {"direction": "up", "transform": "log", "unit": "abs", "min_effect": 0.25},
            _PER_VERSION,
        ),
        SignalSpec("score_drift", ScoreDrift, {"bounds": (0.0, 1.0)}, _PER_VERSION),
        SignalSpec("input_drift", HistogramDrift, {"bounds": None}, _PER_VERSION),
        SignalSpec(
            "site_outlier",
            FunnelOutlier,
            {"direction": "down", "min_n": 300},
            frozenset({"feature"}),
        ),
        SignalSpec("no_data", SilenceDetector, {}, frozenset({"site"})),
    )
}
