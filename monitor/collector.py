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
  PSI in ``vitals_drift_psi``; the ``signal`` label selects among signals of that unit.
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
from monitor.core.detectors.base import Detector
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


def _levels(unit: str, what: str) -> tuple[_Family, _Family, _Family]:
    return (
        _Family(f"vitals_signal_{unit}", f"Recent level of a signal in {what} (detector EWMA)."),
        _Family(
            f"vitals_signal_reference_{unit}",
            f"Baseline (frozen reference) level of a detector, in {what} (absent while it learns).",
        ),
        _Family(
            f"vitals_signal_concern_{unit}",
            f"Level of concern in {what}: the reference of the latest observation's stratum"
            " (weekday or weekend) moved by the minimum effect towards the alarm side (absent"
            " while the detector learns).",
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
        stat = _Family(
            "vitals_detector_statistic_ratio",
            "Detector statistic divided by its threshold (>= 1: alarming; an alert also needs"
            " the detector's gates).",
        )
        ratio = _levels("ratio", "ratio units")
        seconds = _levels("seconds", "seconds")
        psi = _Family("vitals_drift_psi", "Population stability index, recent window vs baseline.")
        psi_thr = _Family("vitals_drift_psi_threshold", "PSI at which the drift detector fires.")
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
        shared: set[int] = set()  # the worker's assessors share one baselines table
        n_series = n_overflow = 0
        for assessor in self._assessors():
            n_series += len(assessor.series)
            n_overflow += assessor.overflowed
            if id(assessor.baselines) not in shared:
                shared.add(id(assessor.baselines))
                versions.update(assessor.established())
            for state in assessor.series.values():
                base = dict(zip(LABELS, state.key, strict=True))
                if state.role == "exact":
                    self._counters(state, list(state.key), counts, flagged, flags, burden)
                role = {**base, "role": state.role}
                mean = state.rates()["decision_time"]
                if mean is not None:
                    decision.add_metric([*state.key, state.role], mean)
                for slot, det in state.detectors.items():
                    if det is None:
                        continue
                    signal, _, input_name = slot.partition(":")
                    if signal == "site_outlier":
                        # the funnel's own statistic (largest |z| / limit) on the feature
                        # series, as the report's trace draws it; firing is per site
                        stat.add({**role, "signal": signal}, _ratio(det))
                        self._sites(state, det, base, firing, since, ratio, outlier_z)
                        outlier_limit.add({"feature": state.key.feature}, det.threshold)
                        continue
                    lab = {**role, "signal": signal}
                    if input_name:
                        lab["input"] = input_name
                    firing.add(lab, 1.0 if det.firing else 0.0)
                    stat.add(lab, _ratio(det))
                    if det.firing and slot in state.since:
                        since.add(lab, state.since[slot])
                    if signal in DRIFT_SIGNALS:
                        psi.add(lab, _finite(det.value))
                        psi_thr.add(lab, getattr(det, "psi", det).threshold)
                    elif signal == "no_data":
                        silence.add(lab, _finite(det.value))
                    else:
                        fams = seconds if signal in SECONDS_SIGNALS else ratio
                        _add_levels(fams, lab, det)
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
        for fam in (firing, since, stat, *ratio, *seconds, psi, psi_thr, silence):
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
        det: Detector,
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
        z_scores: dict[str, float] = getattr(det, "z_scores", {})
        outliers: dict[str, float] = getattr(det, "outliers", {})
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


def _add_levels(fams: tuple[_Family, _Family, _Family], lab: dict[str, str], det: Detector) -> None:
    now, reference, concern = fams
    now.add(lab, _finite(det.value))
    ref = getattr(det, "reference", None)
    if ref is not None:
        reference.add(lab, _finite(ref))
    bound = getattr(det, "bound", None)
    if bound is not None:
        concern.add(lab, _finite(bound))


def _ratio(det: Detector) -> float:
    thr = det.threshold
    return _finite(det.statistic / thr) if thr else 0.0


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0
