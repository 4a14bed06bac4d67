"""The oracle CUSUM: the best a detector could do knowing the truth.

For one injected degradation (its ``oracle`` block in ``truth.json``, see
:mod:`monitor.simulate.truth_params`) an :class:`Oracle` watches only the affected
cells (feature, sites, model version) from the scenario start, with no warm-up, and
runs Page's CUSUM of the log-likelihood ratio of the true post-change distribution (at
full effect) against the true pre-change one:

* ``bernoulli``: acceptance (``p0``/``p1`` per site and shift, from the clinicians
  actually drawn), flags (each resolution adds ``log((1-p1)/(1-p0))``, its first flag
  ``log(p1/p0) - log((1-p1)/(1-p0))``: the per-suggestion LLR, split the way Vitals
  observes flags), responses (answered by the decision timeout or not).
* ``gaussian``: the mean-shift LLR with the true pre-change SD (burden, on its own
  scale: the observed mixture of zeros and Beta draws, so an approximation there;
  decision time and log-normal inputs on the log scale, where it is exact; normal
  inputs, exact but for rounding).
* ``beta``: the exact LLR of the two score distributions.
* ``categorical``: ``log(p1[c] / p0[c])`` per coded input.
* ``poisson``: suggestions counted (duplicates dropped) in 15-minute buckets of event
  time; a bucket adds ``n log(1 - f) + f lambda`` with the true expected count
  ``lambda`` and lost fraction ``f`` (a silence, ``f = 1``: any suggestion resets).

Threshold: an in-control average run length of ``ARL_DAYS`` (100 months) of the
series' observations, ``per_day * ARL_DAYS`` (buckets for Poisson), so that it raises
about one false alarm per 100 series-months as if it were the only detector.

* Continuous increments (gaussian, beta): Siegmund's approximation,
  :func:`~monitor.core.detectors.base.cusum_threshold`, with the exact mean and SD of
  the increment before the change.
* Discrete increments (bernoulli, categorical, poisson), which can be lumpy and skewed
  (rare flags, silent hours): the Markov-chain ARL of Brook and Evans (1972),
  :func:`markov_arl`, on a 600-state grid with linear interpolation. The increment is
  taken as i.i.d. from the mixture of the observation types (sites, shifts, buckets of
  the day) in their true proportions, while the real sequence is ordered by time of
  day; on diurnal counts (a clinic profile, 40 a day, silence or half the volume lost)
  a brute-force simulation of the ordered sequence gives an ARL within 6% of the
  target (``tests/unit/test_family.py``).

A firing before the degradation's start is an oracle false alarm: counted, and the
CUSUM restarts. The first firing from the start to the end of the scenario (or of
the degradation plus the grace) is its detection.

References
----------
Page, E. S. (1954). Continuous inspection schemes. *Biometrika* 41, 100-115.
Brook, D., Evans, D. A. (1972). An approach to the probability distribution of CUSUM
run length. *Biometrika* 59, 539-549.
Siegmund, D. (1985). *Sequential Analysis*, Springer, ch. 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.core.contract import Suggestion
from monitor.core.detectors.base import cusum_threshold
from monitor.core.records import DECIDED, Flag, Resolution

__all__ = ["ARL_DAYS", "BUCKET_SECONDS", "Oracle", "build_oracle", "markov_arl", "markov_threshold"]

ARL_DAYS = 3000.0
"""100 months of 30 days."""
BUCKET_SECONDS = 900.0
STATES = 600


def markov_arl(z: np.ndarray, p: np.ndarray, h: float, states: int = STATES) -> float:
    """In-control ARL of ``S = max(0, S + Z)`` until ``S >= h`` for i.i.d. increments
    ``Z`` taking the values ``z`` with probabilities ``p`` (``-inf``: reset to 0).

    Brook and Evans' Markov chain on ``states`` grid points ``0, h/states, ...``; the
    mass of a step that lands between two points is split between them linearly.

    >>> z = np.array([1.0, -1.0]); p = np.array([0.3, 0.7])
    >>> 20 < markov_arl(z, p, 3.0) < 40   # a random walk with drift -0.4 reaching 3
    True
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    w = h / states
    if z.size > 4 * states:  # merge nearby increments (many bucket types)
        lo = -h  # every step at or below -h resets the CUSUM, as -inf does
        key = np.round((np.maximum(z, lo) - lo) / (w / 4)).astype(np.int64)
        weights = np.bincount(key, weights=p)
        keep = weights > 0
        z = lo + np.flatnonzero(keep) * (w / 4)
        p = weights[keep]
    s = np.arange(states) * w
    nxt = np.maximum(s[None, :] + np.nan_to_num(z, neginf=-2 * h)[:, None], 0.0)
    pos = nxt / w
    j = np.floor(pos).astype(np.int64)
    frac = pos - j
    rows = np.broadcast_to(np.arange(states)[None, :], j.shape)
    mass = np.broadcast_to(p[:, None], j.shape)
    size = states * states
    lower = j < states
    r = np.bincount((rows * states + j)[lower], (mass * (1 - frac))[lower], minlength=size)
    upper = j + 1 < states
    r += np.bincount((rows * states + j + 1)[upper], (mass * frac)[upper], minlength=size)
    r = r.reshape(states, states)
    try:
        arl = np.linalg.solve(np.eye(states) - r, np.ones(states))
    except np.linalg.LinAlgError:
        return math.inf
    return float(arl[0]) if arl[0] > 0 else math.inf


def markov_threshold(z: np.ndarray, p: np.ndarray, arl: float) -> float:
    """Smallest ``h`` (to 0.5%) with :func:`markov_arl` at least ``arl``."""
    lo, hi = 0.0, 1.0
    while markov_arl(z, p, hi) < arl:
        lo, hi = hi, hi * 2.0
        if hi > 1e4:
            raise ValueError("no threshold reaches that ARL (in-control drift not negative?)")
    while hi - lo > 0.005 * hi:
        mid = 0.5 * (lo + hi)
        if markov_arl(z, p, mid) < arl:
            lo = mid
        else:
            hi = mid
    return hi


def _bernoulli_atoms(
    p0: np.ndarray, p1: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Increments of the Bernoulli LLR for a mixture of (p0, p1) types with weights w."""
    w = w / w.sum()
    up = np.log(p1 / p0)
    down = np.log((1 - p1) / (1 - p0))
    return np.concatenate([up, down]), np.concatenate([w * p0, w * (1 - p0)])


@dataclass
class Oracle:
    """One CUSUM on the affected cells of one degradation (see the module docstring)."""

    entry: dict[str, Any]
    h: float
    method: str
    feed: Callable[[Oracle, Resolution | Flag], None]
    start: float
    until: float
    s: float = 0.0
    false_alarms: int = 0
    detected_at: float | None = None
    observations: int = 0
    first_at: float | None = None
    """Time of the first observation of the affected cells."""
    sites: frozenset[str] = frozenset()
    # counting (poisson) oracles: bucket origin, lateness, expected count per bucket,
    # open buckets' counts, suggestion ids seen, last bucket scored
    origin: float = 0.0
    lateness: float = 600.0
    rates: list[float] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    closed: int = -1

    @property
    def model(self) -> str:
        return self.entry["oracle"]["model"]

    def step(self, llr: float, at: float) -> None:
        """Add one increment observed at event time ``at``."""
        if self.detected_at is not None:
            return
        if self.first_at is None:
            self.first_at = at
        self.observations += 1
        s = self.s + llr
        if s >= self.h:
            if at < self.start:
                self.false_alarms += 1
            elif at <= self.until:
                self.detected_at = at
            s = 0.0
        self.s = s if s > 0.0 else 0.0

    def observe(self, item: Resolution | Flag) -> None:
        self.feed(self, item)

    # -- counts (poisson) -----------------------------------------------------------

    def count(self, event: Suggestion) -> None:
        """A suggestion event as parsed (poisson oracles only; duplicates dropped)."""
        if event.event_id in self.seen:
            return
        self.seen.add(event.event_id)
        b = int((event.occurred_at.timestamp() - self.origin) // BUCKET_SECONDS)
        if b > self.closed:
            self.counts[b] = self.counts.get(b, 0) + 1

    def close_buckets(self, clock: float) -> None:
        """Score every bucket that ended at least the allowed lateness before ``clock``."""
        cfg = self.entry["oracle"]
        last = int((clock - self.lateness - self.origin) // BUCKET_SECONDS) - 1
        rates = self.rates
        f = cfg["fraction"]
        for b in range(self.closed + 1, min(last, len(rates) - 1) + 1):
            n = self.counts.pop(b, 0)
            lam = rates[b]
            # silence (f = 1): any suggestion ends it
            llr = (-math.inf if n else lam) if f >= 1.0 else n * math.log(1 - f) + f * lam
            self.step(llr, self.origin + (b + 1) * BUCKET_SECONDS)
            self.closed = b
        self.closed = max(self.closed, min(last, len(rates) - 1))


def _cells(cfg: dict[str, Any], feature: str) -> Callable[[Resolution | Flag], bool]:
    sites = frozenset(cfg["cells"]["sites"])
    version = cfg["cells"]["model_version"]

    def inside(item: Resolution | Flag) -> bool:
        return (
            item.feature == feature
            and item.site in sites
            and (version == "*" or item.model_version == version)
        )

    return inside


def build_oracle(
    entry: dict[str, Any], *, grace: float, end: float, lateness: float = 600.0
) -> Oracle | None:
    """The oracle for one truth entry (None when its model is ``unsupported``)."""
    cfg = entry["oracle"]
    o = _build(entry, cfg, grace=grace, end=end, lateness=lateness)
    if o is not None:
        o.sites = frozenset(cfg["cells"]["sites"])
    return o


def _build(
    entry: dict[str, Any], cfg: dict[str, Any], *, grace: float, end: float, lateness: float
) -> Oracle | None:
    from monitor.scoring import truth_time

    model = cfg["model"]
    start = truth_time(entry["start"])
    until = min(truth_time(entry.get("end")) + grace, end)
    inside = _cells(cfg, entry["feature"])
    arl = max(cfg["per_day"], 1e-3) * ARL_DAYS
    if model == "bernoulli":
        return _bernoulli(entry, cfg, inside, arl, start, until)
    if model in ("gaussian", "beta"):
        return _continuous(entry, cfg, inside, arl, start, until)
    if model == "categorical":
        codes = list(cfg["p0"])
        p0 = np.array([cfg["p0"][c] for c in codes])
        p1 = np.array([cfg["p1"][c] for c in codes])
        ok = p0 > 0
        llr = {c: math.log(max(cfg["p1"][c], 1e-12) / cfg["p0"][c]) for c in codes if cfg["p0"][c]}
        h = markov_threshold(np.log(np.maximum(p1[ok], 1e-12) / p0[ok]), p0[ok], arl)
        name = cfg["input"]

        def feed_cat(o: Oracle, item: Resolution | Flag) -> None:
            if isinstance(item, Resolution) and item.inputs and inside(item):
                v = item.inputs.get(name)
                if v is not None:
                    o.step(llr.get(str(v), 0.0), item.at)

        return Oracle(entry, h, "markov", feed_cat, start, until)
    if model == "poisson":
        lam = np.repeat(np.asarray(cfg["hourly_rate"], dtype=float) / 4.0, 4)
        f = cfg["fraction"]
        if f >= 1.0:
            z = np.concatenate([lam, np.full(lam.size, -np.inf)])
            p = np.concatenate([np.exp(-lam), 1 - np.exp(-lam)])
        else:
            zs, ps = [], []
            for x in lam:
                n = np.arange(int(x + 8 * math.sqrt(x) + 12))
                pmf = np.exp(
                    n * math.log(max(x, 1e-12)) - x - np.array([math.lgamma(k + 1) for k in n])
                )
                zs.append(n * math.log(1 - f) + f * x)
                ps.append(pmf)
            z, p = np.concatenate(zs), np.concatenate(ps)
        p = p / lam.size
        h = markov_threshold(z, p, ARL_DAYS * 86400 / BUCKET_SECONDS)
        o = Oracle(entry, h, "markov", lambda o, item: None, start, until)
        o.origin = cfg["start_epoch"]
        o.lateness = lateness
        o.rates = lam.tolist()
        return o
    return None


def _bernoulli(
    entry: dict[str, Any],
    cfg: dict[str, Any],
    inside: Callable[[Resolution | Flag], bool],
    arl: float,
    start: float,
    until: float,
) -> Oracle:
    signal = cfg["signal"]
    if signal == "acceptance_rate":
        sites = list(cfg["p0"])
        p0 = np.array([cfg["p0"][s][k] for s in sites for k in (0, 1)])
        p1 = np.array([cfg["p1"][s][k] for s in sites for k in (0, 1)])
        w = np.array([cfg["weights"][s][k] for s in sites for k in (0, 1)]) + 1e-12
        z, p = _bernoulli_atoms(p0, p1, w)
        h = markov_threshold(z, p, arl)
        table = {
            s: [
                (math.log(cfg["p1"][s][k] / cfg["p0"][s][k]),
                 math.log((1 - cfg["p1"][s][k]) / (1 - cfg["p0"][s][k])))
                for k in (0, 1)
            ]
            for s in sites
        }  # fmt: skip
        off = cfg["off_shift_hours"]
        origin = cfg["start_epoch"]

        def feed_acc(o: Oracle, item: Resolution | Flag) -> None:
            if isinstance(item, Resolution) and item.status in DECIDED and inside(item):
                cell = int((item.shown_at - origin) // 3600)
                shift = 1 if 0 <= cell < len(off) and off[cell] == "1" else 0
                up, down = table[item.site][shift]
                o.step(up if item.status in ("accepted", "edited") else down, item.at)

        return Oracle(entry, h, "markov", feed_acc, start, until)
    q0, q1 = float(cfg["p0"]), float(cfg["p1"])
    z, p = _bernoulli_atoms(np.array([q0]), np.array([q1]), np.array([1.0]))
    h = markov_threshold(z, p, arl)
    up, down = math.log(q1 / q0), math.log((1 - q1) / (1 - q0))
    if signal == "flag_rate":

        def feed_flag(o: Oracle, item: Resolution | Flag) -> None:
            if not inside(item):
                return
            if isinstance(item, Resolution):
                o.step(down, item.at)
            elif item.first:
                o.step(up - down, item.at)

        return Oracle(entry, h, "markov", feed_flag, start, until)

    def feed_response(o: Oracle, item: Resolution | Flag) -> None:
        if isinstance(item, Resolution) and inside(item):
            o.step(down if item.status == "expired" else up, item.at)

    return Oracle(entry, h, "markov", feed_response, start, until)


def _beta_moments(cfg: dict[str, Any]) -> tuple[float, float, Callable[[float], float]]:
    from math import lgamma

    a0, b0, a1, b1 = cfg["a0"], cfg["b0"], cfg["a1"], cfg["b1"]
    c = lgamma(a1 + b1) - lgamma(a1) - lgamma(b1) - lgamma(a0 + b0) + lgamma(a0) + lgamma(b0)

    def llr(x: float) -> float:
        x = min(max(x, 1e-4), 1 - 1e-4)
        return c + (a1 - a0) * math.log(x) + (b1 - b0) * math.log(1 - x)

    grid = (np.arange(20000) + 0.5) / 20000
    dens = np.exp((a0 - 1) * np.log(grid) + (b0 - 1) * np.log(1 - grid))
    dens /= dens.sum()
    values = c + (a1 - a0) * np.log(grid) + (b1 - b0) * np.log(1 - grid)
    mu = float((dens * values).sum())
    sd = math.sqrt(float((dens * (values - mu) ** 2).sum()))
    return mu, sd, llr


def _continuous(
    entry: dict[str, Any],
    cfg: dict[str, Any],
    inside: Callable[[Resolution | Flag], bool],
    arl: float,
    start: float,
    until: float,
) -> Oracle:
    signal = cfg["signal"]
    if cfg["model"] == "beta":
        mu, sd, llr = _beta_moments(cfg)
    else:
        mu0, mu1, sd0 = cfg["mu0"], cfg["mu1"], cfg["sd0"]
        delta = mu1 - mu0
        k = delta / (sd0 * sd0)

        def llr(x: float) -> float:
            return k * (x - mu0 - delta / 2)

        mu, sd = -(delta * delta) / (2 * sd0 * sd0), abs(delta) / sd0
    h = cusum_threshold(mu, sd, arl)
    log = cfg.get("transform") == "log"
    name = cfg.get("input")

    def value(item: Resolution) -> float | None:
        if signal == "correction_burden":
            return item.burden
        if signal == "decision_time":
            return (
                None
                if item.decision_seconds is None
                else math.log(max(item.decision_seconds, 1e-3))
            )
        if signal == "score_drift":
            return item.score
        v = item.inputs.get(name) if item.inputs else None
        if v is None or isinstance(v, str):
            return None
        return math.log(max(float(v), 1e-9)) if log else float(v)

    def feed(o: Oracle, item: Resolution | Flag) -> None:
        if isinstance(item, Resolution) and inside(item):
            x = value(item)
            if x is not None:
                o.step(llr(x), item.at)

    return Oracle(entry, h, "siegmund", feed, start, until)
