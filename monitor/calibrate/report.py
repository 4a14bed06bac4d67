"""Terminal tables of a calibration: thresholds, expected delays, the hold-out check."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from monitor.calibrate.configfile import threshold_value
from monitor.calibrate.delays import LIMIT, Delay
from monitor.calibrate.holdout import HoldoutCheck
from monitor.calibrate.run import Calibration, default_z
from monitor.core.config import MonitorConfig
from monitor.core.records import ALL

__all__ = ["print_delays", "print_holdout", "print_thresholds"]


def _hours(h: float) -> str:
    if not math.isfinite(h):
        return f"> {LIMIT / 86400:.0f} d"
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} d"


def print_thresholds(out: Console, cal: Calibration, config: MonitorConfig) -> None:
    period = str(cal.budget).split(" per ", 1)[1]
    table = Table(title=f"thresholds for {cal.budget} false alarms ({cal.resamples} resamples)")
    for col in ("detector", "feature", "z", "was", "config", "how", "peaks", "series",
                f"allotted / {period}", f"expected / {period}"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("detector", "feature", "how") else "right")
    total = 0.0
    for c in cal.choices:
        key, value = threshold_value(c.unit, c.z)
        was = default_z(config, c.unit, c.feature or ALL)
        if c.feature is not None:
            total += c.expected
        table.add_row(
            c.unit if c.feature is None else "", c.feature or "(all)", f"{c.z:.2f}", f"{was:.2f}",
            f"{key} {value:g}", c.method, str(c.peaks), f"{c.rows:.0f}",
            f"{cal.per_period(c.target):.3f}", f"{cal.per_period(c.expected):.3f}",
        )  # fmt: skip
    out.print(table)
    out.print(
        f"expected false alarms at these thresholds: {cal.per_period(total):.2f} per {period} "
        f"(budget {cal.budget.count:g})",
        markup=False,
    )


def print_delays(out: Console, found: list[Delay]) -> None:
    table = Table(
        title="expected detection delay (the scan's statistic on expected counts; median "
        "over onsets at every hour of the week)"
    )
    for col in ("feature", "effect", "where", "z", "delay", "slowest onset", "at the old z"):
        table.add_column(col, justify="left" if col in ("feature", "effect", "where") else "right")
    for d in found:
        where = "whole feature" if d.site == ALL else f"{d.site} (median site)"
        table.add_row(d.feature, d.effect, where, f"{d.z:.2f}", _hours(d.hours),
                      _hours(d.slowest), _hours(d.default_hours))  # fmt: skip
    out.print(table)


def print_holdout(out: Console, check: HoldoutCheck) -> None:
    low, high = check.interval
    days = check.seconds / 86400.0
    signals = ", ".join(f"{s} {n}" for s, n in sorted(check.by_signal().items())) or "none"
    out.print(
        f"hold-out {check.path.name}: {check.count} false alarms in {days:.1f} days "
        f"({signals}); the budget allows {check.allowed:.2f} in that time; exact 95% "
        f"interval of the mean [{low:.2f}, {high:.2f}]: {check.verdict}",
        markup=False,
    )
