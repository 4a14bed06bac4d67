"""vitals calibrate: refuses what it cannot do in plain words (exit 2, no traceback), and
calibrates a short simulated stream end to end into a config replay accepts."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from monitor.core.config import load_config
from monitor.core.signals import PANEL_SPECS
from monitor.simulate import parse_scenario, simulate
from tests.unit.test_cli import _run  # (a traceback is never the answer)
from tests.unit.test_simulate import FEATURE

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "seeds" / "sample" / "events.jsonl"  # one day


@pytest.mark.parametrize("budget", ["two per week", "2 per fortnight", "0 per month", ""])
def test_a_bad_budget_is_refused_before_any_work(budget: str, tmp_path: Path) -> None:
    out = tmp_path / "cal.yaml"
    code, output = _run("calibrate", SAMPLE, "--budget", budget, "--out", out)
    assert code == 2 and f"budget {budget!r}" in output
    assert "Traceback" not in output and not out.exists()


def test_a_reference_too_short_says_how_long_is_enough(tmp_path: Path) -> None:
    out = tmp_path / "cal.yaml"
    code, output = _run("calibrate", SAMPLE, "--budget", "1 per week", "--out", out)
    assert code == 2 and not out.exists()
    flat = " ".join(output.split())
    assert "0 whole days" in flat and "needs at least 7 whole days" in flat
    assert "28 or more recommended" in flat


def test_out_onto_the_reference_or_a_directory_is_refused(tmp_path: Path) -> None:
    ref = tmp_path / "ref.jsonl"
    ref.write_bytes(SAMPLE.read_bytes())
    code, output = _run("calibrate", ref, "--budget", "1 per week", "--out", ref)
    assert code == 2 and "that is the input file" in output
    assert ref.read_bytes() == SAMPLE.read_bytes()
    code, output = _run("calibrate", ref, "--budget", "1 per week", "--out", tmp_path)
    assert code == 2 and "is a directory" in output


def _stream(out: Path, seed: int, days: int) -> Path:
    feature = {**copy.deepcopy(FEATURE), "daily_volume": 600,
               "sites": {"site-a": 1.0, "site-b": 0.6, "site-c": 0.4}}  # fmt: skip
    del feature["inputs"]["message-length"]
    doc = {"name": "calib", "seed": seed, "start": "2026-01-05T00:00:00+00:00", "days": days,
           "features": [feature], "degradations": []}  # fmt: skip
    simulate(parse_scenario(doc, "calib"), out)
    return out / "events.jsonl"


def test_calibrate_a_short_stream_end_to_end(tmp_path: Path) -> None:
    ref = _stream(tmp_path / "ref", 21, 9)
    holdout = _stream(tmp_path / "holdout", 22, 4)
    base = tmp_path / "base.yaml"
    base.write_text(
        "timezone: UTC\nsignals:\n  acceptance_rate: {min_effect: 0.04}\n"
        "features:\n  inbasket-reply:\n    decision_timeout: 4h\n"
        "    signals: {score_drift: {enabled: false}}\n"
    )
    out = tmp_path / "calibrated.yaml"
    code, output = _run(
        "calibrate", ref, "--budget", "2 per 30 days", "--out", out, "--holdout", holdout,
        "--config", base, "--resamples", "2", "--workers", "2",
    )  # fmt: skip
    assert code == 0, output
    flat = " ".join(output.split())
    assert "thresholds for 2 per 30 days false alarms (2 resamples)" in flat
    assert "expected detection delay" in flat and "acceptance -5 points" in flat
    assert "hold-out events.jsonl:" in flat and "the budget allows 0.27 in that time" in flat
    cfg = load_config(out)  # what `vitals replay --config` reads
    doc = yaml.safe_load(out.read_text())
    assert cfg.signal("acceptance_rate", "inbasket-reply", "*")[1].min_effect == 0.04  # kept
    assert cfg.signal("score_drift", "inbasket-reply", "*")[0] is False  # still off
    assert cfg.resolver_config.timeout("inbasket-reply") == 4 * 3600.0
    for unit in set(PANEL_SPECS) - {"score_drift", "input_drift"}:
        z = doc["signals"][unit]["z"]
        assert 4.0 <= z <= 12.0, unit  # the floor, and no runaway
    assert "z" in doc["signals"]["site_outlier"]
    assert 0 < doc["signals"]["no_data"]["p_alarm"] < 0.5
    text = out.read_text()
    assert "# Budget: 2 per 30 days false alarms" in text
    assert "false alarms per 30 days expected on" in text and "{timezone" not in text
