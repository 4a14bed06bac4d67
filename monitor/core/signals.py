"""The signal catalogue: what watches each signal, with what defaults, where.

Most signals are watched by the feature's panel (:mod:`monitor.core.panel`): one
change-point scan per signal over every series of the feature at once, with
references borrowed from peers and predecessors. ``PANEL_SPECS`` lists them: the
statistic family (``rate``: successes among observations; ``mean``: a measurement;
``mix``: category frequencies), the kinds of series it runs on (``feature``,
``site``, ``version``, ``exact`` = version at a site), whether calendar strata are
removed, and its scan parameters (:class:`ScanParams`).

Two signals keep a detector per series (``SIGNAL_SPECS``): ``no_data`` (a site's
silence against its hour-of-week profile, in the ``(feature, *, site)`` series) and
``site_outlier`` (a funnel plot of the sites' current acceptance, in the feature
series). ``volume_share`` configures the panel's second ``no_data`` detector: a site
whose share of the feature's volume drops (partial loss, or silence while its peers
are busy).

Series roles follow :meth:`monitor.core.records.SeriesKey.rollups`: ``exact``
(feature, version, site), ``version`` (feature, version, *), ``site`` (feature, *,
site) and ``feature`` (feature, *, *).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from monitor.core.detectors.base import Detector, DetectorParams
from monitor.core.detectors.funnel import FunnelOutlier
from monitor.core.detectors.silence import SilenceDetector
from monitor.core.durations import Seconds
from monitor.core.records import ALL, SeriesKey

__all__ = [
    "CONFIG_BLOCKS",
    "PANEL_SPECS",
    "SIGNAL_NAMES",
    "SIGNAL_SPECS",
    "PanelSpec",
    "ScanParams",
    "SignalSpec",
    "role",
]


@dataclass(frozen=True)
class SignalSpec:
    """A signal with its own detector in each series of the given roles."""

    name: str
    detector: type[Detector]
    defaults: dict[str, Any] = field(default_factory=dict)
    roles: frozenset[str] = frozenset({"exact", "version", "site", "feature"})

    @property
    def params_model(self) -> type[DetectorParams]:
        return self.detector.params_model


class ScanParams(DetectorParams):
    """Parameters of a panel signal's change-point scan (:mod:`monitor.core.panel`)."""

    direction: Literal["down", "up", "both"]
    """Which change alarms: a drop, a rise, or either."""
    min_effect: float = Field(gt=0.0)
    """Smallest change worth an alert: absolute (``unit="abs"``), in the feature's
    standard deviations (``unit="sd"``), or a fraction of the before level (``relative``)."""
    relative: bool = False
    unit: Literal["abs", "sd"] = "abs"
    code_effect: float = Field(0.05, gt=0.0, lt=1.0)
    """``input_drift`` on coded inputs: smallest change of one code's frequency."""
    z: float = Field(5.5, gt=0.0)
    """Scan statistic that fires (the best split's signed-root likelihood ratio)."""
    z_resolve: float = Field(3.0, gt=0.0)
    """A firing row resolves when its statistic falls below this."""
    gate: float = Field(0.5, ge=0.0, le=4.0)
    """The estimated change must also reach ``gate x min_effect`` (a significant but
    negligible change at high volume does not alarm)."""
    min_after_seconds: Seconds = Field(3600.0, ge=0.0)
    """Event time the after segment needs: a burst of minutes is not a change."""
    min_after: int = Field(10, ge=1)
    """Observations the after segment needs."""
    prior_max: float = Field(500.0, ge=0.0)
    """Most pseudo-observations a site's before level borrows from its peers; for a
    ``relative`` rate (a rare event such as a flag), most pseudo-events."""
    prior_max_version: float = Field(2000.0, ge=0.0)
    """Most pseudo-observations a new version's before level borrows from its predecessor."""
    tau_floor: float = Field(0.02, gt=0.0)
    """Least between-site spread assumed (signal units, relative or SD units as
    ``min_effect``): bounds how much a short history trusts its peers."""
    overdispersed: bool = False
    """Rates only: divide the row's evidence by its Pearson over-dispersion across its
    buckets (quasi-binomial), for counts that vary more than a binomial allows (bursts,
    day-to-day volume noise: ``volume_share``)."""

    @model_validator(mode="after")
    def _check(self) -> ScanParams:
        if self.z_resolve > self.z:
            raise ValueError("z_resolve must be <= z")
        if self.relative and self.unit != "abs":
            raise ValueError("relative effects are fractions of the level: leave unit abs")
        return self


@dataclass(frozen=True)
class PanelSpec:
    """A signal watched by the feature panel."""

    name: str
    family: Literal["rate", "mean", "mix"]
    kinds: frozenset[str]
    detector: str
    """Detector name in the alert log."""
    defaults: dict[str, Any]
    calendar: bool = True
    """Remove the calendar strata's offsets (night, weekend) from observations."""
    alert_signal: str = ""
    """Signal name in alerts and metrics (default: ``name``)."""
    params_model: type[ScanParams] = ScanParams

    @property
    def signal(self) -> str:
        return self.alert_signal or self.name


def role(key: SeriesKey) -> str:
    if key.model_version == ALL:
        return "feature" if key.site == ALL else "site"
    return "version" if key.site == ALL else "exact"


_ALL_KINDS = frozenset({"feature", "site", "version", "exact"})
_NO_EXACT = frozenset({"feature", "site", "version"})

PANEL_SPECS: dict[str, PanelSpec] = {
    s.name: s
    for s in (
        PanelSpec(
            "acceptance_rate", "rate", _ALL_KINDS, "glr-rate",
            {"direction": "down", "min_effect": 0.03},
        ),
        # observed at each suggestion's decision timeout, answered or expired
        PanelSpec(
            "response_rate", "rate", _ALL_KINDS, "glr-rate",
            {"direction": "down", "min_effect": 0.05},
        ),
        PanelSpec(
            "flag_rate", "rate", _NO_EXACT, "glr-rate",
            {"direction": "up", "min_effect": 0.9, "relative": True, "tau_floor": 0.3,
             "prior_max": 10.0},
            calendar=False,
        ),
        PanelSpec(
            "correction_burden", "mean", _ALL_KINDS, "glr-mean",
            {"direction": "up", "min_effect": 0.03, "tau_floor": 0.01},
        ),
        # on log seconds: min_effect 0.25 is a 28% longer geometric mean
        PanelSpec(
            "decision_time", "mean", _NO_EXACT, "glr-mean",
            {"direction": "up", "min_effect": 0.25, "tau_floor": 0.05},
        ),
        PanelSpec(
            "score_drift", "mean", frozenset({"feature", "version"}), "glr-mean",
            {"direction": "both", "min_effect": 0.25, "unit": "sd", "tau_floor": 0.1},
            calendar=False,
        ),
        # numbers: their mean (log scale when positive); codes: their frequencies
        PanelSpec(
            "input_drift", "mean", _NO_EXACT, "glr-input",
            {"direction": "both", "min_effect": 0.25, "unit": "sd", "tau_floor": 0.1},
            calendar=False,
        ),
        PanelSpec(
            "volume_share", "rate", frozenset({"site"}), "glr-share",
            {"direction": "down", "min_effect": 0.4, "relative": True, "tau_floor": 0.1,
             "min_after_seconds": 4 * 3600.0, "overdispersed": True},
            calendar=False, alert_signal="no_data",
        ),
    )
}  # fmt: skip

SIGNAL_SPECS: dict[str, SignalSpec] = {
    s.name: s
    for s in (
        SignalSpec(
            "site_outlier",
            FunnelOutlier,
            {"direction": "down", "min_n": 300, "z": 3.5, "tau_floor": 0.02},
            frozenset({"feature"}),
        ),
        SignalSpec("no_data", SilenceDetector, {}, frozenset({"site"})),
    )
}

SIGNAL_NAMES: frozenset[str] = frozenset(
    {s.signal for s in PANEL_SPECS.values()} | set(SIGNAL_SPECS)
)
"""The signal names of alerts and metrics (DESIGN.md)."""

CONFIG_BLOCKS: dict[str, tuple[type[DetectorParams], dict[str, Any]]] = {
    **{n: (s.params_model, s.defaults) for n, s in PANEL_SPECS.items()},
    **{n: (s.params_model, s.defaults) for n, s in SIGNAL_SPECS.items()},
}
"""Every signal block a config may hold: its parameter model and built-in defaults."""
