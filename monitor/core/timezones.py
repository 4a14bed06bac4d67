"""IANA time zones: the sites' local time decides what counts as a weekend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

__all__ = ["Zone", "check_zone", "local_date"]


def check_zone(name: str) -> str:
    """Return ``name`` if it is a known IANA zone, else raise a ValueError that says so.

    >>> check_zone("America/New_York")
    'America/New_York'
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as 'America/New_York')"
        ) from None
    return name


Zone = Annotated[str, AfterValidator(check_zone)]
"""A pydantic field type: an IANA time zone name, checked."""


def local_date(t: float, zone: ZoneInfo) -> date:
    """The local calendar date in ``zone`` at epoch seconds ``t``."""
    return datetime.fromtimestamp(t, UTC).astimezone(zone).date()
