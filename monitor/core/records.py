"""Records that flow between the stages: resolutions, flags and alerts.

Times are event times as float epoch seconds (UTC): cheap to compare, to
serialize and to hold in state. Convert with :func:`to_rfc3339` at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

Status = Literal["accepted", "edited", "rejected", "dismissed", "expired"]
DECIDED: frozenset[str] = frozenset({"accepted", "edited", "rejected", "dismissed"})
ACCEPTED: frozenset[str] = frozenset({"accepted", "edited"})

ALL = "*"
"""Series wildcard: the aggregate over sites, or over model versions."""


class SeriesKey(NamedTuple):
    """A monitored series; ``model_version`` or ``site`` may be :data:`ALL`."""

    feature: str
    model_version: str
    site: str

    def __str__(self) -> str:
        return f"{self.feature}|{self.model_version}|{self.site}"

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        feature, model_version, site = text.split("|")
        return cls(feature, model_version, site)

    def rollups(self) -> tuple[SeriesKey, ...]:
        """This exact series and the aggregates it contributes to."""
        f, v, s = self
        return (self, SeriesKey(f, v, ALL), SeriesKey(f, ALL, s), SeriesKey(f, ALL, ALL))


_ROLLUP_NAMES: dict[tuple[str, str, str], tuple[str, ...]] = {}


def rollup_names(feature: str, model_version: str, site: str) -> tuple[str, ...]:
    """``str()`` of each of ``SeriesKey(feature, model_version, site).rollups()``, cached."""
    names = _ROLLUP_NAMES.get((feature, model_version, site))
    if names is None:
        rollups = SeriesKey(feature, model_version, site).rollups()
        names = _ROLLUP_NAMES[feature, model_version, site] = tuple(map(str, rollups))
    return names


class Resolution(NamedTuple):
    """One suggestion, resolved: decided by an outcome, or expired."""

    suggestion_id: str
    feature: str
    model_version: str
    site: str
    care_setting: str
    shown_at: float
    """Event time of the suggestion."""
    at: float
    """Event time the resolution takes effect: the outcome's, or shown_at + timeout."""
    status: Status
    decision_seconds: float | None
    """Outcome time minus suggestion time; None when expired."""
    burden: float | None
    """edit_distance / max(draft_length, final_length, 1) for accepted/edited with a distance."""
    score: float | None
    inputs: dict[str, float | str] | None

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.feature, self.model_version, self.site)


class Flag(NamedTuple):
    """A clinician flagged a suggestion whose series is known."""

    suggestion_id: str
    feature: str
    model_version: str
    site: str
    at: float
    category: str
    first: bool
    """True for the first flag on this suggestion (flag rate counts suggestions)."""

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.feature, self.model_version, self.site)


class Alert(NamedTuple):
    """A state change of one signal on one series (one line of the alert log)."""

    at: float
    state: Literal["firing", "resolved"]
    signal: str
    feature: str
    model_version: str
    site: str
    value: float
    threshold: float
    detector: str
    input: str | None = None

    def to_log(self) -> dict[str, object]:
        """The replay alert-log object, exactly as DESIGN.md specifies."""
        out: dict[str, object] = {
            "at": to_rfc3339(self.at),
            "state": self.state,
            "signal": self.signal,
            "feature": self.feature,
            "model_version": self.model_version,
            "site": self.site,
            "value": self.value,
            "threshold": self.threshold,
            "detector": self.detector,
        }
        if self.input is not None:
            out["input"] = self.input
        return out


@dataclass(frozen=True)
class DetectorView:
    """What readers (metrics, plots, reports) see of one detector on one series.

    ``statistic`` fires at ``threshold``. ``value``, ``reference`` and ``concern`` are
    the recent level, the level it is compared with and the level of concern (the
    reference moved by the minimum effect towards the alarm side), in the signal's own
    units; NaN where a detector has no such level. ``detectable`` is the smallest change
    the detector could alarm on now had it begun a day ago, in ``min_effect``'s units
    (inf: cannot yet; NaN: not computed for this detector); ``learning`` says it cannot
    yet see twice its minimum effect within a day. ``slot`` names the detector within
    its series (``signal``, ``signal:input``, or a panel signal such as
    ``volume_share``)."""

    slot: str
    signal: str
    input: str | None
    feature: str
    model_version: str
    site: str
    detector: str
    firing: bool
    statistic: float
    threshold: float
    value: float
    reference: float
    concern: float
    since: float | None = None
    n_before: float = float("nan")
    n_after: float = float("nan")
    se: float = float("nan")
    detectable: float = float("nan")
    min_effect: float = float("nan")
    learning: bool = False
    fired: float | None = None
    """While firing: the event time the alert fired (the alert log's ``at``); ``since``
    is where the change it found began."""

    @property
    def series(self) -> str:
        return f"{self.feature}|{self.model_version}|{self.site}"

    @property
    def ratio(self) -> float:
        """``statistic / threshold`` (1 = fires), 0 when undefined."""
        r = self.statistic / self.threshold if self.threshold else 0.0
        return r if r == r and abs(r) != float("inf") else 0.0


def to_rfc3339(epoch: float) -> str:
    """RFC 3339 UTC timestamp (``Z``), millisecond precision."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
