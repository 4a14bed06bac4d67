"""Prometheus exposition of the monitor's current state (a custom Collector).

Renders, at scrape time, the series an engine currently holds: a series whose
partition moved to another worker disappears instead of going stale, so
``sum()`` across workers counts each series once. Label values are contract slugs.

The rules (README, "Metrics"):

* **Counters are exported for leaf series only** (``feature, model_version, site``,
  no ``*``): ``sum()`` of a counter never double counts a rollup; aggregate with
  PromQL (``sum by (feature)``).
* **Detector state is a gauge on every series that runs the detector**, rollups
  included, with a ``role`` label (``exact``, ``version`` = all sites, ``site`` = all
  versions, ``feature`` = both): gauges are levels, not amounts, and ``role`` picks one
  level of the rollup, so nothing adds a rollup to its parts.
* **One unit per metric name**: ratios in ``*_ratio``, durations in ``*_seconds``,
  score and input levels in ``vitals_drift_level`` (their own units); the ``signal``
  label selects among signals of that unit.
* The feature's panel (:mod:`monitor.core.panel`) runs the scans of every row of a
  feature on its feature series; each row is exported under its own labels and role.
* ``input`` is present only on ``input_drift`` series.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import get_args

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from monitor.core.assessor import Assessor
from monitor.core.contract import FeedbackCategory
from monitor.core.detectors.base import CrossSectionalDetector, Detector
from monitor.core.records import ALL, DetectorView
from monitor.core.series import SeriesState

LABELS = ("feature", "model_version", "site")
CATEGORIES: tuple[str, ...] = get_args(FeedbackCategory)
STATUSES = ("accepted", "edited", "rejected", "dismissed", "expired")
SECONDS_SIGNALS = frozenset({"decision_time"})
"""Level signals measured in seconds; every other level signal is a ratio."""
DRIFT_SIGNALS = frozenset({"score_drift", "input_drift"})


class _Family:
    """A gauge whose samples may carry different label sets (``input`` only where it
    applies): prometheus-client families fix their label names, the exposition does not."""

    def __init__(self, name: str, doc: str) -> None:
        self.metric = Metric(name, doc, "gauge")

    def add(self, labels: dict[str, str], value: float) -> None:
        self.metric.add_sample(self.metric.name, labels, float(value))


def _levels(
    unit: str, what: str, prefix: str = "vitals_signal"
) -> tuple[_Family, _Family, _Family]:
    """(level, reference, concern) families: a panel row reports the level since the split
    its scan found and the level before it; a time-driven detector its current value."""
    names = (f"{prefix}_{unit}", f"{prefix}_reference_{unit}", f"{prefix}_concern_{unit}")
    return (
        _Family(names[0], f"Level of a signal in {what}: since the change the scan found."),
        _Family(names[1], f"Reference level in {what}: before that change (the baseline)."),
        _Family(
            names[2],
            f"Level of concern in {what}: the reference moved by the minimum effect towards"
            " the alarm side.",
        ),
    )


class MonitorCollector(Collector):
    """Collect per-series counts and detector state from live assessors."""

    def __init__(self, assessors: Callable[[], Iterable[Assessor]]) -> None:
        self._assessors = assessors

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "vitals_suggestions",
            "Resolved suggestions by outcome status (expired = no outcome in time); leaf series.",
            labels=[*LABELS, "status"],
        )
        flagged = CounterMetricFamily(
            "vitals_flagged_suggestions",
            "Suggestions flagged at least once by clinicians; leaf series.",
            labels=LABELS,
        )
        flags = CounterMetricFamily(
            "vitals_flags",
            "Clinician flags by category (a suggestion may be flagged more than once); leaf"
            " series.",
            labels=[*LABELS, "category"],
        )
        burden = SummaryMetricFamily(
            "vitals_correction_burden_ratio",
            "Correction burden of accepted and edited suggestions with an edit distance"
            " (edits / max(draft, final length)); rate(_sum) / rate(_count) is the mean; leaf"
            " series.",
            labels=LABELS,
        )
        decision = GaugeMetricFamily(
            "vitals_decision_time_seconds",
            "Geometric mean decision time (outcome time - suggestion time) of every decided"
            " suggestion of the series since its state began.",
            labels=[*LABELS, "role"],
        )
        firing = _Family("vitals_alert_firing", "1 while a signal's detector is firing.")
        since = _Family(
            "vitals_alert_firing_since_timestamp_seconds",
            "Event time the firing alert began (the alert log's 'at').",
        )
        onset = _Family(
            "vitals_change_start_timestamp_seconds",
            "While an alert fires: event time its change began, as the detector estimates it"
            " (the evidence's 'since'; earlier than the firing time).",
        )
        stat = _Family(
            "vitals_detector_statistic_ratio",
            "Detector statistic divided by its threshold (>= 1: alarming; an alert also needs"
            " the detector's gates).",
        )
        ratio = _levels("ratio", "ratio units")
        seconds = _levels("seconds", "seconds")
        drift = _levels(
            "level",
            "the signal's own units (model score, a numeric input's values; for a coded input"
            " the frequency of the code that moved most)",
            prefix="vitals_drift",
        )
        detectable = _Family(
            "vitals_detectable_effect_ratio",
            "Smallest change the detector could alarm on within a day, over its minimum effect"
            " (1: sees its minimum effect; above 2 it is still learning).",
        )
        learning = _Family(
            "vitals_detector_learning",
            "1 while a detector cannot yet see twice its minimum effect within a day.",
        )
        silence = _Family(
            "vitals_silence_seconds",
            "Event-time seconds since the (feature, site)'s last event, as of its last tick.",
        )
        held = GaugeMetricFamily(
            "vitals_series", "Series held (rollups and the overflow series included)."
        )
        overflow = CounterMetricFamily(
            "vitals_series_overflow",
            "Deliveries for new series past max_series, folded into the series"
            " 'vitals-overflow' (monitor/core/assessor.py).",
        )
        outlier_z = _Family(
            "vitals_site_outlier_z",
            "A site's over-dispersion-adjusted z-score on the feature's funnel plot.",
        )
        outlier_limit = _Family(
            "vitals_site_outlier_limit_z", "Funnel-plot control limit, in z units."
        )
        established = GaugeMetricFamily(
            "vitals_model_version_established_timestamp_seconds",
            "Event time a model version's baseline was established (phased rollouts; a later"
            " version is compared with it).",
            labels=["feature", "model_version"],
        )
        versions: dict[tuple[str, str], float] = {}
        n_series = n_overflow = 0
        for assessor in self._assessors():
            n_series += len(assessor.series)
            n_overflow += assessor.overflowed
            for state in assessor.series.values():
                base = dict(zip(LABELS, state.key, strict=True))
                if state.role == "exact":
                    self._counters(state, list(state.key), counts, flagged, flags, burden)
                role = {**base, "role": state.role}
                mean = state.rates()["decision_time"]
                if mean is not None:
                    decision.add_metric([*state.key, state.role], mean)
                funnel = state.site_outlier()
                if funnel is not None:
                    # the funnel's own statistic (largest |z| / limit) on the feature
                    # series, as the report's trace draws it; firing is per site
                    stat.add({**role, "signal": "site_outlier"}, _ratio(funnel))
                    self._sites(state, funnel, base, firing, since, ratio, outlier_z)
                    outlier_limit.add({"feature": state.key.feature}, funnel.threshold)
                if state.panel is not None:
                    for version, at in state.panel.established.items():
                        versions[state.key.feature, version] = at
                for view in state.views():
                    if view.signal == "site_outlier":
                        continue
                    lab = _labels(view)
                    firing.add(lab, 1.0 if view.firing else 0.0)
                    stat.add(lab, view.ratio)
                    if view.fired is not None:
                        since.add(lab, view.fired)
                    if view.since is not None:
                        onset.add(lab, view.since)
                    if view.detectable == view.detectable and view.min_effect > 0:
                        detectable.add(lab, _finite(view.detectable / view.min_effect, 1e9))
                        learning.add(lab, 1.0 if view.learning else 0.0)
                    if view.detector == "silence":
                        silence.add(lab, _finite(view.value))
                    elif view.signal in DRIFT_SIGNALS:
                        _add_levels(drift, lab, view)
                    else:
                        _add_levels(seconds if view.signal in SECONDS_SIGNALS else ratio, lab, view)
        for (feature, version), at in sorted(versions.items()):
            established.add_metric([feature, version], at)
        held.add_metric([], n_series)
        overflow.add_metric([], n_overflow)
        yield held
        yield overflow
        yield counts
        yield flagged
        yield flags
        yield burden
        yield decision
        for fam in (
            firing,
            since,
            onset,
            stat,
            detectable,
            learning,
            *ratio,
            *seconds,
            *drift,
            silence,
        ):
            yield fam.metric
        yield outlier_z.metric
        yield outlier_limit.metric
        yield established

    @staticmethod
    def _counters(
        state: SeriesState,
        labels: list[str],
        counts: CounterMetricFamily,
        flagged: CounterMetricFamily,
        flags: CounterMetricFamily,
        burden: SummaryMetricFamily,
    ) -> None:
        for status in STATUSES:
            counts.add_metric([*labels, status], state.count(status))
        flagged.add_metric(labels, state.count("flagged"))
        for category in CATEGORIES:
            flags.add_metric([*labels, category], state.categories.get(category, 0))
        burden.add_metric(labels, count_value=state.count("burden_n"), sum_value=state.burden_sum)

    @staticmethod
    def _sites(
        state: SeriesState,
        det: CrossSectionalDetector,
        base: dict[str, str],
        firing: _Family,
        since: _Family,
        ratio: tuple[_Family, _Family, _Family],
        outlier_z: _Family,
    ) -> None:
        """site_outlier runs on the feature series and alerts per site: one sample per
        site on the (feature, *, site) series, as the alert log reports it. Sites and
        outliers are checkpointed state; z-scores are recomputed at the next assessment
        (absent right after a restore)."""
        z_scores = det.scores
        outliers = det.outliers
        for site, (x, n) in sorted(state.sites.items()):
            lab = {**base, "site": site, "role": "site", "signal": "site_outlier"}
            firing.add(lab, 1.0 if site in outliers else 0.0)
            if site in outliers and f"site_outlier:{site}" in state.since:
                since.add(lab, state.since[f"site_outlier:{site}"])
            z = z_scores.get(site)
            if z is not None:
                outlier_z.add({"feature": base["feature"], "site": site}, z)
            if n > 0:
                ratio[0].add(lab, x / n)
                ratio[1].add(lab, det.value)


def _labels(view: DetectorView) -> dict[str, str]:
    role = {(False, False): "exact", (False, True): "version", (True, False): "site"}.get(
        (view.model_version == ALL, view.site == ALL), "feature"
    )
    lab = {"feature": view.feature, "model_version": view.model_version, "site": view.site,
           "role": role, "signal": view.signal}  # fmt: skip
    if view.input:
        lab["input"] = view.input
    if view.detector == "glr-share":  # no_data's second detector: the site's volume share
        lab["detector"] = view.detector
    return lab


def _add_levels(
    fams: tuple[_Family, _Family, _Family], lab: dict[str, str], view: DetectorView
) -> None:
    for fam, x in zip(fams, (view.value, view.reference, view.concern), strict=True):
        if x == x:  # NaN: no such level (absent while a detector learns)
            fam.add(lab, _finite(x))


def _ratio(det: Detector) -> float:
    thr = det.threshold
    return _finite(det.statistic / thr) if thr else 0.0


def _finite(x: float, inf: float = 0.0) -> float:
    if math.isfinite(x):
        return float(x)
    return 0.0 if x != x else math.copysign(inf, x)
