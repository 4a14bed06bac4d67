"""Detector traces over event time, the headroom table and the PNG plots of a replay."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.records import Resolution
from monitor.plots import plot_signals
from monitor.trace import Trace

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _traced_drop() -> tuple[Trace, list]:
    """v1 at 60% acceptance for 5 days, then v2 at 45%: v2 fires through v1's baseline."""
    rng = random.Random(3)
    assessor, trace, alerts = Assessor(MonitorConfig()), Trace(every=3600.0), []
    t = 1.7e9
    for i in range(15_000):
        t += 40
        version, p = ("v1", 0.60) if i < 12_000 else ("v2", 0.45)
        status = "accepted" if rng.random() < p else "rejected"
        res = Resolution(f"s{i}", "f", version, "a", "other", t, t + 30, status, 30.0, None,
                         None, None)  # fmt: skip
        assessor.process_rollups(res)
        alerts += assessor.advance(t - 120)
        trace.sample(assessor.watermark, assessor)
    return trace, alerts


def test_the_trace_samples_every_detector_hourly_and_finds_the_peak() -> None:
    trace, alerts = _traced_drop()
    times, ratios = trace.series[("f|*|a", "acceptance_rate")]
    assert len(times) == len(ratios) > 100
    assert all(b - a >= 3600.0 for a, b in itertools.pairwise(times))
    peak = {p.signal: p for p in trace.peaks()}["acceptance_rate"]
    assert not peak.series.startswith("f|v1|") and peak.ratio >= 1.0  # v2, or all versions
    fired = [a for a in alerts if a.signal == "acceptance_rate" and a.state == "firing"]
    assert fired and peak.at >= min(a.at for a in fired) - 3600.0
    assert max(max(r) for k, (_, r) in trace.series.items() if k[0].startswith("f|v1|")) < 1.0
    assert trace.detectable[("f|*|a", "acceptance_rate")][-1] < 2.5  # it sees a few x by now


def test_plots_are_written_per_signal(tmp_path: Path) -> None:
    trace, alerts = _traced_drop()
    truth = {"degradations": [{"id": "v2-worse", "signals": ["acceptance_rate"],
                               "start": "2023-11-20T12:00:00Z", "end": None}]}  # fmt: skip
    paths = plot_signals(trace, alerts, tmp_path / "plots", truth)
    assert {p.name for p in paths} == {f"{s}.png" for s in trace.signals()}
    assert "acceptance_rate.png" in {p.name for p in paths}
    for p in paths:
        assert p.read_bytes().startswith(PNG) and p.stat().st_size > 10_000


def test_replay_plot_writes_pngs_and_the_headroom_table(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    result = CliRunner().invoke(
        app, ["replay", str(ROOT / "seeds" / "sample" / "events.jsonl"), "--plot", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "closest to firing" in result.output
    assert sorted(out.glob("*.png")) and all(
        p.read_bytes().startswith(PNG) for p in out.glob("*.png")
    )
