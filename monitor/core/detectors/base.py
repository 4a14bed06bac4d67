"""The protocol every Vitals change detector follows.

A detector is a small, pure-Python object fed one observation at a time. It
keeps an alarm state (``firing``) and reports, on each ``update``, whether that
state changed: ``True`` means "an alert starts or resolves now", which is
exactly one line of the alert log. Everything else is read from properties:

* ``statistic`` and ``threshold``: the detector's test statistic and the level
  at which it fires (same units, so ``statistic >= threshold`` is "alarming").
* ``value``: the monitored quantity in user units (a rate, a mean, PSI, ...),
  what the alert log reports as ``value``.
* ``name``: a short, stable detector id for the alert log (``"bernoulli-cusum"``).

State is serialisable with :meth:`Detector.to_state` into a compact dict of
JSON-native values (lists, floats, ints, str, bool, None) and restored exactly
with :meth:`Detector.from_state`: a detector restored mid-stream continues
bit-for-bit like the uninterrupted one.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from datetime import date
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from monitor.core.timezones import Zone

__all__ = [
    "Detector",
    "DetectorParams",
    "LocalTimeParams",
    "cusum_threshold",
    "shared_params",
    "siegmund_arl",
]


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
    """Base class: the ``update`` / ``firing`` / ``to_state`` protocol.

    Subclasses set ``name``, ``params_model`` and ``_state_fields`` (the
    instance attributes that make up the mutable state) and implement
    ``update``, ``statistic``, ``threshold`` and ``value``.
    """

    name: ClassVar[str] = "detector"
    params_model: ClassVar[type[DetectorParams]] = DetectorParams
    _state_fields: ClassVar[tuple[str, ...]] = ()

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

    @abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> bool:
        """Feed one observation; return True when ``firing`` changed."""

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
        """The monitored quantity in user units (alert-log ``value``)."""

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

        A field the snapshot lacks (added to the detector since it was written, such as
        the weekend reference) keeps its freshly constructed value, so a worker upgraded
        over existing state restores it instead of failing."""
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
