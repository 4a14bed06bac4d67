"""Durations in configuration: seconds, or a number and a unit (``90s``, ``4h``, ``7d``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: Any) -> Any:
    """``"90s"``, ``"10m"``, ``"4h"``, ``"7d"`` or a number of seconds → seconds.

    >>> parse_duration("7d"), parse_duration(30)
    (604800.0, 30)
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 10m, 4h, 7d)")
        return float(match[1]) * _UNITS[match[2] or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A float of seconds that configuration may also write as ``7d`` and the like."""
