"""The detector protocols as the series and the assessor use them: a detector that
learns a baseline has it recorded (provisional, then final) and reports its own
figures; a detector of the wrong kind for its slot is an error, not a silent skip."""

from __future__ import annotations

import math

import pytest

from monitor.baselines import ADWINDefault
from monitor.core.assessor import Assessor
from monitor.core.detectors import AlertFigures, ObservationDetector, SilenceDetector
from monitor.core.detectors.base import BaselineStatus
from monitor.core.records import ALL, Resolution, SeriesKey

T0 = 1_767_600_000.0


class MeanLevel(ObservationDetector):
    """Learns the mean of its first 20 observations (usable, provisionally, after 10);
    never fires."""

    name = "mean-level"
    learns_baseline = True
    _state_fields = ("_n", "_sum", "_last", "_firing")

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._sum = 0.0
        self._last = 0.0

    def update(self, x: float, t: float) -> bool:
        self._last = float(x)
        if self._n < 20:
            self._n += 1
            self._sum += x
        return False

    @property
    def reference(self) -> float:
        return self._sum / self._n if self._n >= 10 else math.nan

    def baseline_status(self) -> BaselineStatus:
        return "learning" if self._n < 10 else "provisional" if self._n < 20 else "final"

    def figures(self) -> AlertFigures:
        concern = self.reference - 0.5
        return AlertFigures(self._last, concern, self.reference, concern)

    statistic = property(lambda self: 0.0)
    threshold = property(lambda self: 1.0)
    value = property(lambda self: self._last)


def _resolutions(n: int, start: int = 0) -> list[Resolution]:
    out = []
    for i in range(start, start + n):
        t = T0 + 60 * i
        status = "accepted" if i % 4 else "rejected"
        out.append(Resolution(f"s{i}", "note-draft", "v1", "site-0", "other", t, t + 30,
                              status, 30.0, None, None, None))  # fmt: skip
    return out


def _feed(assessor: Assessor, items: list[Resolution]) -> None:
    for item in items:
        assessor.process_rollups(item)
    assessor.flush()


def test_a_learned_baseline_is_recorded_provisional_then_final() -> None:
    assessor = Assessor(override=(MeanLevel, frozenset({"acceptance_rate"})))
    exact = f"{SeriesKey('note-draft', 'v1', 'site-0')}|acceptance_rate"
    version = f"{SeriesKey('note-draft', 'v1', ALL)}|acceptance_rate"
    _feed(assessor, _resolutions(5))
    assert exact not in assessor.baselines  # still learning
    _feed(assessor, _resolutions(10, start=5))
    kind, state, provisional = assessor.baselines[exact]
    # recorded once, when it became usable
    assert (kind, state["n"], provisional) == ("MeanLevel", 10, True)
    assert version in assessor.baselines
    _feed(assessor, _resolutions(10, start=15))
    kind, state = assessor.baselines[exact]  # final: two items
    assert (kind, state["n"], state["sum"]) == ("MeanLevel", 20, 15.0)
    assert set(assessor.established()) == {("note-draft", "v1")}
    view = next(
        v
        for v in assessor.series[str(SeriesKey("note-draft", "v1", "site-0"))].views()
        if v.slot == "acceptance_rate"
    )
    assert (view.reference, view.concern) == (0.75, 0.25)


def test_a_detector_without_a_baseline_records_none() -> None:
    assessor = Assessor(override=(ADWINDefault, frozenset({"acceptance_rate"})))
    _feed(assessor, _resolutions(30))
    assert not any(k.endswith("|acceptance_rate") for k in assessor.baselines)
    view = next(v for s in assessor.series.values() for v in s.views())
    assert math.isnan(view.reference) and math.isnan(view.concern)


def test_a_detector_of_the_wrong_kind_for_its_slot_is_an_error() -> None:
    assessor = Assessor(override=(SilenceDetector, frozenset({"acceptance_rate"})))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="acceptance_rate needs a ObservationDetector, not SilenceDetector"
    ):
        _feed(assessor, _resolutions(1))
