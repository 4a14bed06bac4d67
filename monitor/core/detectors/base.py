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
from statistics import NormalDist
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.core.timezones import Zone

__all__ = [
    "CusumBank",
    "CusumParams",
    "Detector",
    "DetectorParams",
    "LocalTimeParams",
    "cusum_threshold",
    "dispersion",
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


class CusumParams(DetectorParams):
    """Parameters every CUSUM-bank detector shares (subclasses may change defaults)."""

    direction: Literal["down", "up", "both"] = "both"
    warmup: int = Field(1000, ge=0)
    """Observations used to learn the reference and/or phi (not monitored)."""
    batch_size: int = Field(100, ge=2)
    """Batch length for the over-dispersion estimate."""
    phi: float | None = Field(None, ge=1.0)
    """Over-dispersion factor; ``None`` estimates it during warm-up."""
    max_phi: float = Field(10.0, ge=1.0)
    dispersion_alpha: float = Field(0.05, gt=0.0, lt=1.0)
    """An over-dispersion estimate is used only when significant at this level (a chi-square
    test of the warm-up batches); otherwise ``phi = 1`` (an i.i.d. stream keeps i.i.d.
    thresholds instead of ones inflated by the noise of its own estimate)."""
    arl: float = Field(1e6, ge=100.0)
    """Target mean number of in-control observations between false alarms."""
    multipliers: tuple[float, ...] = Field((2.0, 4.0, 8.0), min_length=1, max_length=8)
    """Alternatives tested: ``min_effect x multipliers``."""
    null_shift: float = Field(0.5, ge=0.0, lt=1.0)
    """Shifts up to ``null_shift x min_effect`` count as in-control when calibrating: the
    false-alarm target ``arl`` holds for them too (whatever the volume)."""
    recent_window: int = Field(500, ge=10)
    """EWMA span (observations) of the recent level used for resolution and ``value``."""

    @model_validator(mode="after")
    def _check_bank(self) -> Self:
        if self.phi is None and self.warmup < 5 * self.batch_size:
            raise ValueError(
                f"estimating phi needs warmup >= 5 * batch_size (warmup {self.warmup}, "
                f"batch_size {self.batch_size}): lower batch_size, or set phi"
            )
        if any(m < 1.0 for m in self.multipliers):
            raise ValueError("multipliers must be >= 1")
        return self


class CusumBank(Detector):
    """Shared alarm logic of the detectors that run a bank of one-sided CUSUMs.

    A subclass keeps ``_s`` (one CUSUM value per arm) and ``_arms`` (tuples whose
    last two entries are the arm's threshold ``h`` and its direction ``sign``),
    updates ``_s`` itself, then calls :meth:`_transition` with the sign of the
    first arm at its threshold. Hysteresis: once firing, the alarm holds while the
    recent level stays at least half the minimum effect beyond the reference, or
    while an arm of the firing direction keeps half its threshold.
    """

    _gate: ClassVar[bool] = False
    """Also require the recent level to have moved by half the minimum effect to fire."""

    _s: list[float]
    _arms: list[tuple[float, ...]]
    _dir: int
    # warm-up batches for the over-dispersion estimate (state fields of the subclass):
    # observations and total of the open batch; closed batches, the sum and the sum
    # of squares of their statistics
    _bn: int
    _bsum: float
    _nb: int
    _csum: float
    _csq: float

    def _batch_add(self, x: float, *, mean: bool) -> None:
        """Add a warm-up observation; a full batch adds its total (``mean``: its mean)."""
        self._bn += 1
        self._bsum += x
        if self._bn == self.params.batch_size:
            self._nb += 1
            b = self._bsum / self._bn if mean else self._bsum
            self._csum += b
            self._csq += b * b
            self._bn = 0
            self._bsum = 0

    def _batch_moments(self) -> tuple[float, float]:
        """Mean and sample variance of the closed batches' statistics."""
        mean = self._csum / self._nb
        return mean, (self._csq - self._nb * mean * mean) / (self._nb - 1)

    def _transition(self, fire: int, shift: float, half: float) -> bool:
        """Decide the alarm state after one step; True when ``firing`` changed.

        ``fire``: sign of the first arm at its threshold (0: none); ``shift``: recent
        level minus the reference; ``half``: half the minimum effect, same units.
        """
        if not self._firing:
            if fire and (not self._gate or fire * shift >= half):
                self._firing = True
                self._dir = fire
                return True
            return False
        if self._dir * shift < half:
            for v, arm in zip(self._s, self._arms, strict=True):
                if arm[-1] == self._dir and v >= 0.5 * arm[-2]:
                    return False
            self._firing = False
            self._dir = 0
            return True
        return False

    def _side(self) -> int:
        """-1 or +1 for one-sided banks; a two-sided bank's current alarm side (0 if quiet)."""
        return {"down": -1, "up": 1}.get(self.params.direction, self._dir)

    @property
    def statistic(self) -> float:
        """Largest CUSUM value as a fraction of its own threshold (0 during warm-up)."""
        if not self._arms:
            return 0.0
        return max(v / arm[-2] for v, arm in zip(self._s, self._arms, strict=True))

    @property
    def threshold(self) -> float:
        return 1.0


# -- CUSUM calibration shared by the CUSUM-based detectors ---------------------------------

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


def _chi2_quantile(q: float, df: int) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile (good to ~1% for df >= 3)."""
    z = NormalDist().inv_cdf(q)
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def dispersion(ratio: float, batches: int, alpha: float, max_phi: float) -> float:
    """Over-dispersion factor from warm-up batches: ``ratio`` is the observed variance of
    the batch statistics over their variance under independence, from ``batches`` batches.

    Under independence ``(batches - 1) * ratio`` is chi-square with ``batches - 1`` degrees
    of freedom; ``ratio`` is used (clipped to ``[1, max_phi]``) only when it exceeds that
    distribution's ``1 - alpha`` quantile, else 1.

    >>> dispersion(1.3, 20, 0.05, 10.0), dispersion(3.0, 20, 0.05, 10.0)
    (1.0, 3.0)
    """
    df = batches - 1
    if df < 1 or not ratio > _chi2_quantile(1.0 - alpha, df) / df:
        return 1.0
    return min(max(ratio, 1.0), max_phi)
