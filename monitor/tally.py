"""Hourly sums of what clinicians did, per leaf series: the raw counts behind the workbench.

A :class:`Tally` is fed every resolution and flag of a replay (a ``tap`` of
:class:`~monitor.fanout.FanOut`) and keeps, per (feature, model_version, site) and per
hour of the suggestion's time, the counts and sums that the signals are made of. Any
window of any series, rollups (``*``) included, is then a sum of bins
(:meth:`Tally.window`), from which :mod:`monitor.stats` builds intervals: the evidence
of an alert, and the rollout scorecard.

A resolution is binned by the time its suggestion was shown; a flag by its own time
(flags follow their suggestion by minutes to hours).

Examples
--------
>>> from monitor.core.records import Resolution
>>> tally = Tally()
>>> tally.add(Resolution("s1", "f", "v1", "a", "other", 7200.0, 7230.0, "edited",
...                      30.0, 0.2, None, None))
>>> w = tally.window("f", "*", "*", 0.0, 86400.0)
>>> w.shown, w.rate("acceptance_rate"), round(w.moments("correction_burden").mean, 2)
(1.0, (1.0, 1.0), 0.2)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.core.records import ACCEPTED, ALL, DECIDED, Flag, Resolution
from monitor.stats import Interval, Moments, dispersion, newcombe, welch

BIN = 3600.0
FIELDS = (
    "shown",
    "decided",
    "accepted",
    "flagged",
    "burden_n",
    "burden_sum",
    "burden_sq",
    "dlog_n",
    "dlog_sum",
    "dlog_sq",
    "score_n",
    "score_sum",
    "score_sq",
)
_I = {name: i for i, name in enumerate(FIELDS)}
RATES = {
    # signal -> (numerator, denominator)
    "acceptance_rate": ("accepted", "decided"),
    "response_rate": ("decided", "shown"),
    "flag_rate": ("flagged", "shown"),
}
MEANS = {
    # signal -> field prefix (decision time: log seconds)
    "correction_burden": "burden",
    "decision_time": "dlog",
    "score_drift": "score",
}


@dataclass
class Window:
    """Sums over a window of bins, and the per-bin sums (for the dispersion factor)."""

    sums: list[float] = field(default_factory=lambda: [0.0] * len(FIELDS))
    bins: list[list[float]] = field(default_factory=list)

    @property
    def shown(self) -> float:
        return self.sums[0]

    def count(self, name: str) -> float:
        return self.sums[_I[name]]

    def rate(self, signal: str) -> tuple[float, float]:
        """(successes, trials) of a rate signal."""
        num, den = RATES[signal]
        return self.sums[_I[num]], self.sums[_I[den]]

    def moments(self, signal: str) -> Moments:
        """Count, mean and variance of a mean signal (decision time in log seconds)."""
        pre = MEANS[signal]
        return Moments.of_sums(*(self.sums[_I[f"{pre}_{s}"]] for s in ("n", "sum", "sq")))

    def level(self, signal: str) -> float | None:
        """The signal over the window in display units (decision time: geometric mean in
        seconds); None without observations."""
        if self.n(signal) < 1:
            return None
        if signal in RATES:
            x, n = self.rate(signal)
            return x / n
        m = self.moments(signal).mean
        return math.exp(m) if signal == "decision_time" else m

    def n(self, signal: str) -> float:
        """Observations of a signal in the window."""
        if signal in RATES:
            return self.rate(signal)[1]
        return self.sums[_I[f"{MEANS[signal]}_n"]]

    def phi(self, signal: str) -> float:
        """Dispersion of the signal across the window's hourly bins (>= 1)."""
        if signal in RATES:
            x, n = self.rate(signal)
            if not n:
                return 1.0
            num, den = (_I[f] for f in RATES[signal])
            p = x / n
            pairs = ((b[den], b[num] / b[den]) for b in self.bins if b[den])
            return dispersion(pairs, p, p * (1 - p))
        m = self.moments(signal)
        if not m.n or m.var != m.var:
            return 1.0
        pre = MEANS[signal]
        i_n, i_s = _I[f"{pre}_n"], _I[f"{pre}_sum"]
        return dispersion(((b[i_n], b[i_s] / b[i_n]) for b in self.bins if b[i_n]), m.mean, m.var)


class Tally:
    """Hourly sums per leaf series; see the module docstring."""

    def __init__(self, bin_seconds: float = BIN) -> None:
        self.bin = bin_seconds
        self.leaves: dict[tuple[str, str, str], dict[int, list[float]]] = {}
        self.first_seen: dict[tuple[str, str, str], float] = {}
        """Leaf -> the earliest time a suggestion of it was shown."""

    def _bin(self, key: tuple[str, str, str], at: float) -> list[float]:
        bins = self.leaves.get(key)
        if bins is None:
            bins = self.leaves[key] = {}
        i = int(at // self.bin)
        row = bins.get(i)
        if row is None:
            row = bins[i] = [0.0] * len(FIELDS)
        return row

    def add(self, item: Resolution | Flag) -> None:
        """Count one resolution or flag."""
        key = (item.feature, item.model_version, item.site)
        if isinstance(item, Flag):
            if item.first:
                self._bin(key, item.at)[3] += 1
            return
        at = item.shown_at
        if at < self.first_seen.get(key, math.inf):
            self.first_seen[key] = at
        row = self._bin(key, at)
        row[0] += 1
        if item.status in DECIDED:
            row[1] += 1
            if item.status in ACCEPTED:
                row[2] += 1
        if item.burden is not None:
            row[4] += 1
            row[5] += item.burden
            row[6] += item.burden * item.burden
        if item.decision_seconds is not None:
            y = math.log(max(item.decision_seconds, 1e-3))
            row[7] += 1
            row[8] += y
            row[9] += y * y
        if item.score is not None:
            row[10] += 1
            row[11] += item.score
            row[12] += item.score * item.score

    def matching(
        self, feature: str, model_version: str, site: str, *, exclude_site: str | None = None
    ) -> Iterator[tuple[tuple[str, str, str], dict[int, list[float]]]]:
        """Leaves of a series key (``*`` matches any version or site)."""
        for key, bins in self.leaves.items():
            f, v, s = key
            if f != feature or (model_version != ALL and v != model_version):
                continue
            if (site != ALL and s != site) or s == exclude_site:
                continue
            yield key, bins

    def window(
        self,
        feature: str,
        model_version: str,
        site: str,
        start: float,
        end: float,
        *,
        exclude_site: str | None = None,
    ) -> Window:
        """Sums over the bins that start in ``[start, end)`` of every matching leaf."""
        lo = math.ceil(start / self.bin) if math.isfinite(start) else -math.inf
        hi = math.ceil(end / self.bin) if math.isfinite(end) else math.inf
        merged: dict[int, list[float]] = {}
        for _, bins in self.matching(feature, model_version, site, exclude_site=exclude_site):
            for i, row in bins.items():
                if lo <= i < hi:
                    acc = merged.get(i)
                    if acc is None:
                        merged[i] = list(row)
                    else:
                        for j, v in enumerate(row):
                            acc[j] += v
        out = Window(bins=[merged[i] for i in sorted(merged)])
        for row in out.bins:
            for j, v in enumerate(row):
                out.sums[j] += v
        return out

    def active(self, feature: str, model_version: str, site: str) -> tuple[float, float] | None:
        """(start of the first bin, end of the last bin) with suggestions shown, or None."""
        idx = [
            i
            for _, bins in self.matching(feature, model_version, site)
            for i, r in bins.items()
            if r[0]
        ]
        if not idx:
            return None
        return min(idx) * self.bin, (max(idx) + 1) * self.bin


def compare_windows(signal: str, new: Window, old: Window, alpha: float) -> Interval:
    """The difference ``new - old`` of a signal with its interval (see :mod:`monitor.stats`);
    decision time in log seconds."""
    if signal in RATES:
        x1, n1 = new.rate(signal)
        x0, n0 = old.rate(signal)
        return newcombe(x1, n1, x0, n0, alpha, new.phi(signal), old.phi(signal))
    return welch(new.moments(signal), old.moments(signal), alpha, new.phi(signal), old.phi(signal))


# -- formatting: the signal's own units ---------------------------------------------------


def format_level(signal: str, x: float | None) -> str:
    if x is None:
        return "-"
    if signal in RATES:
        return f"{100 * x:.2f}%" if signal == "flag_rate" else f"{100 * x:.1f}%"
    if signal == "decision_time":
        return f"{x:.0f} s"
    return f"{x:.3f}"


def format_change(signal: str, iv: Interval) -> str:
    """The effect and its interval in the metric's units: points, absolute, or a ratio."""
    if signal in RATES:
        digits = 2 if signal == "flag_rate" else 1
        e, lo, hi = (100 * v for v in (iv.estimate, iv.low, iv.high))
        return f"{e:+.{digits}f} pts [{lo:+.{digits}f}, {hi:+.{digits}f}]"
    if signal == "decision_time":
        e, lo, hi = (math.exp(v) for v in (iv.estimate, iv.low, iv.high))
        return f"x{e:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{iv.estimate:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}]"


def format_detectable(signal: str, iv: Interval) -> str:
    """What this volume could have told apart: the interval's half-width."""
    if signal in RATES:
        digits = 2 if signal == "flag_rate" else 1
        return f"±{100 * iv.half_width:.{digits}f} pts"
    if signal == "decision_time":
        return f"±{100 * (math.exp(iv.half_width) - 1):.1f}%"
    return f"±{iv.half_width:.3f}"
