"""Score an alert log against a scenario's ground truth (``truth.json``).

An alert *detects* an injected degradation when it fires on one of the
degradation's acceptable signals, on a series that covers it (same feature;
the same model version and site, or ``*``), between the degradation's start
and its end plus a grace period. Its delay is the first such firing minus the
start. Every other firing is a false alarm.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from monitor.core.records import ALL, Alert

GRACE = 86400.0


@dataclass
class Detection:
    id: str
    signals: list[str]
    where: str
    start: float
    delay: float | None  # seconds; None = missed
    by: str | None


@dataclass
class Score:
    detections: list[Detection]
    false_alarms: list[Alert]

    @property
    def missed(self) -> int:
        return sum(d.delay is None for d in self.detections)


def truth_time(text: str | None) -> float:
    """A truth file's RFC 3339 time as epoch seconds (None: +inf, no end)."""
    return math.inf if text is None else datetime.fromisoformat(text).timestamp()


class TruthError(ValueError):
    """A truth file that cannot be scored against."""


class _TruthDegradation(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    signals: list[str] = Field(min_length=1)
    feature: str
    model_version: str
    site: str
    start: AwareDatetime
    end: AwareDatetime | None = None
    input: str | None = None


class _Truth(BaseModel):
    model_config = ConfigDict(extra="allow")

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    lines: int | None = None
    degradations: list[_TruthDegradation]


def load_truth(path: Path) -> dict[str, Any]:
    """Read a ``truth.json`` (as ``vitals simulate`` writes it) and check its shape;
    raise :class:`TruthError` with the file and the first problem."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise TruthError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:  # not JSON (or not UTF-8)
        raise TruthError(f"{path}: not a truth.json (not JSON: {exc})") from None
    if not isinstance(doc, dict):
        raise TruthError(f"{path}: not a truth.json (expected a JSON object)")
    try:
        _Truth.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "top level"
        raise TruthError(f"{path}: not a truth.json ({loc}: {err['msg']})") from None
    return doc


def truth_mismatch(truth: dict[str, Any], lines: int, last_event_at: float) -> list[str]:
    """Signs that a truth file belongs to another stream (empty when none)."""
    problems = []
    if truth.get("lines") is not None and truth["lines"] != lines:
        problems.append(f"describes {truth['lines']} lines; this stream has {lines}")
    if truth.get("start") and last_event_at < truth_time(truth["start"]):
        problems.append("its scenario starts after the last event of this stream")
    return problems


def _covers(d: dict[str, Any], a: Alert) -> bool:
    if a.signal not in d["signals"] or a.feature != d["feature"]:
        return False
    if d.get("input") and a.input not in (None, d["input"]):
        return False
    sites = d.get("sites")  # a subset of sites: a site series must be one of them
    if sites and a.site != ALL and a.site not in sites:
        return False
    for field in ("model_version", "site"):
        want, got = d[field], getattr(a, field)
        if want != ALL and got not in (want, ALL):
            return False
    return True


def score(alerts: list[Alert], truth: dict[str, Any], grace: float = GRACE) -> Score:
    firing = [a for a in alerts if a.state == "firing"]
    matched: set[int] = set()
    detections = []
    for d in truth.get("degradations", []):
        start, end = truth_time(d["start"]), truth_time(d.get("end")) + grace
        hits = [(i, a) for i, a in enumerate(firing) if start <= a.at <= end and _covers(d, a)]
        matched.update(i for i, _ in hits)
        first = min(hits, key=lambda h: h[1].at)[1] if hits else None
        where = f"{d['feature']}|{d['model_version']}|{d['site']}"
        detections.append(
            Detection(
                d["id"], d["signals"], where, start,
                None if first is None else first.at - start,
                None if first is None else f"{first.signal}@{first.model_version}|{first.site}",
            )
        )  # fmt: skip
    false = [a for i, a in enumerate(firing) if i not in matched]
    return Score(detections, false)
