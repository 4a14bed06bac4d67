"""Compact JSON encoding of the records passed from stage 1 (resolve) to stage 2 (assess).

A record is a JSON array whose first element names its kind: ``"r"``
(:class:`~monitor.records.Resolution`), ``"f"`` (:class:`~monitor.records.Flag`)
or ``"t"`` (a :class:`Tick`: a stage-1 partition's watermark, broadcast so that
time advances for series that receive no events, e.g. a silent site).

Examples
--------
>>> t = Tick(source=3, watermark=1767600000.0)
>>> decode(encode(t)) == t
True
"""

from __future__ import annotations

import json
from typing import NamedTuple

from monitor.records import Flag, Resolution


class Tick(NamedTuple):
    """Watermark of one stage-1 partition (event time, epoch seconds)."""

    source: int
    watermark: float


Record = Resolution | Flag | Tick
_KINDS: dict[str, type] = {"r": Resolution, "f": Flag, "t": Tick}
_TAGS: dict[type, str] = {v: k for k, v in _KINDS.items()}

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode(record: Record) -> bytes:
    return _dumps([_TAGS[type(record)], *record]).encode()


def decode(raw: bytes | str) -> Record:
    tag, *fields = json.loads(raw)
    return _KINDS[tag](*fields)
