"""The protocols Vitals' per-series change detectors follow.

A detector is a small, pure-Python object that keeps an alarm state (``firing``) and
reports, on each call that feeds it, whether that state changed: ``True`` means "an
alert starts or resolves now", one line of the alert log. What feeds it depends on its
kind, one abstract class each:

* :class:`ObservationDetector`: one observation at a time, ``update(x, t)`` (the river
  yardsticks of ``monitor.baselines``).
* :class:`ClockDetector`: event counts and clock ticks, ``tick(t, events)`` (a site's
  silence, ``no_data``).
* :class:`CrossSectionalDetector`: every unit at once, ``assess(counts, p)``, alarming
  per unit (the funnel plot of sites, ``site_outlier``).

All of them share :class:`Detector`: ``statistic`` and ``threshold`` (same units, so
``statistic >= threshold`` is "alarming"), ``value`` (the monitored quantity in user
units), ``name`` (a short, stable id for the alert log), :meth:`Detector.figures` (what
the alert log and the metrics report), ``learns_baseline`` (whether a new model
version's series may start from its learned state), and a compact JSON-native state:
:meth:`Detector.to_state` / :meth:`Detector.from_state`, after which a detector restored
mid-stream continues bit-for-bit like the uninterrupted one.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar, Literal, NamedTuple, Self

from pydantic import BaseModel, ConfigDict

from monitor.core.timezones import Zone

__all__ = [
    "AlertFigures",
    "BaselineStatus",
    "ClockDetector",
    "CrossSectionalDetector",
    "Detector",
    "DetectorParams",
    "LocalTimeParams",
    "ObservationDetector",
    "UnitChange",
    "cusum_threshold",
    "shared_params",
    "siegmund_arl",
]

BaselineStatus = Literal["learning", "provisional", "final"]
"""How far a detector that learns a baseline is: no reference yet; a reference, with a
stratum (weekends) still learning; done."""


class AlertFigures(NamedTuple):
    """What a detector reports of itself, in the alert log and to readers.

    ``value`` and ``threshold`` are the alert log's figures. ``reference`` and
    ``concern`` are the level the detector compares with and the level of concern (the
    reference moved by the minimum effect towards the alarm side), in the signal's
    units; NaN where the detector has no such level."""

    value: float
    threshold: float
    reference: float = math.nan
    concern: float = math.nan


class UnitChange(NamedTuple):
    """One unit (a site) starting or stopping to be an outlier, with its score."""

    unit: str
    state: Literal["firing", "resolved"]
    score: float


class DetectorParams(BaseModel):
    """Base of the per-detector parameter models (frozen, unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LocalTimeParams(DetectorParams):
    """Parameters of detectors that know the sites' calendar; the config sets them once
    for all of them (``timezone``, ``holidays`` at its top level)."""

    timezone: Zone = "UTC"
    """IANA time zone of the sites: it decides local dates and weekends."""
    holidays: tuple[date, ...] = ()
    """Local dates staffed like a weekend (public holidays)."""


_PARAMS: dict[tuple[type[DetectorParams], str], DetectorParams] = {}


def shared_params(model: type[DetectorParams], fields: dict[str, Any]) -> DetectorParams:
    """One (frozen, hence shareable) params instance per distinct set of values: restoring
    thousands of series would otherwise hold thousands of identical pydantic models."""
    key = (model, json.dumps(fields, sort_keys=True))
    params = _PARAMS.get(key)
    if params is None:
        if len(_PARAMS) >= 4096:
            _PARAMS.clear()
        params = _PARAMS[key] = model(**fields)
    return params


class Detector(ABC):
    """Base of every per-series detector: alarm state, figures, state.

    Subclasses set ``name``, ``params_model`` and ``_state_fields`` (the instance
    attributes that make up the mutable state), implement ``statistic``, ``threshold``
    and ``value``, and derive from one of :class:`ObservationDetector`,
    :class:`ClockDetector` or :class:`CrossSectionalDetector` for how they are fed.
    """

    name: ClassVar[str] = "detector"
    params_model: ClassVar[type[DetectorParams]] = DetectorParams
    _state_fields: ClassVar[tuple[str, ...]] = ()
    learns_baseline: ClassVar[bool] = False
    """Whether warm-up teaches the detector a reference that a new model version's
    series may start from (the assessor then records its frozen state as the
    version's baseline, asking :meth:`baseline_status` when)."""

    params: Any
    _firing: bool

    def __init__(self, params: DetectorParams | None = None, **overrides: Any) -> None:
        if params is None:
            params = self.params_model(**overrides)
        elif overrides:
            params = params.model_copy(update=overrides)
            params = self.params_model.model_validate(params.model_dump())
        if not isinstance(params, self.params_model):
            raise TypeError(f"{type(self).__name__} needs {self.params_model.__name__}")
        self.params = params
        self._firing = False

    @property
    def firing(self) -> bool:
        """Whether the alarm is currently raised."""
        return self._firing

    @property
    @abstractmethod
    def statistic(self) -> float:
        """Current test statistic (compare with ``threshold``)."""

    @property
    @abstractmethod
    def threshold(self) -> float:
        """Level of ``statistic`` at which the detector fires."""

    @property
    @abstractmethod
    def value(self) -> float:
        """The monitored quantity in user units."""

    def figures(self) -> AlertFigures:
        """The alert log's ``value`` and ``threshold``, and the levels readers plot.

        By default the statistic against its threshold, with no reference or level of
        concern; a detector that compares a level with a learned reference reports the
        level against the level of concern instead."""
        return AlertFigures(self.statistic, self.threshold)

    def baseline_status(self) -> BaselineStatus:
        """How far the baseline is learned; asked only when ``learns_baseline``."""
        raise NotImplementedError(f"{type(self).__name__} learns no baseline")

    # -- state -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Compact JSON-native snapshot: non-default params plus mutable state."""
        state: dict[str, Any] = {
            "detector": self.name,
            "params": self.params.model_dump(mode="json", exclude_defaults=True),
        }
        for field in self._state_fields:
            val = getattr(self, field)
            state[field.lstrip("_")] = list(val) if isinstance(val, tuple) else val
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from :meth:`to_state` output.

        A field the snapshot lacks (added to the detector since it was written) keeps
        its freshly constructed value, so a worker upgraded over existing state
        restores it instead of failing."""
        if state.get("detector") != cls.name:
            raise ValueError(f"state is for detector {state.get('detector')!r}, not {cls.name!r}")
        obj = cls(shared_params(cls.params_model, state["params"]))
        for field in cls._state_fields:
            key = field.lstrip("_")
            if key not in state:
                continue
            val = state[key]
            setattr(obj, field, list(val) if isinstance(val, list) else val)
        obj._restored()
        return obj

    def _restored(self) -> None:
        """Hook: recompute derived (non-serialised) attributes after a restore."""
        return None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(firing={self.firing}, statistic={self.statistic:.4g}, "
            f"threshold={self.threshold:.4g}, value={self.value:.4g})"
        )


class ObservationDetector(Detector):
    """A detector fed one observation of one series at a time.

    Examples
    --------
    >>> class Above(ObservationDetector):
    ...     name = "above"
    ...     def __init__(self) -> None:
    ...         super().__init__()
    ...         self._x = 0.0
    ...     def update(self, x: float, t: float) -> bool:
    ...         self._x, was = x, self._firing
    ...         self._firing = x >= 1.0
    ...         return self._firing != was
    ...     statistic = value = property(lambda self: self._x)
    ...     threshold = property(lambda self: 1.0)
    >>> det = Above()
    >>> [det.update(x, t) for t, x in enumerate([0.2, 1.5, 1.7, 0.1])]
    [False, True, False, True]
    >>> det.figures()
    AlertFigures(value=0.1, threshold=1.0, reference=nan, concern=nan)
    """

    @abstractmethod
    def update(self, x: float, t: float) -> bool:
        """Feed one observation.

        Parameters
        ----------
        x
            The observation, in the signal's units (a rate's indicator is 0 or 1).
        t
            Its event time, epoch seconds.

        Returns
        -------
        bool
            Whether ``firing`` changed.
        """


class ClockDetector(Detector):
    """A detector driven by the clock: it sees when events happen, not what they are.

    It is fed the events of its series as counts at their event time, and a clock tick
    (``events=0``) each time the watermark advances, so it can alarm on what did not
    happen (a silence).

    Examples
    --------
    >>> class Gap(ClockDetector):
    ...     name = "gap"
    ...     def __init__(self) -> None:
    ...         super().__init__()
    ...         self._last = self._now = 0.0
    ...     def tick(self, t: float, events: int = 0) -> bool:
    ...         self._now = t
    ...         if events:
    ...             self._last = t
    ...         was, self._firing = self._firing, t - self._last >= 60.0
    ...         return self._firing != was
    ...     statistic = value = property(lambda self: self._now - self._last)
    ...     threshold = property(lambda self: 60.0)
    >>> det = Gap()
    >>> det.tick(10.0, 3), det.tick(50.0), det.tick(80.0), det.tick(90.0, 1)
    (False, False, True, True)
    """

    @abstractmethod
    def tick(self, t: float, events: int = 0) -> bool:
        """Events, or a clock tick, at event time ``t``.

        Parameters
        ----------
        t
            Event time, epoch seconds.
        events
            How many events of the series happened at ``t``; 0 for a clock tick.

        Returns
        -------
        bool
            Whether ``firing`` changed.
        """


class CrossSectionalDetector(Detector):
    """A detector that compares units (sites) of a population with each other.

    Each assessment sees every unit's current ``(successes, n)`` and may start or end
    an alarm per unit; ``firing`` is True while any unit is out. After an assessment,
    ``changes`` lists the units whose state changed and :meth:`unit_figures` gives the
    alert log's figures for each.

    Examples
    --------
    >>> class Below(CrossSectionalDetector):
    ...     name = "below"
    ...     def __init__(self) -> None:
    ...         super().__init__()
    ...         self._rates: dict[str, float] = {}
    ...         self._out: dict[str, float] = {}
    ...     def assess(self, counts, p=None):
    ...         self._rates = {u: x / n for u, (x, n) in counts.items()}
    ...         out = {u: r for u, r in self._rates.items() if r < 0.5}
    ...         self.changes = [UnitChange(u, "firing", out[u]) for u in out
    ...                         if u not in self._out]
    ...         self.changes += [UnitChange(u, "resolved", self._rates[u])
    ...                          for u in self._out if u not in out]
    ...         self._out, self._firing = out, bool(out)
    ...         return bool(self.changes)
    ...     scores = property(lambda self: dict(self._rates))
    ...     outliers = property(lambda self: dict(self._out))
    ...     def unit_figures(self, unit):
    ...         return AlertFigures(self._rates[unit], 0.5)
    ...     statistic = value = property(lambda self: min(self._rates.values()))
    ...     threshold = property(lambda self: 0.5)
    >>> det = Below()
    >>> det.assess({"a": (8, 10), "b": (3, 10)}), det.changes
    (True, [UnitChange(unit='b', state='firing', score=0.3)])
    >>> det.unit_figures("b")
    AlertFigures(value=0.3, threshold=0.5, reference=nan, concern=nan)
    """

    changes: list[UnitChange]
    """The units whose state changed at the last assessment."""

    def __init__(self, params: DetectorParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.changes = []

    @abstractmethod
    def assess(self, counts: Mapping[str, tuple[float, float]], p: float | None = None) -> bool:
        """Compare the units.

        Parameters
        ----------
        counts
            Unit -> (successes, n) over the recent window.
        p
            The rate to compare each unit with; ``None``: estimate it from the units.

        Returns
        -------
        bool
            Whether any unit started or stopped being an outlier (see ``changes``).
        """

    @property
    @abstractmethod
    def scores(self) -> dict[str, float]:
        """Unit -> its score at the last assessment (absent right after a restore)."""

    @property
    @abstractmethod
    def outliers(self) -> dict[str, float]:
        """Units currently out, with their score."""

    @abstractmethod
    def unit_figures(self, unit: str) -> AlertFigures:
        """The alert log's figures for one unit of the last assessment's ``changes``."""


# -- CUSUM calibration (the oracle yardstick, monitor.evaluation) ---------------------------------

_RHO = 0.583  # Siegmund's overshoot constant: b = h/sigma + 2 * 0.583


def siegmund_arl(mu: float, sigma: float, h: float) -> float:
    """Average run length of ``S = max(0, S + Z)`` until ``S >= h``.

    Siegmund's corrected Brownian approximation for increments ``Z`` with mean
    ``mu`` and standard deviation ``sigma`` (Siegmund 1985, eq. 2.55;
    Montgomery, *Introduction to SQC*, sec. 9.1.7).
    """
    delta = mu / sigma
    b = h / sigma + 2 * _RHO
    if abs(delta) < 1e-9:
        return b * b
    x = -2.0 * delta * b
    if x > 700:
        return math.inf
    return (math.exp(x) - x - 1.0) / (2.0 * delta * delta)


def cusum_threshold(mu: float, sigma: float, arl: float) -> float:
    """Smallest threshold ``h`` with ``siegmund_arl(mu, sigma, h) >= arl`` (``mu < 0``).

    >>> h = cusum_threshold(-0.02, 0.2, 1e6)
    >>> round(h, 2), siegmund_arl(-0.02, 0.2, h) >= 1e6
    (9.67, True)
    """
    if mu >= 0:
        raise ValueError("the in-control drift must be negative")
    lo, hi = 0.0, 1.0
    while siegmund_arl(mu, sigma, hi) < arl:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if siegmund_arl(mu, sigma, mid) < arl:
            lo = mid
        else:
            hi = mid
    return hi
