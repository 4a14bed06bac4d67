"""A false-alarm budget in a person's phrasing: ``"2 per 30 days"``, ``"1 per week"``.

The budget is the expected number of false alarms (alerts that fire on a stationary
stream) across the whole deployment, every series and signal together, per period:
``<count> [false alarms|alarms|alerts] per|a|an|every|/ [<number>] <unit>``, where the
unit is an hour, day, week, month (30 days) or year (365 days), singular, plural or
abbreviated (``h``, ``d``, ``wk``, ``mo``, ``yr``).

Examples
--------
>>> b = parse_budget("2 per 30 days")
>>> b.count, b.seconds / 86400, str(b)
(2.0, 30.0, '2 per 30 days')
>>> round(parse_budget("0.5 per month").expected(7 * 86400), 4)
0.1167
>>> str(parse_budget("1 alert a week"))
'1 per week'
>>> try:
...     parse_budget("two a week")
... except BudgetError as exc:
...     print(exc)
budget 'two a week': expected '<count> per <period>', e.g. '1 per week', '2 per 30 days', \
'0.5 per month' (a month is 30 days)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["UNITS", "Budget", "BudgetError", "parse_budget"]

_HOUR, _DAY = 3600.0, 86400.0
UNITS: dict[str, float] = {
    "hour": _HOUR,
    "day": _DAY,
    "week": 7 * _DAY,
    "month": 30 * _DAY,
    "year": 365 * _DAY,
}
"""Seconds in each unit; a month is 30 days, a year 365."""
_ALIASES = {
    **{u: u for u in UNITS},
    **{u + "s": u for u in UNITS},
    "h": "hour", "hr": "hour", "hrs": "hour",
    "d": "day",
    "w": "week", "wk": "week", "wks": "week",
    "mo": "month", "mos": "month", "mon": "month",
    "y": "year", "yr": "year", "yrs": "year",
}  # fmt: skip
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PATTERN = re.compile(
    rf"^\s*(?P<count>{_NUMBER})\s*"
    r"(?:(?:false\s+)?(?:alarms?|alerts?)\s*)?"
    r"(?:per|an?|every|each|/)\s*"
    rf"(?:(?P<every>{_NUMBER})\s*)?"
    r"(?P<unit>[a-z]+)\s*$",
    re.IGNORECASE,
)


class BudgetError(ValueError):
    """A budget string that does not say how many false alarms per how long."""


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Budget:
    """``count`` false alarms expected per ``seconds`` of event time, deployment-wide."""

    count: float
    seconds: float
    unit: str = "day"
    """The unit it was phrased in (for printing)."""

    def expected(self, seconds: float) -> float:
        """False alarms the budget allows in ``seconds`` of event time."""
        return self.count * seconds / self.seconds

    def __str__(self) -> str:
        every = self.seconds / UNITS[self.unit]
        if math.isclose(every, 1.0):
            return f"{_fmt(self.count)} per {self.unit}"
        return f"{_fmt(self.count)} per {_fmt(every)} {self.unit}s"


def parse_budget(text: str) -> Budget:
    """Parse a budget such as ``"2 per 30 days"``; :class:`BudgetError` says what is wrong."""
    hint = (
        f"budget {text!r}: expected '<count> per <period>', e.g. '1 per week', "
        "'2 per 30 days', '0.5 per month' (a month is 30 days)"
    )
    m = _PATTERN.match(text)
    if m is None:
        raise BudgetError(hint)
    unit = _ALIASES.get(m["unit"].lower())
    if unit is None:
        known = ", ".join(UNITS)
        raise BudgetError(f"budget {text!r}: unknown unit {m['unit']!r} (use {known})")
    count = float(m["count"])
    every = float(m["every"]) if m["every"] is not None else 1.0
    if not count > 0 or not math.isfinite(count):
        raise BudgetError(
            f"budget {text!r}: the count must be above 0 (no threshold gives none at all)"
        )
    if not every > 0 or not math.isfinite(every * UNITS[unit]):
        raise BudgetError(f"budget {text!r}: the period must be longer than 0")
    return Budget(count, every * UNITS[unit], unit)
