"""vitals replay --report: the alerts' evidence, and the page rendered in headless Chromium."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app
from monitor.core.config import MonitorConfig
from monitor.evidence import gather
from monitor.fanout import Lane, fan_out_file
from monitor.scoring import truth_time
from monitor.tally import Tally
from monitor.trace import Trace
from tests.browser import render


def test_each_alert_has_its_evidence(stream: Path, drop_at: str) -> None:
    cfg = MonitorConfig()
    trace, tally = Trace(detail=True), Tally()
    _, result = fan_out_file(stream / "events.jsonl", cfg, [Lane.of(cfg, trace)], tap=tally.add)
    evidence = gather(trace, tally, result.alerts)
    assert len(evidence) == sum(a.state == "firing" for a in result.alerts)
    drop = [e for e in evidence if e.alert.signal == "acceptance_rate"
            and e.alert.site == "site-b" and e.alert.model_version == "*"]  # fmt: skip
    assert drop, [e.alert for e in evidence]
    ev = drop[0]
    start = truth_time(drop_at)
    # the onset estimate (last hour without evidence) is near the injected start
    assert start - 6 * 3600 <= ev.since <= start + 6 * 3600
    assert ev.since < ev.alert.at
    assert ev.n("before") > 1000 and ev.n("after") > 10
    assert ev.effect is not None and ev.effect.estimate < 0
    # over its span (the drop lasts to the end) the effect is clear and near -15 points
    iv = ev.span_effect
    assert iv is not None and -0.25 < iv.low < -0.15 < iv.high < -0.05, iv
    assert ev.compared_with == "the series, the week before"
    levels = trace.levels[("inbasket-reply|*|site-b", "acceptance_rate")]
    assert len(levels[0]) == len(trace.series[("inbasket-reply|*|site-b",
                                               "acceptance_rate")][0])  # fmt: skip


def test_the_report_renders_in_chromium(stream: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    args = ["replay", str(stream / "events.jsonl"), "--truth", str(stream / "truth.json"),
            "--report", str(report), "--series", "inbasket-reply|*|site-a"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert "<script src" not in text and "<link" not in text and "<img" not in text
    assert "site-b-drop" in text and "since (onset)" in text
    shot = tmp_path / "report.png"
    page = render(report, shot)
    assert page.errors == [] and page.requests == [] and page.ragged == []
    assert page.title == "Vitals replay: events.jsonl"
    # the alerting series and the selected one, with a figure per drawn signal
    assert len(page.figures) >= 3 and page.ready == str(len(page.figures))
    for fig in page.figures:
        assert fig["width"] > 500 and fig["height"] > 200, fig
        assert fig["paths"] > 20 and fig["texts"] > 10, fig  # lines, ticks, labels drawn
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000


def test_the_browser_check_fails_on_a_script_error_or_an_empty_figure(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        "<figure><svg width='0' height='0'></svg></figure>"
        "<script>document.body.setAttribute('data-ready', '1'); undefinedThing();</script>"
        "</body></html>"
    )
    rendered = render(page, tmp_path / "broken.png")
    assert any("undefinedThing" in e for e in rendered.errors)
    assert rendered.figures == [{"width": 0, "height": 0, "paths": 0, "texts": 0}]


def test_series_must_be_well_formed_and_need_report(stream: Path) -> None:
    events = str(stream / "events.jsonl")
    result = CliRunner().invoke(app, ["replay", events, "--series", "a|b|c"])
    assert result.exit_code == 2 and "give --report too" in result.output
    result = CliRunner().invoke(app, ["replay", events, "--report", "/tmp/x.html",
                                      "--series", "inbasket-reply|*"])  # fmt: skip
    assert result.exit_code == 2 and "expected feature|model_version|site" in result.output
