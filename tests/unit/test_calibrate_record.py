"""One recording replay gives the alerts of every threshold: the count of excursion peaks
at or above it equals the firing alerts of a real replay at that threshold."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.calibrate.record import Excursions, RecordingAssessor
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.records import Flag, Resolution
from monitor.core.signals import PANEL_SPECS
from monitor.fanout import fan_out_file


def _items(path: Path) -> list[Resolution | Flag]:
    items: list[Resolution | Flag] = []
    fan_out_file(path, MonitorConfig(), [], tap=items.append)
    return items


def _feed(assessor: Assessor, items: list[Resolution | Flag]) -> list:
    alerts = []
    for item in items:
        assessor.process_rollups(item)
    alerts.extend(assessor.flush(max(i.at for i in items)))
    return alerts


_UNIT_OF = {spec.signal: name for name, spec in PANEL_SPECS.items()}


def _unit(alert) -> str:  # type: ignore[no-untyped-def]
    if alert.detector == "glr-share":
        return "volume_share"
    if alert.signal == "no_data":
        return "no_data"
    return _UNIT_OF.get(alert.signal, alert.signal)


@pytest.fixture(scope="module")
def recorded(stream: Path) -> tuple[list[Resolution | Flag], Excursions]:
    items = _items(stream / "events.jsonl")
    assessor = RecordingAssessor(MonitorConfig(), Excursions())
    assert not _feed(assessor, items)  # nothing fires
    record = assessor.finish()
    assert record.rows["acceptance_rate", "inbasket-reply"] == 3  # the feature, 2 sites
    # the funnel and the silence detectors record too (their sites)
    assert record.rows["site_outlier", "inbasket-reply"] == 2
    assert record.rows["no_data", "inbasket-reply"] == 2
    return items, record


@pytest.mark.parametrize(("z", "funnel_z"), [(4.0, 2.5), (6.0, 3.5)])
def test_peaks_count_the_alerts_of_a_replay_at_any_threshold(
    recorded: tuple[list[Resolution | Flag], Excursions], z: float, funnel_z: float
) -> None:
    items, record = recorded
    signals: dict[str, dict[str, float]] = {name: {"z": z} for name in PANEL_SPECS}
    signals["site_outlier"] = {"z": funnel_z}
    signals["no_data"] = {"p_alarm": math.exp(-z * z / 2)}
    alerts = _feed(Assessor(MonitorConfig(signals=signals)), items)
    fired = Counter((_unit(a), a.feature) for a in alerts if a.state == "firing")
    at = {cell: funnel_z if cell[0] == "site_outlier" else z for cell in record.peaks}
    counted = Counter(
        {cell: n for cell, p in record.peaks.items() if (n := sum(v >= at[cell] for v in p))}
    )
    assert fired == counted
    if z == 4.0:
        assert sum(fired.values()) >= 3  # the injected drop and more: a test that can fail


def _fires(path: list[float], c: float, r: float) -> int:
    """Alerts of a detector that fires at >= c and resolves below r along ``path``."""
    firing, n = False, 0
    for v in path:
        if not firing and v >= c:
            firing, n = True, n + 1
        elif firing and v < r:
            firing = False
    return n


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.floats(3.0, 7.0))
def test_excursion_peaks_equal_hysteresis_alerts(seed: int, c: float) -> None:
    rng = random.Random(seed)
    path, v = [], 0.0
    for _ in range(400):
        v = 0.9 * v + rng.gauss(0.0, 1.2)
        path.append(abs(v))
    record = Excursions()
    cell = ("acceptance_rate", "f")
    for v in path:
        record.watch(cell, "row")
        if v >= 3.0:
            record.rise(cell, "row", v)
        else:
            record.fall(cell, "row")
    record.finish()
    assert sum(p >= c for p in record.peaks[cell]) == _fires(path, c, 3.0)
    assert record.rows[cell] == 1
