"""Compact JSON encoding of the records passed from stage 1 (resolve) to stage 2 (assess).

A record is a JSON array whose first element names its kind: ``"r"``
(:class:`~monitor.core.records.Resolution`), ``"f"`` (:class:`~monitor.core.records.Flag`)
``"t"`` (a :class:`Tick`: a stage-1 partition's watermark, broadcast so that
time advances for series that receive no events, e.g. a silent site) or ``"i"``
(an :class:`Idle`: a stage-1 partition that has had no input for a while).

Examples
--------
>>> t = Tick(source=3, watermark=1767600000.0)
>>> decode(encode(t)) == t
True
"""

from __future__ import annotations

import json
from typing import NamedTuple

from monitor.core.records import Flag, Resolution


class Tick(NamedTuple):
    """Watermark of one stage-1 partition (event time, epoch seconds)."""

    source: int
    watermark: float


class Idle(NamedTuple):
    """Stage-1 partition ``source`` has had no input for a while: stage 2 leaves it
    out of the watermark until it reports progress again (else one empty or
    stuck input partition would hold every alert back)."""

    source: int


Record = Resolution | Flag | Tick | Idle
_KINDS: dict[str, type] = {"r": Resolution, "f": Flag, "t": Tick, "i": Idle}
_TAGS: dict[type, str] = {v: k for k, v in _KINDS.items()}

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode(record: Record) -> bytes:
    return _dumps([_TAGS[type(record)], *record]).encode()


def decode(raw: bytes | str) -> Record:
    tag, *fields = json.loads(raw)
    return _KINDS[tag](*fields)
