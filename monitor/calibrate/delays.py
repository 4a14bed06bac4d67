"""Expected detection delays at given thresholds, from the scan's own statistic.

For an effect that starts at some hour of the week and stays, the delay is the time
until the change-point scan's statistic at the true split, computed on *expected*
counts, reaches the threshold: the before segment is the reference's data for that
series, the after segment the volume the series has from the onset on (its average
volume by hour of the week in the reference, so a change that starts on a Friday
evening waits for Monday's volume). Rates use the scan's exact binomial likelihood
ratio, means its pooled-variance ``z``; both with the gates a scan applies (the change
must reach ``gate x min_effect``, the after segment ``min_after`` observations and
``min_after_seconds``), at the 15-minute bucket boundaries where scans run.

This is about the median delay (the statistic fluctuates around its expectation, and
crosses first about when its expectation does), not a simulated one: priors borrowed
from peers, which shorten a small site's delay, are left out.

Examples
--------
>>> import numpy as np
>>> profile = np.full(168, 40.0)                  # 40 decisions every hour, 28 days
>>> row = Row("acceptance_rate", 40.0 * 24 * 28, 0.6, 0.0, profile)
>>> hours = onset_delays(row, -0.05, z=5.5, params=ScanParams(direction="down",
...                      min_effect=0.03)) / 3600
>>> float(hours.min()), float(hours.max())
(82.75, 82.75)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from monitor.core.config import MonitorConfig
from monitor.core.records import ALL
from monitor.core.signals import ScanParams
from monitor.tally import Tally

__all__ = ["EFFECTS", "LIMIT", "Delay", "Effect", "Row", "delays", "onset_delays", "weekly_profile"]

_STEP = 900.0
_WEEK = 168
_EPOCH_OFFSET = 72  # hour 0 of the epoch was a Thursday: Monday 00:00 UTC is hour 72
LIMIT = 28 * 86400.0
"""Delays are looked for up to this long; beyond it a change counts as not seen."""


@dataclass(frozen=True)
class Effect:
    """A stated degradation: ``delta`` added to the level (``ratio``: the level times it)."""

    name: str
    signal: str
    delta: float = 0.0
    ratio: float | None = None

    def change(self, level: float) -> float:
        return level * (self.ratio - 1.0) if self.ratio is not None else self.delta


EFFECTS = (
    Effect("acceptance -5 points", "acceptance_rate", delta=-0.05),
    Effect("correction burden +0.05", "correction_burden", delta=0.05),
    Effect("flags x3", "flag_rate", ratio=3.0),
)


@dataclass(frozen=True)
class Row:
    """What a series had in the reference for one signal."""

    signal: str
    n: float
    """Observations (decisions, burdens, or suggestions shown for flags)."""
    level: float
    """Rate, or mean."""
    var: float
    """Variance of one observation (means)."""
    profile: np.ndarray
    """Average observations per hour of the week (0 = Monday 00:00 UTC)."""


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def _rate_z(n1: float, p1: float, n2: float, p2: float) -> float:
    """The scan's signed-root binomial likelihood ratio at expected counts."""
    x1, x2 = n1 * p1, n2 * p2
    nt, xt = n1 + n2, x1 + x2
    pt = xt / nt
    llr = (
        _xlogy(x1, p1) + _xlogy(n1 - x1, 1 - p1) + _xlogy(x2, p2) + _xlogy(n2 - x2, 1 - p2)
        - _xlogy(xt, pt) - _xlogy(nt - xt, 1 - pt)
    )  # fmt: skip
    return math.sqrt(max(2.0 * llr, 0.0))


def needed(row: Row, change: float, z: float, params: ScanParams) -> float:
    """Observations after the onset at which the expected statistic reaches ``z``
    (inf: never, or the change does not pass the gate)."""
    gate = params.gate * params.min_effect * (row.level if params.relative else 1.0)
    if abs(change) < gate or row.n <= 0:
        return math.inf
    if row.signal in ("acceptance_rate", "flag_rate", "response_rate"):
        p1, p2 = row.level, row.level + change
        if not 0.0 < p2 < 1.0 or not 0.0 < p1 < 1.0:
            return math.inf
        if _rate_z(row.n, p1, 1e12, p2) < z:
            return math.inf
        lo, hi = 1.0, 1e12
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if _rate_z(row.n, p1, mid, p2) < z else (lo, mid)
            if hi / lo < 1.0001:
                break
        return hi
    inv = change * change / (z * z * row.var) - 1.0 / row.n if row.var > 0 else -1.0
    return 1.0 / inv if inv > 0 else math.inf


def onset_delays(row: Row, change: float, z: float, params: ScanParams) -> np.ndarray:
    """Seconds from an onset at each hour of the week until the expected statistic
    reaches ``z`` at a bucket boundary (inf: not within ``LIMIT``)."""
    need = max(needed(row, change, z, params), float(params.min_after))
    steps = int(LIMIT // _STEP)
    per_step = np.repeat(row.profile, int(3600 // _STEP)) * (_STEP / 3600.0)
    wait = max(1, math.ceil(params.min_after_seconds / _STEP))
    out = np.full(_WEEK, math.inf)
    if not math.isfinite(need):
        return out
    for h in range(_WEEK):
        shift = np.roll(per_step, -h * int(3600 // _STEP))
        cum = np.cumsum(np.resize(shift, steps))
        hit = np.nonzero(cum[wait - 1 :] >= need)[0]
        if len(hit):
            out[h] = (hit[0] + wait) * _STEP
    return out


def weekly_profile(bins: Iterable[tuple[int, float]], hours: int) -> np.ndarray:
    """Average per hour of the week of (hour index since the epoch, count) pairs over
    ``hours`` hours of reference."""
    prof = np.zeros(_WEEK)
    for i, v in bins:
        prof[(i + _EPOCH_OFFSET) % _WEEK] += v
    return prof / max(hours / _WEEK, 1e-9)


@dataclass(frozen=True)
class Delay:
    """The expected delay of one effect on one series at its threshold and the default."""

    feature: str
    effect: str
    site: str
    """The site (of median volume), or ``*`` for the whole feature."""
    z: float
    hours: float
    """Median over onsets at each hour of the week (inf: not within ``LIMIT``)."""
    slowest: float
    """The slowest onset hour's delay."""
    default_hours: float
    """The same at the signal's default ``z``."""


_FIELDS = {  # signal -> (tally numerator or sums prefix, denominator / count field)
    "acceptance_rate": ("accepted", "decided"),
    "flag_rate": ("flagged", "shown"),
    "correction_burden": ("burden", "burden_n"),
}


def _row(tally: Tally, signal: str, feature: str, site: str, hours: int) -> Row | None:
    from monitor.tally import FIELDS

    index = {name: i for i, name in enumerate(FIELDS)}
    num, den = _FIELDS[signal]
    bins: dict[int, list[float]] = {}
    for _, leaf in tally.matching(feature, ALL, site):
        for i, r in leaf.items():
            acc = bins.setdefault(i, [0.0] * len(FIELDS))
            for j, v in enumerate(r):
                acc[j] += v
    n = sum(b[index[den]] for b in bins.values())
    if n <= 0:
        return None
    if signal == "correction_burden":
        s = sum(b[index["burden_sum"]] for b in bins.values())
        q = sum(b[index["burden_sq"]] for b in bins.values())
        mean = s / n
        level, var = mean, max(q / n - mean * mean, 0.0)
    else:
        level, var = sum(b[index[num]] for b in bins.values()) / n, 0.0
    profile = weekly_profile(((i, b[index[den]]) for i, b in bins.items()), hours)
    return Row(signal, n, level, var, profile)


def median_site(tally: Tally, feature: str) -> str | None:
    """The feature's site of median volume (suggestions shown; the lower of two)."""
    volume: dict[str, float] = {}
    for (_, _, site), leaf in tally.matching(feature, ALL, ALL):
        volume[site] = volume.get(site, 0.0) + sum(r[0] for r in leaf.values())
    if not volume:
        return None
    ranked = sorted(volume, key=lambda s: (volume[s], s))
    return ranked[(len(ranked) - 1) // 2]


def delays(
    tally: Tally,
    config: MonitorConfig,
    thresholds: dict[tuple[str, str], float],
    hours: int,
    effects: Iterable[Effect] = EFFECTS,
) -> list[Delay]:
    """Each effect at each feature's median site and on the whole feature, at the
    calibrated ``thresholds`` ((signal, feature) -> z) and at the signal's default."""
    out = []
    features = sorted({f for f, _, _ in tally.leaves})
    for feature in features:
        site = median_site(tally, feature)
        for effect in effects:
            on, params = config.signal(effect.signal, feature, ALL)
            assert isinstance(params, ScanParams)
            z = thresholds.get((effect.signal, feature))
            if not on or z is None:
                continue
            for where in (site, ALL):
                row = _row(tally, effect.signal, feature, where or ALL, hours)
                if row is None or where is None:
                    continue
                change = effect.change(row.level)
                at = onset_delays(row, change, z, params) / 3600.0
                base = onset_delays(row, change, params.z, params) / 3600.0
                out.append(
                    Delay(feature, effect.name, where, z, float(np.median(at)), float(at.max()),
                          float(np.median(base)))
                )  # fmt: skip
    return out
