"""Calibration end to end: resolve the reference once, resample it by days, replay each
resample once with recording detectors, split the budget and find the thresholds, and
say how fast they see the stated effects.

The reference is parsed and resolved once (:func:`load_reference`); its resolved items
are then resampled and replayed from the assessor on, ``workers`` resamples at a time
in forked processes. Everything a resample needs is in the parent before the fork.
"""

from __future__ import annotations

import math
import multiprocessing
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.calibrate.budget import Budget
from monitor.calibrate.days import DayBlocks, Item
from monitor.calibrate.delays import Delay, delays
from monitor.calibrate.record import SILENCE_BASE, Cell, Excursions, replay_resample
from monitor.calibrate.thresholds import Choice, allot
from monitor.core.config import MonitorConfig
from monitor.core.records import ALL
from monitor.core.signals import PANEL_SPECS
from monitor.fanout import fan_out_file
from monitor.tally import Tally

__all__ = [
    "DEFAULT_RESAMPLES",
    "FLOORS",
    "MIN_DAYS",
    "RECOMMENDED_DAYS",
    "Calibration",
    "Reference",
    "ReferenceTooShort",
    "calibrate",
    "load_reference",
]

MIN_DAYS = 7
"""Whole days a reference needs: every weekday and both weekend days once, so that a
resample keeps the week's rhythm and has at least two days of each kind to draw from."""
RECOMMENDED_DAYS = 28
DEFAULT_RESAMPLES = 10
FLOORS = {"panel": 4.0, "site_outlier": 2.5, "no_data": 3.0}
"""Lowest threshold calibration sets, per kind of detector (``z`` scale; ``no_data``:
``p_alarm = exp(-z^2 / 2)``, 0.011 at 3), and at least half a unit above the level it
resolves at. Below these a month of reference days cannot vouch for the rate: alarms
would rest on the reference having shown every kind of ordinary day."""
_MARGIN = 0.5


class ReferenceTooShort(ValueError):
    """A reference with too few whole days to resample."""


@dataclass
class Reference:
    """A resolved reference stream, cut into whole local days."""

    path: Path
    lines: int
    events: int
    blocks: DayBlocks
    tally: Tally
    """Hourly counts of the whole days (for the delays)."""

    @property
    def seconds(self) -> float:
        return sum(d.end - d.start for d in self.blocks.days)


def load_reference(
    path: Path, config: MonitorConfig, on_progress: Callable[[int], None] | None = None
) -> Reference:
    """Parse and resolve ``path`` once; :class:`ReferenceTooShort` if it has fewer than
    ``MIN_DAYS`` whole days or fewer than two of a kind (weekdays, weekend days)."""
    items: list[Item] = []
    engine, result = fan_out_file(path, config, [], tap=items.append, on_progress=on_progress)
    rc = config.resolver_config
    timeout = max([rc.decision_timeout, *rc.feature_timeouts.values()])
    blocks = DayBlocks.split(
        items, config.timezone, config.holidays, timeout=timeout, end=engine.resolver.clock
    )
    del items
    days = blocks.days
    if len(days) < MIN_DAYS or len(blocks.weekdays) < 2 or len(blocks.weekends) < 2:
        span = ""
        if days:
            span = f", {days[0].date} to {days[-1].date}"
        raise ReferenceTooShort(
            f"{path}: {len(days)} whole days in {config.timezone} ({len(blocks.weekdays)} "
            f"weekdays, {len(blocks.weekends)} weekend days{span}); calibration needs at "
            f"least {MIN_DAYS} whole days with two of each kind, so that every weekday and "
            f"both weekend days occur ({RECOMMENDED_DAYS} or more recommended). A day is "
            "whole when the stream covers it from its first hour to the decision timeout "
            "after its end."
        )
    tally = Tally()
    for day in days:
        for item in day.items:
            tally.add(item)
    return Reference(path, result.lines, result.events, blocks, tally)


_WORK: tuple[MonitorConfig, DayBlocks] | None = None
"""What forked workers replay (set in the parent before the pool forks)."""


def _replay_seed(seed: int) -> Excursions:
    assert _WORK is not None
    config, blocks = _WORK
    return replay_resample(config, blocks.resample(random.Random(seed)))


def run_resamples(
    config: MonitorConfig,
    blocks: DayBlocks,
    seeds: list[int],
    workers: int,
    on_done: Callable[[], None] | None = None,
) -> list[Excursions]:
    """Replay one resample per seed (``workers`` at a time); their excursions, by seed."""
    global _WORK
    _WORK = (config, blocks)
    out: dict[int, Excursions] = {}
    try:
        if workers <= 1 or len(seeds) <= 1:
            for seed in seeds:
                out[seed] = _replay_seed(seed)
                if on_done is not None:
                    on_done()
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(min(workers, len(seeds))) as pool:
                for seed, ex in zip(seeds, pool.imap(_replay_seed, seeds), strict=True):
                    out[seed] = ex
                    if on_done is not None:
                        on_done()
    finally:
        _WORK = None
    return [out[s] for s in seeds]


def _unit_kind(unit: str) -> str:
    return "panel" if unit in PANEL_SPECS else unit


def bases(config: MonitorConfig, cells: set[Cell]) -> dict[Cell, float]:
    """Each cell's excursion level: the level its detector resolves at."""
    out = {}
    for unit, feature in cells:
        if unit == "no_data":
            out[unit, feature] = SILENCE_BASE
        else:
            out[unit, feature] = float(config.signal(unit, feature, ALL)[1].z_resolve)  # type: ignore[attr-defined]
    return out


def default_z(config: MonitorConfig, unit: str, feature: str) -> float:
    """The threshold ``config`` gives a unit for a feature, on the ``z`` scale."""
    params = config.signal(unit, feature, ALL)[1]
    if unit == "no_data":
        return math.sqrt(-2.0 * math.log(params.p_alarm))  # type: ignore[attr-defined]
    return float(params.z)  # type: ignore[attr-defined]


@dataclass
class Calibration:
    """What :func:`calibrate` found."""

    reference: Reference
    budget: Budget
    resamples: int
    seed: int
    choices: list[Choice]
    delays: list[Delay]

    def per_period(self, per_resample: float) -> float:
        """False alarms per budget period, from a count per resample."""
        return per_resample * self.budget.seconds / self.reference.seconds

    def thresholds(self) -> dict[tuple[str, str], float]:
        """(unit, feature) -> z for every feature of every unit."""
        return {(c.unit, c.feature): c.z for c in self.choices if c.feature is not None}


def calibrate(
    reference: Reference,
    config: MonitorConfig,
    budget: Budget,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    workers: int = 1,
    on_resample: Callable[[], None] | None = None,
) -> Calibration:
    """Thresholds that meet ``budget`` on day-block resamples of ``reference``."""
    seeds = [seed * 1_000_003 + i for i in range(resamples)]
    runs = run_resamples(config, reference.blocks, seeds, workers, on_resample)
    cells = {c for run in runs for c in run.rows}
    base = bases(config, cells)
    floors: dict[str, float] = {}
    for (unit, _), level in base.items():
        floor = max(FLOORS[_unit_kind(unit)], level + _MARGIN)
        floors[unit] = max(floors.get(unit, floor), floor)
    per_resample = budget.expected(reference.seconds)
    choices = allot(runs, per_resample, base, floors)
    at = {(c.unit, c.feature): c.z for c in choices if c.feature is not None}
    hours = round(reference.seconds / 3600.0)
    found = delays(reference.tally, config, at, hours)
    return Calibration(reference, budget, resamples, seed, choices, found)
