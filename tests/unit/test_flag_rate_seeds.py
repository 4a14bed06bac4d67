"""The flag_rate signal on whole simulated months (seed scenarios with other random seeds).

Flags are rare (0.2-0.4% of suggestions) and follow their suggestion by minutes to
hours, which made the signal the least reliable one. These runs were failures of
earlier defaults (a false alarm on a control month, a 4-day tripling missed) and
pin the current ones. Only flag_rate runs: its detectors share nothing with the
other signals, so their alerts are what a full replay raises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.config import MonitorConfig
from monitor.core.signals import CONFIG_BLOCKS
from monitor.replay import replay_file
from monitor.scoring import load_truth, score
from monitor.simulate import load_scenario, simulate

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
FLAG_ONLY = MonitorConfig.model_validate(
    {"signals": {s: {"enabled": False} for s in CONFIG_BLOCKS if s != "flag_rate"}}
)


def _run(tmp_path: Path, scenario: str, seed: int | None) -> tuple[list, list]:
    spec = load_scenario(SEEDS / f"{scenario}.yaml")
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    simulate(spec, tmp_path)
    _, result = replay_file(tmp_path / "events.jsonl", FLAG_ONLY)
    scored = score(result.alerts, load_truth(tmp_path / "truth.json"))
    return scored.detections, scored.false_alarms


def test_stationary_month_raises_no_flag_alarm(tmp_path: Path) -> None:
    # seed 204: 90 note-draft flags in the first two weeks (rate 0.43%); the 8x/16x
    # arms fired on an evening cluster of late flags
    detections, false_alarms = _run(tmp_path, "control", 204)
    assert detections == []
    assert false_alarms == []


@pytest.mark.parametrize(
    ("seed", "within_hours"),
    [
        # the seed file: the panel's feature row at 26 h on main as of 2026-12-02 (river
        # ADWIN 24.1 h); faster on an earlier panel build, not yet explained (issue 14)
        (None, 30.0),
        pytest.param(
            302,
            72.0,
            marks=pytest.mark.xfail(
                strict=True,
                reason="missed (issue 14): in this seed the realised rise is 0.47% -> 1.0%"
                " over 4 days (55 flags for 26 expected), z 4.9 against the scan's 5.5",
            ),
        ),
    ],
)
def test_four_day_tripling_is_caught(tmp_path: Path, seed: int | None, within_hours: float) -> None:
    detections, false_alarms = _run(tmp_path, "flag-spike", seed)
    (spike,) = detections
    assert spike.delay is not None, "flag spike missed"
    assert spike.delay < within_hours * 3600
    assert spike.by is not None and spike.by.startswith("flag_rate@")
    assert false_alarms == []
