"""Vitals' Grafana dashboards as code (grafana-foundation-sdk); the JSON is committed.

Regenerate with ``make dashboards`` (``python -m dashboards.grafana.generate``);
``tests/unit/test_dashboards.py`` fails when the committed JSON differs from what this
writes. Three dashboards, on the datasource that ``provisioning/`` sets up:

* **Overview**: every feature, grouped as health-system leaders measure embedded AI:
  adoption (acceptance, response), safety (clinician flags by category), human
  experience (correction burden, decision time); firing alerts; model-version
  rollouts as annotations.
* **Feature drill-down**: variables feature, model version and site; the sites
  against the funnel plot's control limits, model versions side by side, and each
  detector's statistic against its threshold.
* **Pipeline health**: throughput per stage, lag, watermark lag, dead letters by
  reason, rebalances, restore and catch-up, checkpoints.

Queries follow the metrics' rules (README, "Metrics"): counters are summed from leaf
series (mostly through the recording rules), detector gauges are picked by ``role``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="vitals-prometheus")
"""The Prometheus datasource of ``provisioning/datasources/vitals.yml``."""
TAGS = ["vitals"]
DAY = 86400
ESTABLISHED = "vitals_model_version_established_timestamp_seconds"


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    return q.legend_format(legend) if legend else q


def instant(expr: str, ref: str) -> prometheus.Dataquery:
    return query(expr, ref=ref).instant().format(PromQueryFormat.TABLE)


def series(
    title: str,
    queries: Iterable[tuple[str, str]],
    unit: str,
    description: str,
    *,
    width: int = 12,
    minimum: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull"])
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, ref=chr(ord("A") + i)))
    return panel


def levels(signal: str, by: str, selector: str, *, concern: bool = True) -> list[tuple[str, str]]:
    """A detector's recent level, baseline and level of concern, per *by* label."""
    kinds = [("", "recent"), ("reference_", "baseline")]
    if concern:
        kinds.append(("concern_", "level of concern"))
    sel = f'{selector}, signal="{signal}"' if selector else f'signal="{signal}"'
    return [
        (f"max by ({by}) (vitals_signal_{kind}ratio{{{sel}}})", f"{{{{{by}}}}} {label}")
        for kind, label in kinds
    ]


def merged_table(title: str, description: str, queries: Iterable[str]) -> table.Panel:
    """Instant queries joined into one row per label set (Grafana's merge)."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(24)
        .height(8)
        .with_transformation(DataTransformerConfig(id_val="merge", options={}))
    )
    for i, expr in enumerate(queries):
        panel = panel.with_target(instant(expr, chr(ord("A") + i)))
    return panel


def variable(name: str, label: str, values_of: str, *, multi: bool) -> db.QueryVariable:
    v = (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({values_of}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        v = v.multi(True).include_all(True).all_value(".*")
    return v


def dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .time("now-6h", "now")
        .refresh("30s")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .timezone("browser")
    )


def rollout_annotations(board: db.Dashboard, feature: str = "") -> db.Dashboard:
    """Model-version rollouts: a version's first suggestions, and its baseline established."""
    sel = f'feature=~"{feature}"' if feature else ""
    first_seen = (
        f"count by (feature, model_version) (vitals_suggestions_total{{{sel}}})"
        f" unless count by (feature, model_version) (vitals_suggestions_total{{{sel}}} offset 10m)"
    )
    established = (
        f"max by (feature, model_version) ({ESTABLISHED}{{{sel}}})"
        f" unless max by (feature, model_version) ({ESTABLISHED}{{{sel}}} offset 10m)"
    )
    return board.annotation(
        db.AnnotationQuery()
        .name("Model version first seen")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("blue")
        .expr(first_seen)
    ).annotation(
        db.AnnotationQuery()
        .name("Model version baseline established")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("purple")
        .expr(established)
    )


ANNOTATION_TEXT = {
    "Model version first seen": "{{feature}} {{model_version}}: first suggestions",
    "Model version baseline established": "{{feature}} {{model_version}}: baseline established",
}


def overview() -> db.Dashboard:
    board = dashboard(
        "vitals-overview",
        "Vitals / Overview",
        "Every feature's adoption, safety and human experience, firing alerts and rollouts.",
    )
    board = rollout_annotations(board)
    board = board.with_row(db.Row("Adoption"))
    board = board.with_panel(
        series(
            "Acceptance by feature (1h)",
            [("feature:vitals_acceptance:ratio_rate1h", "{{feature}}")],
            "percentunit",
            "Accepted or edited over decided suggestions, over the last hour (leaf counters).",
        )
    ).with_panel(
        series(
            "Response by feature (1h)",
            [("feature:vitals_response:ratio_rate1h", "{{feature}}")],
            "percentunit",
            "Decided over resolved suggestions (expired = no answer by the decision timeout).",
        )
    )
    board = board.with_panel(
        series(
            "Acceptance now vs baseline (feature-wide detector)",
            levels("acceptance_rate", "feature", 'role="feature"'),
            "percentunit",
            "The acceptance detector's recent level (EWMA), its learned baseline and the"
            " level of concern it alarms on.",
        )
    ).with_panel(
        stat.Panel()
        .title("Suggestions per hour")
        .description("Resolved suggestions per hour, over the last hour.")
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .with_target(query("3600 * feature:vitals_suggestions:rate1h", "{{feature}}"))
    )
    board = board.with_row(db.Row("Safety"))
    board = board.with_panel(
        series(
            "Clinician flags by category (per day, 1d window)",
            [(f"{DAY} * feature:vitals_flags:rate1d", "{{feature}} {{category}}")],
            "short",
            "Flags raised by clinicians (unsafe, inaccurate, irrelevant, biased, other).",
            minimum=0,
        )
    ).with_panel(
        series(
            "Flag rate now vs baseline",
            levels("flag_rate", "feature", 'role="feature"', concern=False),
            "percentunit",
            "Flagged over shown suggestions: the detector's recent level and its baseline.",
        )
    )
    board = board.with_row(db.Row("Human experience"))
    board = board.with_panel(
        series(
            "Correction burden by feature (1h)",
            [("feature:vitals_correction_burden:ratio_rate1h", "{{feature}}")],
            "percentunit",
            "Edits over draft length of accepted and edited suggestions.",
        )
    ).with_panel(
        series(
            "Decision time by model version (recent, geometric mean)",
            [
                (
                    "max by (feature, model_version)"
                    ' (vitals_signal_seconds{signal="decision_time", role="version"})',
                    "{{feature}} {{model_version}}",
                )
            ],
            "s",
            "Outcome time minus suggestion time (the decision-time detector runs per version).",
        )
    )
    board = board.with_row(db.Row("Alerts"))
    board = board.with_panel(
        table.Panel()
        .title("Firing alerts")
        .description("Vitals alerts firing in Prometheus now (inhibitions apply later).")
        .datasource(DATASOURCE)
        .span(16)
        .height(8)
        .with_target(instant('ALERTS{alertstate="firing", alertname=~"Vitals.+"}', "A"))
    ).with_panel(
        series(
            "Series with a firing detector, by signal and role",
            [
                (
                    "count by (signal, role) (max without (instance) (vitals_alert_firing) == 1)",
                    "{{signal}} ({{role}})",
                )
            ],
            "short",
            "One degradation fires on several rollups: roles tell them apart.",
            width=8,
            minimum=0,
        )
    )
    return board


def feature_drilldown() -> db.Dashboard:
    board = dashboard(
        "vitals-feature",
        "Vitals / Feature drill-down",
        "One feature: its sites against the funnel's limits, its model versions side by"
        " side, and each detector's distance to firing.",
    )
    board = (
        board.with_variable(variable("feature", "Feature", "vitals_suggestions_total", multi=False))
        .with_variable(
            variable(
                "model_version",
                "Model version",
                'vitals_suggestions_total{feature="$feature"}',
                multi=True,
            )
        )
        .with_variable(
            variable("site", "Site", 'vitals_suggestions_total{feature="$feature"}', multi=True)
        )
    )
    board = rollout_annotations(board, "$feature")
    f, v, s = 'feature="$feature"', 'model_version=~"$model_version"', 'site=~"$site"'
    board = board.with_row(db.Row("Sites"))
    board = board.with_panel(
        merged_table(
            "Sites against the funnel plot's control limits",
            "Per site: suggestions and acceptance over a day, the site's over-dispersion"
            " adjusted z on the feature's funnel plot, the control limit, and whether the"
            " site is an outlier now.",
            [
                f"{DAY} * feature_site:vitals_suggestions:rate1d{{{f}, {s}}}",
                f"feature_site:vitals_acceptance:ratio_rate1d{{{f}, {s}}}",
                f"max by (job, feature, site) (vitals_site_outlier_z{{{f}, {s}}})",
                f"0 * max by (job, feature, site) (vitals_site_outlier_z{{{f}, {s}}})"
                f" + on (job, feature) group_left max by (job, feature)"
                f" (vitals_site_outlier_limit_z{{{f}}})",
                f"max by (job, feature, site)"
                f' (vitals_alert_firing{{{f}, {s}, signal="site_outlier"}})',
            ],
        )
    )
    board = board.with_panel(
        series(
            "Site acceptance (recent window) vs the feature-wide centre",
            [
                (
                    f'max by (site) (vitals_signal_ratio{{{f}, {s}, signal="site_outlier"}})',
                    "{{site}}",
                ),
                (
                    f'max(vitals_signal_reference_ratio{{{f}, signal="site_outlier"}})',
                    "feature-wide",
                ),
            ],
            "percentunit",
            "The funnel plot's inputs: each site's decayed acceptance and the centre.",
        )
    ).with_panel(
        series(
            "Site z-scores against the control limit",
            [
                (f"max by (site) (vitals_site_outlier_z{{{f}, {s}}})", "{{site}}"),
                (f"-max(vitals_site_outlier_limit_z{{{f}}})", "lower limit"),
                (f"max(vitals_site_outlier_limit_z{{{f}}})", "upper limit"),
            ],
            "short",
            "A site beyond the limit (in the watched direction) by the minimum effect fires.",
        )
    )
    board = board.with_row(db.Row("Model versions side by side"))
    board = board.with_panel(
        series(
            "Acceptance by model version (1h)",
            [
                (
                    f"feature_model_version:vitals_acceptance:ratio_rate1h{{{f}, {v}}}",
                    "{{model_version}}",
                )
            ],
            "percentunit",
            "Phased rollouts: each version's acceptance from its own suggestions.",
        )
    ).with_panel(
        series(
            "Share of suggestions by model version (rollout progress)",
            [
                (
                    f"feature_model_version:vitals_suggestions:rate1h{{{f}, {v}}}"
                    " / ignoring (model_version) group_left sum by (job, feature)"
                    f" (feature_model_version:vitals_suggestions:rate1h{{{f}}})",
                    "{{model_version}}",
                )
            ],
            "percentunit",
            "The fraction of the feature's suggestions each version made over the last hour.",
        )
    )
    board = board.with_panel(
        series(
            "Acceptance by version: now, baseline, level of concern",
            levels("acceptance_rate", "model_version", f'{f}, {v}, role="version"'),
            "percentunit",
            "A new version starts from the level of the version it replaces (its prior).",
        )
    ).with_panel(
        series(
            "Correction burden by model version (1h)",
            [
                (
                    f"feature_model_version:vitals_correction_burden:ratio_rate1h{{{f}, {v}}}",
                    "{{model_version}}",
                )
            ],
            "percentunit",
            "Edits over draft length, per version.",
        )
    )
    board = board.with_row(db.Row("Detectors"))
    board = board.with_panel(
        series(
            "Each detector's statistic / threshold (1 = alarming)",
            [
                (
                    "max without (instance) (vitals_detector_statistic_ratio"
                    f'{{{f}, model_version=~"$model_version|\\\\*", site=~"$site|\\\\*"}})',
                    "{{signal}} {{input}} {{model_version}}/{{site}}",
                )
            ],
            "short",
            "Distance to firing of every detector of the selected series and their rollups;"
            " an alert also needs the detector's gates (minimum effect, enough data).",
            width=24,
            minimum=0,
        )
    )
    board = board.with_panel(
        series(
            "What each series can see: detectable change within a day, in minimum effects",
            [
                (
                    "max without (instance) (vitals_detectable_effect_ratio"
                    f'{{{f}, model_version=~"$model_version|\\\\*", site=~"$site|\\\\*"}})',
                    "{{signal}} {{input}} {{model_version}}/{{site}}",
                )
            ],
            "short",
            "The smallest change each detector could alarm on had it begun a day ago, over"
            " its minimum effect: 1 sees the minimum effect within a day; above 2 the row"
            " still learns (a small site borrows its prior from its peers).",
            width=24,
            minimum=0,
        )
    )
    board = board.with_panel(
        table.Panel()
        .title("Firing detectors")
        .description("Detectors of this feature firing now, with the event time they began.")
        .datasource(DATASOURCE)
        .span(24)
        .height(6)
        .with_target(
            instant(
                "max without (instance)"
                f" (vitals_alert_firing_since_timestamp_seconds{{{f}}}) * 1000",
                "A",
            )
        )
        .unit("dateTimeAsIso")
    )
    return board


def pipeline_health() -> db.Dashboard:
    board = dashboard(
        "vitals-pipeline",
        "Vitals / Pipeline health",
        "The streaming workers: throughput, lag, dead letters, rebalances, recovery.",
    )
    w = 'job="vitals"'
    board = board.with_row(db.Row("Flow"))
    board = board.with_panel(
        series(
            "Throughput per stage",
            [
                (
                    f"sum by (stage) (rate(vitals_worker_events_total{{{w}}}[$__rate_interval]))",
                    "{{stage}}",
                )
            ],
            "ops",
            "Messages processed per second by stage 1 (resolve) and stage 2 (assess).",
            minimum=0,
        )
    ).with_panel(
        series(
            "Consumer lag per topic",
            [(f"sum by (topic) (vitals_worker_consumer_lag{{{w}}})", "{{topic}}")],
            "short",
            "Messages not yet processed, summed over the owned partitions.",
            minimum=0,
        )
    )
    board = board.with_panel(
        series(
            "Watermark lag per stage (worst partition)",
            [
                (
                    f"max by (stage) (vitals_worker_watermark_lag_seconds{{{w}}})",
                    "{{stage}}",
                )
            ],
            "s",
            "Wall clock minus the event-time watermark: bridge delay, lateness allowance,"
            " and quiet hours (no events move the watermark).",
        )
    ).with_panel(
        series(
            "Dead letters by reason",
            [
                (
                    "sum by (reason) (rate(vitals_worker_dead_letters_total"
                    f"{{{w}}}[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            "ops",
            "Input messages sent to the dead-letter topic per second, by reason.",
            minimum=0,
        )
    )
    board = board.with_row(db.Row("Recovery"))
    board = (
        board.with_panel(
            series(
                "Rebalances (per 5 minutes)",
                [
                    (
                        f"sum by (instance) (increase(vitals_worker_rebalances_total{{{w}}}[5m]))",
                        "{{instance}}",
                    )
                ],
                "short",
                "Partition assignments received.",
                width=8,
                minimum=0,
            )
        )
        .with_panel(
            series(
                "Last state restore duration",
                [
                    (
                        f"max by (instance, stage) (vitals_worker_state_restore_seconds{{{w}}})",
                        "{{instance}} {{stage}}",
                    )
                ],
                "s",
                "Time to rebuild a partition's state from its table (last one).",
                width=8,
            )
        )
        .with_panel(
            series(
                "Partitions catching up",
                [
                    (
                        f"sum by (instance, stage) (vitals_worker_catching_up{{{w}}})",
                        "{{instance}} {{stage}}",
                    )
                ],
                "short",
                "Partitions rebuilt from a checkpoint still re-applying their topic (their"
                " series are off /metrics meanwhile).",
                width=8,
                minimum=0,
            )
        )
    )
    board = board.with_row(db.Row("Durability"))
    board = board.with_panel(
        series(
            "Checkpoints per second and last duration",
            [
                (
                    f"sum by (instance) (rate(vitals_worker_checkpoints_total{{{w}}}"
                    "[$__rate_interval]))",
                    "{{instance}} per second",
                ),
                (
                    f"max by (instance) (vitals_worker_checkpoint_duration_seconds{{{w}}})",
                    "{{instance}} last duration (s)",
                ),
            ],
            "short",
            "A checkpoint writes the changed state, flushes, then acknowledges the events.",
        )
    ).with_panel(
        series(
            "Resolver: late, duplicate and orphaned events (per second)",
            [
                (
                    f"sum(rate(vitals_resolver_{name}_total{{{w}}}[$__rate_interval]))",
                    label,
                )
                for name, label in (
                    ("too_late", "too late"),
                    ("duplicates", "duplicates"),
                    ("orphaned_outcomes", "orphaned outcomes"),
                    ("expired", "expired suggestions"),
                )
            ],
            "ops",
            "Events dropped as too late, duplicates dropped, outcomes without their"
            " suggestion, and suggestions that expired unanswered.",
            minimum=0,
        )
    )
    board = (
        board.with_panel(
            series(
                "Workers up",
                [(f"up{{{w}}}", "{{instance}}")],
                "short",
                "1 while Prometheus scrapes the worker.",
                width=8,
                minimum=0,
            )
        )
        .with_panel(
            series(
                "Records lost to retention",
                [
                    (
                        f"sum by (instance) (vitals_worker_gap_records_lost_total{{{w}}})",
                        "{{instance}}",
                    )
                ],
                "short",
                "Offsets retention deleted before the worker read them, since it started.",
                width=8,
                minimum=0,
            )
        )
        .with_panel(
            series(
                "Resident memory",
                [(f"process_resident_memory_bytes{{{w}}}", "{{instance}}")],
                "bytes",
                "Worker memory (series state grows with the number of series).",
                width=8,
                minimum=0,
            )
        )
    )
    return board


DASHBOARDS = {
    "vitals-overview.json": overview,
    "vitals-feature.json": feature_drilldown,
    "vitals-pipeline.json": pipeline_health,
}


def render(build: Any) -> str:
    """The dashboard as JSON, with the annotation texts the SDK has no setter for."""
    doc = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    for ann in doc.get("annotations", {}).get("list", []):
        text = ANNOTATION_TEXT.get(ann.get("name"))
        if text:
            ann.update({"titleFormat": text, "step": "1m", "tagKeys": "feature,model_version"})
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"


def main(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in DASHBOARDS.items():
        path = out / name
        path.write_text(render(build))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
