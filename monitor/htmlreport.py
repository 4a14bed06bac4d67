"""``vitals replay --report``: one self-contained HTML page of a replay.

The page has a summary (counts, series, and with ``--truth`` the detection table), every
alert with its evidence (:mod:`monitor.evidence`), and a section per alerting or selected
series. A series section draws, per signal, two panels over event time: the signal's
recent level with its reference (baseline) and level of concern, and the detector
statistic as a fraction of its threshold, with the alert spans shaded and the injected
onsets of a truth file marked. The figures are matplotlib SVG (the ``plots`` extra),
inlined by :mod:`monitor.html`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import html
from monitor.core.records import ALL, Alert, to_rfc3339
from monitor.evidence import Evidence, gather, series_of, spans
from monitor.replay import Replay, ReplayResult
from monitor.report import SERIES_COLUMNS, series_rows, summary_rows
from monitor.scoring import Score, truth_time
from monitor.tally import Tally, format_change, format_level
from monitor.trace import Trace, label

DRAWN_SIGNALS = (
    "acceptance_rate",
    "response_rate",
    "correction_burden",
    "decision_time",
    "flag_rate",
    "score_drift",
)
"""Signals drawn for a selected series (an alerting one draws the signals that alerted)."""


@dataclass
class ReplayReport:
    """Everything the page shows; built by the CLI after a replay."""

    events: Path
    config: Path | None
    engine: Replay
    result: ReplayResult
    trace: Trace
    tally: Tally
    truth: dict[str, Any] | None = None
    scores: dict[str, Score] | None = None
    selected: Sequence[str] = ()


def check_series(key: str) -> str | None:
    """What is wrong with a ``--series`` key (None when it is well-formed)."""
    from monitor.core.contract import SLUG_PATTERN

    parts = key.split("|")
    if len(parts) != 3:
        return "expected feature|model_version|site (with * for all versions or sites)"
    if not re.fullmatch(SLUG_PATTERN, parts[0]) or not all(
        p == ALL or re.fullmatch(SLUG_PATTERN, p) for p in parts[1:]
    ):
        return "each part must be a slug (or * for model_version and site)"
    return None


def panels(report: ReplayReport) -> dict[str, list[str]]:
    """Series key -> detector slots to draw: those that alerted, and for a selected series
    every traced signal of :data:`DRAWN_SIGNALS`."""
    out: dict[str, list[str]] = {}
    for a in report.result.alerts:
        skey, slot = series_of(a)
        if slot not in out.setdefault(skey, []):
            out[skey].append(slot)
    for skey in report.selected:
        slots = out.setdefault(skey, [])
        for k in report.trace.series:
            if k[0] == skey and k[1] in DRAWN_SIGNALS and k[1] not in slots:
                slots.append(k[1])
    return out


def write_replay_report(path: Path, report: ReplayReport) -> None:
    """Write the page (see the module docstring)."""
    evidence = gather(report.trace, report.tally, report.result.alerts)
    body: list[object] = [html.tag("p", _subtitle(report), cls="note"), html.tag("h2", "Summary")]
    body.append(html.table(("count", ""), summary_rows(report.result), numeric=(1,)))
    if report.scores:
        body += [html.tag("h2", "Detection against the truth file"), _detection(report.scores)]
    body += [html.tag("h2", f"Alerts ({len(evidence)} fired)"), _evidence_table(evidence)]
    body.append(html.tag("h2", "Series"))
    body.append(html.tag("p", _PANEL_NOTE, cls="note"))
    fired = spans(report.result.alerts)
    drawn = panels(report)
    if not drawn:
        body.append(html.tag("p", "No alert fired and no series was selected: draw one with "
                             "--series feature|model_version|site.", cls="muted"))  # fmt: skip
    for skey, slots in drawn.items():
        figures = [_figure(report, skey, slot, fired) for slot in slots]
        content = [html.tag("h3", skey)] + [f for f in figures if f]
        if not slots:
            content.append(html.tag("p", "no detector of this series was traced", cls="muted"))
        body.append(
            html.Raw(
                f'<section class="series" data-key="{html.esc(skey)}">'
                + "".join(map(html.esc, content))
                + "</section>"
            )
        )
    body += [
        html.tag("h2", "All series"),
        html.table(SERIES_COLUMNS, series_rows(report.engine), numeric=range(1, 6)),
    ]
    title = f"Vitals replay: {report.events.name}"
    path.write_text(html.page(title, body, filter_box=True), encoding="utf-8")


_PANEL_NOTE = (
    "Top: the detector's recent level (EWMA) with its reference (the baseline learned in "
    "warm-up or inherited from the version replaced) and the level of concern (the reference "
    "moved by the minimum effect). Bottom: the detector statistic / threshold (fires at 1, "
    "with its gates: minimum effect, enough recent data); red spans: the alert firing; orange "
    "lines: injected onsets. Sampled hourly in event time (UTC)."
)


def _subtitle(report: ReplayReport) -> str:
    res = report.result
    span = ""
    if report.trace.series:
        first = min(p[0][0] for p in report.trace.series.values() if p[0])
        last = max(p[0][-1] for p in report.trace.series.values() if p[0])
        span = f", event time {to_rfc3339(first)[:16]} to {to_rfc3339(last)[:16]} UTC"
    cfg = f"config {report.config}" if report.config else "default config"
    return f"{report.events} ({res.lines} lines){span}; {cfg}"


def _detection(scores: dict[str, Score]) -> html.Raw:
    names = list(scores)
    first = scores[names[0]]
    rows: list[list[object]] = []
    for i, d in enumerate(first.detections):
        delays = [scores[n].detections[i].delay for n in names]
        rows.append([d.id, d.where, *(_hours(x) for x in delays)])
    rows.append(["missed", "", *(str(scores[n].missed) for n in names)])
    rows.append(["false alarms", "", *(str(len(scores[n].false_alarms)) for n in names)])
    return html.table(
        ["degradation", "where", *(f"{n} delay" for n in names)],
        rows,
        numeric=range(2, 2 + len(names)),
    )


def _hours(seconds: float | None) -> str:
    return "missed" if seconds is None else f"{seconds / 3600:.1f} h"


def _evidence_table(evidence: Iterable[Evidence]) -> html.Raw:
    rows = []
    for ev in evidence:
        a = ev.alert
        m = ev.measure
        levels = "-"
        if m is not None:
            levels = f"{format_level(m, ev.before.level(m))} → {format_level(m, ev.after.level(m))}"
        rows.append(
            [
                to_rfc3339(a.at)[:16],
                "still firing" if ev.resolved is None else to_rfc3339(ev.resolved)[:16],
                a.signal,
                label(series_of(a)),
                f"{a.value:.4g} / {a.threshold:.4g}",
                to_rfc3339(ev.since)[:16],
                f"{ev.n('before'):.0f}",
                f"{ev.n('after'):.0f}",
                levels,
                "-" if ev.effect is None or m is None else format_change(m, ev.effect),
                "-" if ev.span_effect is None or m is None else format_change(m, ev.span_effect),
                ev.compared_with if m is not None else "counts of suggestions shown",
            ]
        )
    heads = [
        "fired (UTC)",
        "resolved",
        "signal",
        "series",
        "value / threshold",
        "since (onset)",
        "n before",
        "n after",
        "before → after",
        "effect at firing [95%]",
        "effect over the span [95%]",
        "before is",
    ]
    return html.table(heads, rows, numeric=(4, 6, 7, 8, 9, 10))


def _relevant(d: dict[str, Any], skey: str) -> bool:
    f, v, s = skey.split("|")
    if d.get("feature") != f:
        return False
    return all(
        want in (ALL, got) or got == ALL
        for want, got in ((d.get("model_version"), v), (d.get("site"), s))
    )


def _figure(
    report: ReplayReport, skey: str, slot: str, fired: list[tuple[Alert, float | None]]
) -> html.Raw | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    points = report.trace.series.get((skey, slot))
    levels = (report.trace.levels or {}).get((skey, slot))
    if points is None or not points[0]:
        return None
    times = [html.utc(t) for t in points[0]]
    end = points[0][-1]
    signal = slot.partition(":")[0]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 4.6), sharex=True, height_ratios=(1.3, 1), layout="constrained"
    )
    if levels is not None:
        value, concern, reference = levels
        top.plot(times, list(value), lw=1.3, color="#1f77b4", label="recent level")
        if any(math.isfinite(x) for x in reference):
            top.plot(times, list(reference), lw=1.0, color="0.45", label="reference")
        if any(math.isfinite(x) for x in concern):
            top.plot(
                times, list(concern), lw=1.0, ls="--", color="#d62728", label="level of concern"
            )
        lo, hi = _span(value, reference, concern)
        if lo < hi:
            top.set_ylim(lo, hi)
    top.set_ylabel(_unit(signal), fontsize=9)
    top.set_title(label((skey, slot)) + f": {signal}", fontsize=10, loc="left")
    bottom.plot(
        times,
        [min(r, 3.0) for r in points[1]],
        lw=1.3,
        color="#2ca02c",
        label="statistic / threshold",
    )
    bottom.axhline(1.0, color="#d62728", ls="--", lw=1.0, label="threshold")
    bottom.set_ylim(0, 3.05)
    bottom.set_ylabel("statistic / threshold", fontsize=9)
    shaded = False
    for alert, resolved in fired:
        if series_of(alert) != (skey, slot):
            continue
        stop = html.utc(resolved if resolved is not None else end)
        for ax in (top, bottom):
            ax.axvspan(
                html.utc(alert.at),
                stop,
                color="#d62728",
                alpha=0.15,
                label=None if shaded or ax is top else "alert firing",
            )
        shaded = True
    marked = False
    for d in (report.truth or {}).get("degradations", []):
        if signal in d.get("signals", []) and _relevant(d, skey):
            for ax in (top, bottom):
                ax.axvline(
                    html.utc(truth_time(d["start"])),
                    color="#ff7f0e",
                    lw=1.6,
                    label=None if marked or ax is top else f"injected: {d['id']}",
                )
            marked = True
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    bottom.set_xlabel("event time (UTC)", fontsize=9)
    return html.tag("figure", html.svg(fig))


def _span(value: Any, reference: Any, concern: Any) -> tuple[float, float]:
    """Y range of the top panel: the armed part of the level, and the reference and level
    of concern, padded (the first observations of a warm-up would squash the rest)."""
    armed = [v for v, r in zip(value, reference, strict=True) if math.isfinite(r)] or list(value)
    ys = [y for y in (*armed, *reference, *concern) if math.isfinite(y)]
    if not ys:
        return (0.0, 0.0)
    lo, hi = min(ys), max(ys)
    pad = 0.08 * (hi - lo) or 0.05 * abs(hi) or 0.05
    return (lo - pad, hi + pad)


def _unit(signal: str) -> str:
    return {
        "acceptance_rate": "acceptance (rate)",
        "response_rate": "response (rate)",
        "flag_rate": "flags (rate)",
        "correction_burden": "burden (mean)",
        "decision_time": "decision time (s, geo. mean)",
    }.get(signal, "statistic")
