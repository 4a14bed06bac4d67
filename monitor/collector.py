"""Prometheus exposition of the monitor's current state (a custom Collector).

Renders, at scrape time, the series an engine currently holds: a series whose
partition moved to another worker disappears instead of going stale, so
``sum()`` across workers counts each series once. Metric names are in base
units (``_total``, ``_ratio``, ``_seconds``); label values are contract slugs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.core.assessor import Assessor

LABELS = ("feature", "model_version", "site")
_RATES = {
    "acceptance_rate": "vitals_acceptance_ratio",
    "response_rate": "vitals_response_ratio",
    "flag_rate": "vitals_flag_ratio",
    "correction_burden": "vitals_correction_burden_ratio",
    "decision_time": "vitals_decision_time_seconds",
}


class MonitorCollector(Collector):
    """Collect per-series counts, rates and detector state from live assessors."""

    def __init__(self, assessors: Callable[[], Iterable[Assessor]]) -> None:
        self._assessors = assessors

    def collect(self):  # type: ignore[no-untyped-def]
        counts = CounterMetricFamily(
            "vitals_suggestions",
            "Resolved suggestions by outcome status (expired = no outcome in time).",
            labels=[*LABELS, "status"],
        )
        flags = CounterMetricFamily(
            "vitals_flagged_suggestions", "Suggestions flagged by clinicians.", labels=LABELS
        )
        rates = {
            name: GaugeMetricFamily(metric, f"Cumulative {name.replace('_', ' ')}.", labels=LABELS)
            for name, metric in _RATES.items()
        }
        recent = GaugeMetricFamily(
            "vitals_signal_value",
            "Detector's current value of a signal (recent rate, mean, PSI, gap...).",
            labels=[*LABELS, "signal", "input", "detector"],
        )
        stat = GaugeMetricFamily(
            "vitals_detector_statistic_ratio",
            "Detector statistic divided by its threshold (>= 1 means alarming).",
            labels=[*LABELS, "signal", "input", "detector"],
        )
        firing = GaugeMetricFamily(
            "vitals_alert_firing",
            "1 while a signal's detector is firing on the series.",
            labels=[*LABELS, "signal", "input", "detector"],
        )
        held = GaugeMetricFamily(
            "vitals_series", "Series held (rollups and the overflow series included)."
        )
        overflow = CounterMetricFamily(
            "vitals_series_overflow",
            "Deliveries for new series past max_series, folded into the series"
            " 'vitals-overflow' (monitor/core/assessor.py).",
        )
        n_series = n_overflow = 0
        for assessor in self._assessors():
            n_series += len(assessor.series)
            n_overflow += assessor.overflowed
            for state in assessor.series.values():
                labels = list(state.key)
                for status in ("accepted", "edited", "rejected", "dismissed", "expired"):
                    counts.add_metric([*labels, status], state.count(status))
                flags.add_metric(labels, state.count("flagged"))
                for name, value in state.rates().items():
                    if value is not None:
                        rates[name].add_metric(labels, value)
                for view in state.views():
                    lab = [view.feature, view.model_version, view.site, view.signal,
                           view.input or "", view.detector]  # fmt: skip
                    if view.value == view.value:
                        recent.add_metric(lab, float(view.value))
                    stat.add_metric(lab, view.ratio)
                    firing.add_metric(lab, 1.0 if view.firing else 0.0)
        held.add_metric([], n_series)
        overflow.add_metric([], n_overflow)
        yield held
        yield overflow
        yield counts
        yield flags
        yield from rates.values()
        yield recent
        yield stat
        yield firing
