"""The replay report: false alarms broken down by signal for each detector."""

from __future__ import annotations

from rich.console import Console

from monitor.core.records import Alert
from monitor.report import _print_false_alarms
from monitor.scoring import Score


def _fa(signal: str) -> Alert:
    return Alert(0.0, "firing", signal, "f", "*", "*", 0.5, 0.6, "x")


def _render(scores: dict[str, Score]) -> str:
    out = Console(record=True, width=120)
    _print_false_alarms(out, scores)
    return out.export_text()


def test_false_alarms_are_counted_per_signal_and_detector() -> None:
    scores = {
        "vitals": Score([], []),
        "river ADWIN": Score([], [_fa("response_rate")] * 3 + [_fa("decision_time")]),
        "river PageHinkley": Score([], [_fa("decision_time")] * 2),
    }
    text = _render(scores)
    lines = [ln for ln in text.splitlines() if "response_rate" in ln or "decision_time" in ln]
    cells = {ln.split("│")[1].strip(): [c.strip() for c in ln.split("│")[2:-1]] for ln in lines}
    assert cells == {"decision_time": ["0", "1", "2"], "response_rate": ["0", "3", "0"]}
    assert "false alarms by signal" in text


def test_no_false_alarms_prints_no_table() -> None:
    assert _render({"vitals": Score([], []), "river ADWIN": Score([], [])}) == ""
