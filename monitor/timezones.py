"""IANA time zones: the sites' local time decides what counts as a weekend."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["check_zone"]


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
