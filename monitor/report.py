"""Rich tables for replay summaries, alert timelines and truth scoring."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from monitor.baselines import RIVER_SIGNALS, ADWINDefault, PageHinkleyDefault
from monitor.core.config import MonitorConfig
from monitor.core.records import Alert, to_rfc3339
from monitor.replay import Replay, ReplayResult, replay_file
from monitor.scoring import Score, score
from monitor.trace import Peak


def summary_rows(result: ReplayResult) -> list[tuple[str, str]]:
    """(name, value) rows of a replay's counts: lines, events, resolver counters, alerts."""
    counters = result.resolver_counters
    rows = [
        ("lines", str(result.lines)),
        ("valid events", str(result.events)),
        ("malformed", ", ".join(f"{k}={v}" for k, v in result.malformed.items()) or "0"),
    ]
    for name in ("duplicates", "resolved", "expired", "flags", "late_outcomes",
                 "orphaned_outcomes", "orphaned_feedback", "too_late", "open"):  # fmt: skip
        rows.append((name, str(counters.get(name, 0))))
    rows.append(("alerts (firing)", str(sum(a.state == "firing" for a in result.alerts))))
    return rows


SERIES_COLUMNS = ("series", "shown", "accept", "respond", "burden", "flag", "firing now")


def series_rows(engine: Replay) -> list[tuple[str, ...]]:
    """One row per series: cumulative rates and the signals firing at the end."""
    rows = []
    for key, state in sorted(engine.assessor.series.items()):
        r = state.rates()
        rows.append((
            key,
            str(state.counts[0]),
            _pct(r["acceptance_rate"]),
            _pct(r["response_rate"]),
            _num(r["correction_burden"]),
            _pct(r["flag_rate"]),
            ", ".join(
                v.slot if v.series == key else f"{v.slot}@{v.series}" for v in state.firing()
            ),
        ))  # fmt: skip
    return rows


def print_summary(out: Console, engine: Replay, result: ReplayResult) -> None:
    head = Table(title="replay", show_header=False)
    for name, value in summary_rows(result):
        head.add_row(name, value)
    out.print(head)
    table = Table(title="series (feature | model_version | site)")
    for col in SERIES_COLUMNS:
        table.add_column(col, justify="right" if col != "series" else "left")
    for row in series_rows(engine):
        table.add_row(*row)
    out.print(table)
    print_detectable(out, engine)


_SEEN = ("acceptance_rate", "response_rate", "flag_rate", "correction_burden", "no_data")


def print_detectable(out: Console, engine: Replay) -> None:
    """What each series could detect at the end of the stream, as a multiple of each
    signal's minimum effect: a change of that size begun a day before would have
    alarmed. Above 2x the series is still learning (short history, or few observations
    a day), and the table says so rather than showing a quiet series as a healthy one."""
    cells: dict[str, dict[str, str]] = {}
    for state in engine.assessor.series.values():
        for view in state.views():
            if (
                view.signal not in _SEEN
                or view.input is not None
                or view.min_effect != view.min_effect
            ):
                continue
            ratio = view.detectable / view.min_effect
            if ratio == float("inf"):
                text = "learning"  # no history before the last day, nor a prior
            else:
                text = ">100x" if ratio > 100 else f"{ratio:.1f}x"
                text = f"learning ({text})" if view.learning else text
            cells.setdefault(view.series, {})[view.signal] = text
    if not cells:
        return
    table = Table(title="detectable within a day (x minimum effect; learning above 2x)")
    table.add_column("series")
    for sig in _SEEN:
        table.add_column(sig, justify="right")
    for key in sorted(cells):
        table.add_row(key, *(cells[key].get(sig, "") for sig in _SEEN))
    out.print(table)


def print_timeline(out: Console, alerts: list[Alert], title: str = "alert timeline") -> None:
    table = Table(title=title)
    for col in ("at", "state", "signal", "series", "value", "threshold", "detector"):
        table.add_column(col)
    for a in alerts:
        series = f"{a.feature}|{a.model_version}|{a.site}" + (f" [{a.input}]" if a.input else "")
        table.add_row(to_rfc3339(a.at), a.state, a.signal, series, f"{a.value:.4g}",
                      f"{a.threshold:.4g}", a.detector)  # fmt: skip
    out.print(table)


def print_peaks(out: Console, peaks: list[Peak], alerts: list[Alert]) -> None:
    """How close each signal came to firing: its headroom on this stream. A peak at or
    above 1 without an alert was held back by the detector's gates (minimum effect,
    enough recent data)."""
    fired = Counter(a.signal for a in alerts if a.state == "firing")
    table = Table(title="closest to firing: peak of statistic / threshold")
    for col in ("signal", "peak", "series", "at", "alerts"):
        table.add_column(col, justify="right" if col in ("peak", "alerts") else "left")
    for p in peaks:
        table.add_row(p.signal, f"{p.ratio:.2f}", p.series, to_rfc3339(p.at), str(fired[p.signal]))
    out.print(table)


def print_score(
    out: Console,
    events: Path,
    config: MonitorConfig,
    result: ReplayResult,
    truth_path: Path,
    truth: dict[str, Any],
) -> dict[str, Score]:
    """Score Vitals and the river yardsticks (ADWIN, PageHinkley at defaults) on one stream
    (``truth``: ``truth_path`` as read by :func:`~monitor.scoring.load_truth`)."""
    scores = {"vitals": score(result.alerts, truth)}
    for name, cls in (("river ADWIN", ADWINDefault), ("river PageHinkley", PageHinkleyDefault)):
        _, res = replay_file(events, config, override=(cls, frozenset(RIVER_SIGNALS)))
        scores[name] = score(res.alerts, truth)
    table = Table(title=f"detection against {truth_path.name} ({truth.get('scenario', '')})")
    table.add_column("degradation")
    for name in scores:
        table.add_column(f"{name} delay", justify="right")
    ids = [d.id for d in scores["vitals"].detections]
    for i, did in enumerate(ids):
        table.add_row(did, *(_delay(s.detections[i].delay) for s in scores.values()))
    table.add_row("missed", *(str(s.missed) for s in scores.values()))
    table.add_row("false alarms", *(str(len(s.false_alarms)) for s in scores.values()))
    out.print(table)
    _print_false_alarms(out, scores)
    return scores


def _print_false_alarms(out: Console, scores: dict[str, Score]) -> None:
    """False alarms per signal and detector: which signals a yardstick's count comes from."""
    by = {name: Counter(a.signal for a in s.false_alarms) for name, s in scores.items()}
    signals = sorted(set().union(*by.values()))
    if not signals:
        return
    table = Table(title="false alarms by signal")
    table.add_column("signal")
    for name in scores:
        table.add_column(name, justify="right")
    for sig in signals:
        table.add_row(sig, *(str(by[name][sig]) for name in scores))
    out.print(table)


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "missed"
    return f"{seconds / 3600:.1f} h"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
