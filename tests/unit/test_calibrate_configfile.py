"""The calibrated config: the base config's settings kept, thresholds on top, rounded
towards fewer alarms, and read back by the loader `vitals replay --config` uses."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from monitor.calibrate.budget import parse_budget
from monitor.calibrate.configfile import threshold_value, write_config
from monitor.calibrate.days import DayBlocks
from monitor.calibrate.run import Calibration, Reference
from monitor.calibrate.thresholds import Choice
from monitor.core.config import load_config
from monitor.tally import Tally
from tests.unit.test_calibrate_days import _stream

BASE = """\
timezone: America/New_York
holidays: [2026-02-16]
lineage: {inbasket-reply: {reply-2.1: reply-2.0}}
signals:
  acceptance_rate: {min_effect: 0.04}
features:
  inbasket-reply:
    decision_timeout: 8h
    signals: {score_drift: {enabled: false}}
    versions:
      reply-2.1: {signals: {acceptance_rate: {min_effect: 0.05}}}
"""


def _calibration() -> Calibration:
    items = _stream(9)
    blocks = DayBlocks.split(items, "UTC", (), timeout=3600.0, end=max(i.at for i in items))
    ref = Reference(Path("ref.jsonl"), 100, 90, blocks, Tally())
    choices = [
        Choice("acceptance_rate", None, 5.123, "tail", 0.1, 0.1, 80, 12.0),
        Choice("acceptance_rate", "inbasket-reply", 5.4, "tail", 0.07, 0.07, 60, 9.0),
        Choice("acceptance_rate", "order-suggest", 5.123, "pooled", 0.03, 0.01, 3, 3.0),
        Choice("no_data", None, 6.0, "tail", 0.1, 0.1, 40, 8.0),
        Choice("no_data", "inbasket-reply", 6.0, "tail", 0.1, 0.1, 40, 8.0),
        Choice("site_outlier", None, 3.4, "nominal", 0.1, 0.1, 4, 8.0),
    ]
    return Calibration(ref, parse_budget("2 per 30 days"), 10, 0, choices, [])


def test_thresholds_go_on_top_of_the_base_config(tmp_path: Path) -> None:
    base_path = tmp_path / "base.yaml"
    base_path.write_text(BASE)
    base = load_config(base_path)
    out = tmp_path / "cal.yaml"
    write_config(out, _calibration(), base, yaml.safe_load(BASE))
    cfg = load_config(out)
    assert cfg.timezone == "America/New_York" and [str(d) for d in cfg.holidays] == ["2026-02-16"]
    assert cfg.predecessor("inbasket-reply", "reply-2.1") == "reply-2.0"
    assert cfg.resolver_config.timeout("inbasket-reply") == 8 * 3600.0
    on, acc = cfg.signal("acceptance_rate", "inbasket-reply", "reply-2.1")
    assert on and acc.min_effect == 0.05 and acc.z == 5.4  # version override kept
    assert cfg.signal("acceptance_rate", "order-suggest", "*")[1].z == 5.13  # rounded up
    assert cfg.signal("acceptance_rate", "order-suggest", "*")[1].min_effect == 0.04
    assert cfg.signal("score_drift", "inbasket-reply", "*")[0] is False
    assert cfg.signal("site_outlier", "x", "*")[1].z == 3.4
    p = cfg.signal("no_data", "x", "*")[1].p_alarm
    assert p <= math.exp(-18.0) and p > 0.99 * math.exp(-18.0)  # rounded down
    doc = yaml.safe_load(out.read_text())
    # a feature's own threshold only where it differs from the signal's
    assert "no_data" not in doc["features"]["inbasket-reply"]["signals"]
    assert "order-suggest" not in doc["features"]
    text = out.read_text()
    assert "# acceptance_rate: change-point scan:" in text and "tail fit" in text
    assert all(len(line) <= 110 for line in text.splitlines())


def test_threshold_values_round_towards_fewer_alarms() -> None:
    assert threshold_value("acceptance_rate", 5.001) == ("z", 5.01)
    assert threshold_value("acceptance_rate", 5.0) == ("z", 5.0)
    key, p = threshold_value("no_data", 5.256)
    assert key == "p_alarm" and p <= math.exp(-(5.256**2) / 2) and f"{p:.3g}" == "1e-06"
