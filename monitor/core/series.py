"""Per-series online state: counts, cumulative rates, and the series' own detectors.

One :class:`SeriesState` per :class:`~monitor.core.records.SeriesKey`. It is fed the
resolutions and flags that roll up to its key and keeps cumulative counts. The feature
series ``(feature, *, *)`` also holds the feature's panel
(:class:`~monitor.core.panel.FeaturePanel`), which watches most signals for every series
of the feature; the detectors a series keeps itself are those of ``SIGNAL_SPECS`` in
its role (``no_data`` silence in site series, ``site_outlier`` in the feature series),
or, for a yardstick run, the override's. Each returns an
:class:`~monitor.core.records.Alert` whenever a detector starts or stops firing. State
serializes to a compact JSON-native dict and restores exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

from monitor.core.config import MonitorConfig
from monitor.core.detectors.base import (
    ClockDetector,
    CrossSectionalDetector,
    Detector,
    ObservationDetector,
)
from monitor.core.panel import FeaturePanel
from monitor.core.records import (
    ACCEPTED,
    ALL,
    DECIDED,
    Alert,
    DetectorView,
    Flag,
    Resolution,
    SeriesKey,
)
from monitor.core.signals import SIGNAL_SPECS, role

# Index of each count in SeriesState.counts.
COUNTS = (
    "shown",
    "accepted",
    "edited",
    "rejected",
    "dismissed",
    "expired",
    "flagged",
    "flags",
    "burden_n",
    "decision_n",
)
_IDX = {name: i for i, name in enumerate(COUNTS)}
_STATUS_IDX = {s: _IDX[s] for s in ("accepted", "edited", "rejected", "dismissed", "expired")}

MAX_DETECTORS = 128
"""A series takes no new input name once it has this many detectors (its signals'
and its inputs'). Names come from the events; a bridge that sends ever new ones (an
identifier as a name) would otherwise grow memory, CPU and /metrics without bound."""
MAX_SITES = 4096
"""A feature series compares at most this many sites (site_outlier); later new ones
still count in every series, but are left out of that comparison. With a new site
per event the per-site counts (and each hour's funnel over them) would grow without
bound, past the series cap (``max_series``, which bounds the site series)."""
_NEW = object()
"""A slot with no detector yet (a slot holding None is a disabled signal)."""

DetectorFactory = Callable[[str, SeriesKey, str | None, Any], Detector | None]
"""(signal, key, input name, first value) -> a new detector, or None when disabled."""
_D = TypeVar("_D", bound=Detector)


class SeriesState:
    """Online state of one series.

    Parameters
    ----------
    key
        The series.
    factory
        Builds a detector for a signal (the :class:`~monitor.core.assessor.Assessor`
        passes one that applies config and inherited baselines).
    """

    __slots__ = (
        "burden_sum",
        "categories",
        "counts",
        "created",
        "decision_log_sum",
        "detectors",
        "key",
        "last_at",
        "next_outlier",
        "panel",
        "per_series",
        "responses",
        "role",
        "since",
        "sites",
    )

    def __init__(self, key: SeriesKey) -> None:
        self.key = key
        self.role = role(key)
        self.counts = [0] * len(COUNTS)
        self.burden_sum = 0.0
        self.decision_log_sum = 0.0
        self.last_at = -math.inf
        self.detectors: dict[str, Detector | None] = {}
        self.created: list[str] = []
        """Slots whose detector was created since the owner last looked (baselines)."""
        self.sites: dict[str, list[float]] = {}
        """Feature role only: site -> [accepted, decided], exponentially decayed."""
        self.next_outlier = -math.inf
        self.responses: dict[float, int] = {}
        """Answered suggestions not yet seen by a yardstick's ``response_rate``, by the
        clock tick at or after their decision timeout (see :meth:`defer_response`)."""
        self.panel: FeaturePanel | None = None
        """The feature's panel (feature series only; none in a yardstick run)."""
        self.per_series = False
        """Feed every signal to this series' own detectors (a yardstick run)."""
        self.categories: dict[str, int] = {}
        """Flags by category (every flag, as ``flags`` counts them)."""
        self.since: dict[str, float] = {}
        """Event time each firing alert began: by slot, ``site_outlier:<site>`` per site."""

    # -- updates ----------------------------------------------------------------------------

    def observe(self, res: Resolution, factory: DetectorFactory) -> list[Alert]:
        """Apply one resolution; return the alerts it raised or resolved."""
        c = self.counts
        c[0] += 1
        c[_STATUS_IDX[res.status]] += 1
        if res.at > self.last_at:
            self.last_at = res.at
        alerts: list[Alert] = []
        at = res.at
        decided = res.status in DECIDED
        if self.panel is not None:
            self.panel.observe(res)
        if decided and self.role == "feature":
            site = self.sites.get(res.site)
            if site is None and len(self.sites) < MAX_SITES:
                site = self.sites[res.site] = [0.0, 0.0]
            if site is not None:
                site[0] += res.status in ACCEPTED
                site[1] += 1.0
        if self.role == "site" and res.status != "expired":
            # activity; an expiry is the *absence* of an answer hours after the
            # suggestion was shown, and counted as activity it ended silences
            self._feed_silence(1, at, factory, alerts)
        if res.burden is not None:
            c[8] += 1
            self.burden_sum += res.burden
        if res.decision_seconds is not None:
            c[9] += 1
            self.decision_log_sum += math.log(max(res.decision_seconds, 1e-3))
        if not self.per_series:
            return alerts
        if not decided:  # an expiry; an answer is held until its timeout (defer_response)
            self._feed("response_rate", False, at, factory, alerts)
        else:
            self._feed("acceptance_rate", res.status in ACCEPTED, at, factory, alerts)
        if res.burden is not None:
            self._feed("correction_burden", res.burden, at, factory, alerts)
        if res.decision_seconds is not None:
            self._feed("decision_time", res.decision_seconds, at, factory, alerts)
        if res.score is not None:
            self._feed("score_drift", res.score, at, factory, alerts)
        if res.inputs:
            for name, value in res.inputs.items():
                slot = f"input_drift:{name}"
                det = self.detectors.get(slot, _NEW)
                if det is _NEW and len(self.detectors) >= MAX_DETECTORS:
                    continue  # a bridge sending ever new input names: not monitored
                self._feed(slot, value, at, factory, alerts)
        # Flag rate as a Bernoulli stream per shown suggestion: a 0 now, a 1 on its first flag.
        self._feed("flag_rate", False, at, factory, alerts)
        return alerts

    def defer_response(self, tick: float) -> bool:
        """Hold an answer for ``response_rate`` until *tick* (the owner's clock tick at or
        after the suggestion's decision timeout); True when *tick* is new here."""
        n = self.responses.get(tick, 0)
        self.responses[tick] = n + 1
        return n == 0

    def observe_responses(self, n: int, at: float, factory: DetectorFactory) -> list[Alert]:
        """*n* answers held until *at*: ``response_rate`` sees every suggestion at its
        timeout, answered or expired, so both follow the volume of the same hour."""
        alerts: list[Alert] = []
        for _ in range(n):
            self._feed("response_rate", True, at, factory, alerts)
        return alerts

    def observe_flag(self, flag: Flag, factory: DetectorFactory) -> list[Alert]:
        """Apply one flag; only the first flag of a suggestion counts toward the flag rate."""
        self.counts[7] += 1
        self.categories[flag.category] = self.categories.get(flag.category, 0) + 1
        alerts: list[Alert] = []
        if self.panel is not None:
            self.panel.observe_flag(flag)
        if flag.first:
            self.counts[6] += 1
            if self.per_series:
                self._feed("flag_rate", True, flag.at, factory, alerts)
        return alerts

    def tick(
        self, at: float, factory: DetectorFactory, outlier_interval: float, half_life: float
    ) -> list[Alert]:
        """Clock tick at event time *at*: time-driven signals (no_data, site_outlier)."""
        alerts: list[Alert] = []
        if self.panel is not None:
            alerts.extend(self.panel.tick(at))
        if self.role == "site":
            self._feed_silence(0, at, factory, alerts)
        elif self.role == "feature" and self.sites:
            # Assessed on the epoch-aligned grid of ``outlier_interval``: the schedule
            # must not depend on which tick an engine happened to deliver first.
            if self.next_outlier == -math.inf:
                self.next_outlier = (at // outlier_interval + 1) * outlier_interval
            if at < self.next_outlier:
                return alerts
            self.next_outlier = (at // outlier_interval + 1) * outlier_interval
            alerts.extend(self._assess_sites(at, factory, outlier_interval, half_life))
        return alerts

    def _assess_sites(
        self, at: float, factory: DetectorFactory, interval: float, half_life: float
    ) -> list[Alert]:
        slot = "site_outlier"
        det = self._slot(slot, CrossSectionalDetector, factory, None)
        alerts: list[Alert] = []
        if det is not None and det.assess({s: (v[0], v[1]) for s, v in self.sites.items()}):
            f = self.key.feature
            for site, state, _z in det.changes:
                self._since(f"{slot}:{site}", state == "firing", at)
                fig = det.unit_figures(site)
                alerts.append(
                    Alert(at, state, slot, f, ALL, site, _finite(fig.value),
                          _finite(fig.threshold), det.name)
                )  # fmt: skip
        decay = 0.5 ** (interval / half_life)
        for v in self.sites.values():
            v[0] *= decay
            v[1] *= decay
        return alerts

    def _feed(
        self, slot: str, x: Any, at: float, factory: DetectorFactory, alerts: list[Alert]
    ) -> None:
        """Update the detector in *slot* (``signal`` or ``input_drift:<name>``) with *x*."""
        det = self._slot(slot, ObservationDetector, factory, x)
        if det is not None and det.update(x, at):
            alerts.append(self._alert_for(slot, det, at))

    def _feed_silence(
        self, count: int, at: float, factory: DetectorFactory, alerts: list[Alert]
    ) -> None:
        """no_data: the silence detector takes *count* events (0: a clock tick) at *at*."""
        det = self._slot("no_data", ClockDetector, factory, count)
        if det is not None and det.tick(at, count):
            alerts.append(self.alert("no_data", det, at, None))

    def _slot(self, slot: str, kind: type[_D], factory: DetectorFactory, x: Any) -> _D | None:
        """The detector in *slot*, created on first use (None: the signal is disabled).
        A factory's detector that does not follow the slot's protocol is a TypeError."""
        det = self.detectors.get(slot, _NEW)
        if det is not _NEW:
            return cast("_D | None", det)
        name, _, input_name = slot.partition(":")
        new = factory(name, self.key, input_name or None, x)
        if new is not None and not isinstance(new, kind):
            raise TypeError(f"{slot} needs a {kind.__name__}, not {type(new).__name__}")
        self.detectors[slot] = new
        self.created.append(slot)
        return new

    def _alert_for(self, slot: str, det: Detector, at: float) -> Alert:
        name, _, input_name = slot.partition(":")
        return self.alert(name, det, at, input_name or None)

    def alert(self, signal: str, det: Detector, at: float, input_name: str | None) -> Alert:
        value, threshold = alert_figures(det)
        self._since(signal if input_name is None else f"{signal}:{input_name}", det.firing, at)
        f, v, s = self.key
        return Alert(
            at,
            "firing" if det.firing else "resolved",
            signal,
            f,
            v,
            s,
            value,
            threshold,
            det.name,
            input_name,
        )

    def _since(self, slot: str, firing: bool, at: float) -> None:
        if firing:
            self.since[slot] = at
        else:
            self.since.pop(slot, None)

    # -- read-outs --------------------------------------------------------------------------

    def count(self, name: str) -> int:
        return self.counts[_IDX[name]]

    def rates(self) -> dict[str, float | None]:
        """Cumulative rates as DESIGN.md defines them (None when undefined)."""
        c = self.counts
        shown = c[0]
        decided = c[1] + c[2] + c[3] + c[4]
        return {
            "acceptance_rate": (c[1] + c[2]) / decided if decided else None,
            "response_rate": decided / shown if shown else None,
            "flag_rate": c[6] / shown if shown else None,
            "correction_burden": self.burden_sum / c[8] if c[8] else None,
            "decision_time": math.exp(self.decision_log_sum / c[9]) if c[9] else None,
        }

    def views(self) -> list[DetectorView]:
        """Every detector of the series and, in the feature series, of its panel."""
        f, v, s = self.key
        out = []
        for slot, det in self.detectors.items():
            if det is None:
                continue
            signal, _, input_name = slot.partition(":")
            fig = det.figures()
            began = self.since.get(slot) if det.firing else None  # a time-driven alert
            out.append(DetectorView(
                slot, signal, input_name or None, f, v, s, det.name, det.firing,
                float(det.statistic), float(det.threshold), float(det.value),
                float(fig.reference), float(fig.concern),
                began,
                fired=began,
            ))  # fmt: skip
        if self.panel is not None:
            out.extend(self.panel.views())
        return out

    def firing(self) -> list[DetectorView]:
        return [v for v in self.views() if v.firing]

    def site_outlier(self) -> CrossSectionalDetector | None:
        """The feature series' funnel of its sites (None: not yet assessed, disabled,
        or another role)."""
        return cast("CrossSectionalDetector | None", self.detectors.get("site_outlier"))

    # -- state ------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "k": list(self.key),
            "c": self.counts,
            "b": self.burden_sum,
            "d": self.decision_log_sum,
            "t": self.last_at if math.isfinite(self.last_at) else None,
            "s": self.sites,
            "o": self.next_outlier if math.isfinite(self.next_outlier) else None,
            "r": [[tick, n] for tick, n in sorted(self.responses.items())],
            "g": self.categories,
            "f": self.since,
            "x": {
                slot: (None if det is None else [type(det).__name__, det.to_state()])
                for slot, det in self.detectors.items()
            },
            "p": None if self.panel is None else self.panel.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: MonitorConfig | None = None) -> SeriesState:
        """Restore :meth:`to_state` output (``config``: the panel's, default config)."""
        obj = cls(SeriesKey(*state["k"]))
        obj.counts = list(state["c"])
        obj.burden_sum = state["b"]
        obj.decision_log_sum = state["d"]
        obj.last_at = -math.inf if state["t"] is None else state["t"]
        obj.sites = {k: list(v) for k, v in state["s"].items()}
        obj.next_outlier = -math.inf if state["o"] is None else state["o"]
        obj.responses = {tick: n for tick, n in state.get("r", ())}  # absent before 2026-11
        obj.categories = dict(state.get("g", {}))  # absent before 2026-12
        obj.since = dict(state.get("f", {}))
        obj.detectors = {
            slot: (None if item is None else DETECTOR_CLASSES[item[0]].from_state(item[1]))
            for slot, item in state["x"].items()
        }
        obj.created = list(obj.detectors)
        if state.get("p") is not None:
            panel = state["p"]
            obj.panel = FeaturePanel.from_state(obj.key.feature, config or MonitorConfig(), panel)
        return obj


DETECTOR_CLASSES: dict[str, type[Detector]] = {
    spec.detector.__name__: spec.detector for spec in SIGNAL_SPECS.values()
}


def alert_figures(det: Detector) -> tuple[float, float]:
    """(value, threshold) for the alert log, as the detector reports them
    (:meth:`~monitor.core.detectors.base.Detector.figures`), rounded; 0 if not finite."""
    fig = det.figures()
    return _finite(fig.value), _finite(fig.threshold)


def _finite(x: float) -> float:
    return round(x, 6) if math.isfinite(x) else 0.0
