"""One replay of a resample that yields every candidate threshold's false alarms at once.

A detector that fires at ``statistic >= c`` and resolves below ``r`` raises, on a row
whose statistic wanders, one alert per *excursion* above ``r`` whose peak reaches ``c``:
once it fired it stays firing until the statistic falls below ``r``, which ends the
excursion, and it cannot fire again before that. So the peaks of the excursions of
every row, recorded in one replay in which nothing fires, give the number of alerts at
every threshold ``c >= r``: the count of peaks at or above ``c``.

:class:`RecordingAssessor` is the stage-2 assessor with its detectors made to record
instead of fire:

* the feature panel's scans (:class:`RecordingPanel`): the excursions of each row's
  ``z`` above its ``z_resolve``. A row in an excursion is marked firing, so it is
  scanned at every bucket boundary as a firing row is (which sees when it resolves);
  its peak counts only the scans a row that is not firing gets (the hourly scan of
  every row, and a scan after new data), as only those can make it fire;
* ``site_outlier`` (:class:`RecordingFunnel`): per site, the excursions in which it
  stays beyond ``z_resolve`` and half the minimum effect; the peak counts only the
  evaluations that pass the firing gates (minimum effect, ``min_n``);
* ``no_data`` silences (:class:`RecordingSilence`): each gap between a site's events is
  one excursion, its peak the gap's expected count ``Lambda`` once the gap is long
  enough, on the ``z`` scale ``sqrt(2 Lambda)`` (``p_alarm = exp(-z^2 / 2)``).

Differences from a replay at a finite threshold, all small on a stationary stream: a
silence detector in alarm stops learning its profile (here it never is), and a funnel
site resolves when it leaves the window (here its excursion just ends).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.calibrate.days import Day, shifted
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.detectors.funnel import FunnelOutlier, FunnelParams
from monitor.core.detectors.silence import SilenceDetector, SilenceParams
from monitor.core.panel import FeaturePanel
from monitor.core.records import Alert, SeriesKey
from monitor.core.series import SeriesState

__all__ = [
    "Cell",
    "Excursions",
    "RecordingAssessor",
    "RecordingFunnel",
    "RecordingPanel",
    "RecordingSilence",
    "replay_resample",
]

Cell = tuple[str, str]
"""(unit, feature): a unit is a panel signal's config name (``volume_share`` included),
``site_outlier`` or ``no_data`` (the silence detector)."""
_NEVER = 1e9
"""The firing threshold of a recording detector: nothing fires."""
SILENCE_BASE = 1.5
"""Smallest silence peak (z scale) worth keeping: a night's ordinary gap is below it."""


@dataclass
class Excursions:
    """Excursion peaks per cell, and the rows (series) each cell watched."""

    peaks: dict[Cell, list[float]] = field(default_factory=dict)
    rows: dict[Cell, int] = field(default_factory=dict)
    _open: dict[tuple[Cell, Hashable], float] = field(default_factory=dict, repr=False)
    _seen: dict[Cell, set[Hashable]] = field(default_factory=dict, repr=False)

    def watch(self, cell: Cell, row: Hashable) -> None:
        """Count ``row`` among the cell's rows."""
        seen = self._seen.get(cell)
        if seen is None:
            seen = self._seen[cell] = set()
            self.peaks.setdefault(cell, [])
        seen.add(row)

    def rise(self, cell: Cell, row: Hashable, value: float) -> None:
        """The row is in an excursion; ``value`` counts towards its peak (``-inf``: the
        excursion goes on, but this evaluation could not have fired)."""
        key = (cell, row)
        peak = self._open.get(key)
        if peak is None or value > peak:
            self._open[key] = value

    def fall(self, cell: Cell, row: Hashable) -> None:
        """The row's excursion, if any, ended."""
        peak = self._open.pop((cell, row), None)
        if peak is not None and math.isfinite(peak):
            self.peaks.setdefault(cell, []).append(peak)

    def finish(self) -> Excursions:
        """End of the replay: excursions still open end here; rows are counted."""
        for cell, row in list(self._open):
            self.fall(cell, row)
        self.rows = {cell: len(seen) for cell, seen in self._seen.items()}
        self._seen = {}
        return self


class RecordingPanel(FeaturePanel):
    """A feature panel whose scans never fire and record each row's excursions."""

    def __init__(self, feature: str, config: MonitorConfig, record: Excursions) -> None:
        super().__init__(feature, config)
        self.record = record
        self._open: dict[str, set[int]] = {f: set() for f in self._width}
        """Per family: the rows in an excursion (marked firing)."""
        self._fresh: dict[str, list[int]] = {}
        self._hourly = False

    def _table(self, family: str) -> dict[str, np.ndarray]:
        tab = super()._table(family)
        tab["z"] = np.full(len(tab["z"]), math.inf)
        return tab

    def _scan(self, now: float, fresh: dict[str, list[int]]) -> list[Alert]:
        self._fresh, self._hourly = fresh, now % 3600.0 == 0.0  # (as the panel decides)
        return super()._scan(now, fresh)

    def _detectable(self, family: str, t: dict[str, np.ndarray], *args: Any) -> np.ndarray:
        return np.full(len(t["z"]), math.inf)  # a read-out nobody reads here

    def _scan_rows(
        self,
        family: str,
        rows: list[Any],
        tab: dict[str, np.ndarray],
        data: np.ndarray,
        tot: np.ndarray,
        sel: np.ndarray,
        starts: np.ndarray,
        now: float,
    ) -> list[Alert]:
        # rows marked firing below resolve in here when they fall under z_resolve
        super()._scan_rows(family, rows, tab, data, tot, sel, starts, now)
        z = self._last[family]["z"][sel]
        hot = np.flatnonzero((z >= tab["z_resolve"][sel]) & tab["on"][sel])
        record, feature, opened = self.record, self.feature, self._open[family]
        sel_rows = sel.tolist()
        could_fire = None if self._hourly else set(self._fresh[family])
        rising = set()
        for j in hot.tolist():
            i = sel_rows[j]
            row = rows[i]
            row.firing = True
            peak = float(z[j]) if could_fire is None or i in could_fire else -math.inf
            record.rise((row.signal, feature), _row_id(row), peak)
            rising.add(i)
        if opened:
            scanned = set(sel_rows)
            for i in [i for i in opened if i in scanned and i not in rising]:
                row = rows[i]
                row.firing = False
                record.fall((row.signal, feature), _row_id(row))
                opened.discard(i)
        opened |= rising
        return []

    def count_rows(self) -> None:
        """Count every enabled row among its cell's rows (end of a replay)."""
        for row in self.rows:
            if self._params_of(row)[0]:
                self.record.watch((row.signal, self.feature), _row_id(row))


def _row_id(row: Any) -> tuple[str | None, str, str, str]:
    return (row.input, row.kind, row.version, row.site)


class RecordingFunnel(FunnelOutlier):
    """``site_outlier`` that never fires and records each site's excursions."""

    def __init__(self, params: FunnelParams, record: Excursions, feature: str) -> None:
        super().__init__(params.model_copy(update={"z": _NEVER}))
        self.gates = params
        self.record = record
        self.cell: Cell = ("site_outlier", feature)

    def assess(self, counts: Any, p: float | None = None) -> bool:
        super().assess(counts, p)
        par = self.gates
        sign = {"down": -1.0, "up": 1.0, "both": 0.0}[par.direction]
        record, cell = self.record, self.cell
        for site, (x, n) in counts.items():
            z = self.z_scores.get(site)
            if z is None:
                record.fall(cell, site)
                continue
            record.watch(cell, site)
            n = float(n)
            d = float(x) / n - self.centres[site]
            zd, diff = (abs(z), abs(d)) if sign == 0.0 else (sign * z, sign * d)
            if zd < par.z_resolve or diff < 0.5 * par.min_effect:
                record.fall(cell, site)
            else:
                eligible = diff >= par.min_effect and n >= par.min_n
                record.rise(cell, site, zd if eligible else -math.inf)
        return False


class RecordingSilence(SilenceDetector):
    """``no_data`` silence that never fires and records each gap's peak (z scale)."""

    def __init__(self, params: SilenceParams, record: Excursions, key: SeriesKey) -> None:
        super().__init__(params.model_copy(update={"p_alarm": 1e-300}))
        self.gates = params
        self.record = record
        self.cell: Cell = ("no_data", key.feature)
        self.row = key.site
        record.watch(self.cell, self.row)

    def tick(self, t: float, events: int = 0) -> bool:
        late = self._tick is not None and t < self._tick
        changed = super().tick(t, events)
        if (
            events == 0
            and not late
            and self._last is not None
            and self._hours >= self.gates.warmup_hours
            and t - self._last >= self.gates.min_gap
        ):
            z = math.sqrt(2.0 * self._lam)
            if z >= SILENCE_BASE:
                self.record.rise(self.cell, self.row, z)
        return changed

    def _resume(self, t: float) -> bool:
        self.record.fall(self.cell, self.row)
        return super()._resume(t)


class RecordingAssessor(Assessor):
    """The assessor with recording detectors (see the module docstring)."""

    def __init__(self, config: MonitorConfig, record: Excursions) -> None:
        super().__init__(config)
        self.record = record

    def _new_series(self, skey: str) -> SeriesState:
        state = super()._new_series(skey)
        if state.panel is not None:
            state.panel = RecordingPanel(state.key.feature, self.config, self.record)
        return state

    def finish(self) -> Excursions:
        """The excursions recorded, once everything was applied (after ``flush``)."""
        for state in self.series.values():
            if isinstance(state.panel, RecordingPanel):
                state.panel.count_rows()
        return self.record.finish()

    def _factory(self, signal: str, key: SeriesKey, input_name: str | None, x: Any) -> Any:
        det = super()._factory(signal, key, input_name, x)
        if isinstance(det, FunnelOutlier):
            return RecordingFunnel(det.params, self.record, key.feature)
        if isinstance(det, SilenceDetector):
            return RecordingSilence(det.params, self.record, key)
        return det


def replay_resample(config: MonitorConfig, pairs: Sequence[tuple[Day, Day]]) -> Excursions:
    """Replay one resample, (target day, source day) in calendar order, through a
    :class:`RecordingAssessor`; the excursions of every row of every detector.

    The resample ends with its last day: what would take effect after it (a late answer,
    an expiry) is left out, as a stream that ends then leaves those suggestions open."""
    record = Excursions()
    assessor = RecordingAssessor(config, record)
    end = pairs[-1][0].end if pairs else -math.inf
    for target, source in pairs:
        by = target.start - source.start
        for item in source.items:
            if item.at + by < end:
                assessor.process_rollups(shifted(item, by))
        # every item of a later day takes effect after this day ends
        assessor.advance(target.end - 1e-3)
    if pairs:
        assessor.flush(end)
    return assessor.finish()
