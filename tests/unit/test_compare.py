"""vitals compare: one parse + resolve pass for both configs, the same alerts as replay."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app
from monitor.compare import compare_file, summary_rows
from monitor.core.config import MonitorConfig
from monitor.fanout import FanOut, Lane, fan_out_file
from monitor.replay import replay_file
from monitor.scoring import load_truth
from tests.browser import render

# gates far beyond the 15-point drop: B sees it neither over time nor against the other site
INSENSITIVE = MonitorConfig(
    signals={"acceptance_rate": {"min_effect": 0.6}, "site_outlier": {"min_effect": 0.4}}
)
SLOW_TIMEOUT = MonitorConfig(resolver={"decision_timeout": 8 * 3600})


def test_each_lane_raises_exactly_the_alerts_of_its_own_replay(stream: Path) -> None:
    events = stream / "events.jsonl"
    _, alone = replay_file(events, INSENSITIVE)
    _, default = replay_file(events, MonitorConfig())
    lanes = [Lane.of(MonitorConfig()), Lane.of(INSENSITIVE), Lane.of(MonitorConfig())]
    engine, result = fan_out_file(events, MonitorConfig(), lanes)
    assert default.alerts and lanes[0].alerts == default.alerts == lanes[2].alerts
    assert lanes[1].alerts == alone.alerts != default.alerts
    assert result.alerts is lanes[0].alerts and engine.assessor is lanes[0].assessor
    assert result.lines == default.lines and result.resolver_counters == default.resolver_counters
    assert all(lane.seconds > 0 for lane in lanes)


def test_configs_that_resolve_differently_cannot_share_a_pass() -> None:
    try:
        FanOut(MonitorConfig(), [Lane.of(SLOW_TIMEOUT)])
    except ValueError as exc:
        assert "resolve differently" in str(exc)
    else:
        raise AssertionError("a lane with another decision timeout was accepted")


def test_compare_names_what_b_lost_and_its_delays(stream: Path) -> None:
    truth = load_truth(stream / "truth.json")
    c = compare_file(stream / "events.jsonl", [("A", MonitorConfig()), ("B", INSENSITIVE)], truth)
    assert c.shared
    lost = {(e.alert.signal, e.alert.site) for e in c.lost}
    assert ("acceptance_rate", "site-b") in lost and not c.gained
    assert c.a.score is not None and c.b.score is not None
    assert c.a.score.detections[0].delay is not None and c.b.score.detections[0].delay is None
    rows = {r[0]: r[1:] for r in summary_rows(c)}
    assert rows["delay: site-b-drop"][2] == "B misses"
    assert rows["alerts lost (A only)"][0] == str(len(c.lost))
    assert "shared parse + resolve (s)" in rows


def test_compare_cli_and_report(stream: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("{}\n")
    b.write_text("signals: {acceptance_rate: {min_effect: 0.6}, site_outlier: {min_effect: 0.4}}\n")
    report = tmp_path / "compare.html"
    args = ["compare", str(stream / "events.jsonl"), "--config", str(a), "--config", str(b),
            "--truth", str(stream / "truth.json"), "--report", str(report)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "alerts lost (A only)" in result.output and "B misses" in result.output
    text = report.read_text()
    assert "<svg" in text and "site-b-drop" in text and "lost" in text
    page = render(report, tmp_path / "compare.png")
    assert page.errors == [] and page.requests == [] and page.ragged == [] and page.figures
    assert all(f["width"] > 500 and f["paths"] > 10 for f in page.figures)
    one = CliRunner().invoke(app, ["compare", str(stream / "events.jsonl"), "--config", str(a)])
    assert one.exit_code == 2 and "give exactly two" in one.output
