"""Bernoulli change detection: delay and false alarms, ours vs river ADWIN vs an oracle CUSUM.

Run: ``.venv/bin/python bench/bench_bernoulli.py [--runs 200] [--fa-obs 4000000]``.

* Delay: i.i.d. Bernoulli 0.60 for ``TAU`` observations, then 0.50; the delay is
  the number of post-change observations until the first alarm at or after the
  change (runs without an alarm within ``MAX_POST`` count as ``MAX_POST``).
* False alarms: stationary i.i.d. 0.60 streams; alarms per 10^6 monitored
  observations (warm-up excluded), with a one-sided 95% Poisson upper bound.
* Oracle: CUSUM of log(0.5/0.6 | 0.5/0.4) increments; its threshold is the
  smallest of a grid around Siegmund's approximation whose simulated false-alarm
  rate (10^8 stationary observations, vectorised) is <= 1 per 10^6.

Detectors: "ours (p0 given)" is ``BernoulliCUSUM(p0=0.6)`` with every other
parameter at its default (two-sided, minimum effect 3 points, phi estimated in a
2,000-observation warm-up and used only if significant, calibrated so that shifts
up to a third of the minimum effect keep the false-alarm target); "ours (p0
learned)" is ``BernoulliCUSUM()`` at defaults. Variants: one-sided
(``direction="down"``, the direction acceptance is monitored in) and the
``acceptance_rate`` signal's configuration (down, ``null_shift=0.5``: calibrated
for shifts up to half the minimum effect, for the clinician-mix swings of real
streams). ADWIN is ``river.drift.ADWIN()`` at defaults.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from river import drift

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.core.detectors.base import cusum_threshold
from monitor.core.detectors.bernoulli import BernoulliCUSUM
from monitor.core.signals import SIGNAL_SPECS

P0, P1 = 0.6, 0.5
TAU = 5_000
MAX_POST = 10_000
WARMUP = 2_000  # ours' default warm-up; alarms inside it cannot happen

A1 = math.log(P1 / P0)
A0 = math.log((1 - P1) / (1 - P0))
SIEGMUND_H = cusum_threshold(P0 * A1 + (1 - P0) * A0, abs(A1 - A0) * math.sqrt(P0 * (1 - P0)), 1e6)
ORACLE_H = SIEGMUND_H  # replaced by calibrate_oracle()


class Oracle:
    """CUSUM that knows p0 = 0.6 and p1 = 0.5; restarts after an alarm."""

    def __init__(self) -> None:
        self.s = 0.0

    def update(self, x: bool) -> bool:
        s = self.s + (A1 if x else A0)
        if s >= ORACLE_H:
            self.s = 0.0
            return True
        self.s = s if s > 0.0 else 0.0
        return False


def make_ours_given() -> Callable[[bool], bool]:
    det = BernoulliCUSUM(p0=P0)

    def step(x: bool) -> bool:
        return det.update(x) and det.firing

    return step


def make_ours_acceptance() -> Callable[[bool], bool]:
    params = {**SIGNAL_SPECS["acceptance_rate"].defaults, "warmup_seconds": 0.0}
    det = BernoulliCUSUM(p0=P0, **params)

    def step(x: bool) -> bool:
        return det.update(x) and det.firing

    return step


def make_ours_down() -> Callable[[bool], bool]:
    det = BernoulliCUSUM(p0=P0, direction="down")

    def step(x: bool) -> bool:
        return det.update(x) and det.firing

    return step


def make_ours_learned() -> Callable[[bool], bool]:
    det = BernoulliCUSUM()

    def step(x: bool) -> bool:
        return det.update(x) and det.firing

    return step


def make_adwin() -> Callable[[bool], bool]:
    det = drift.ADWIN()

    def step(x: bool) -> bool:
        det.update(1 if x else 0)
        return det.drift_detected

    return step


def make_oracle() -> Callable[[bool], bool]:
    return Oracle().update


DETECTORS: dict[str, Callable[[], Callable[[bool], bool]]] = {
    "ours (p0 given 0.6)": make_ours_given,
    "ours (p0 learned)": make_ours_learned,
    "ours p0, down-only": make_ours_down,
    "ours p0, acceptance cfg": make_ours_acceptance,
    "river ADWIN()": make_adwin,
    "oracle CUSUM": make_oracle,
}


def delays(factory: Callable[[], Callable[[bool], bool]], runs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(runs)
    for r in range(runs):
        pre = (rng.random(TAU) < P0).tolist()
        post = (rng.random(MAX_POST) < P1).tolist()
        step = factory()
        for x in pre:
            step(x)
        d = MAX_POST
        for i, x in enumerate(post):
            if step(x):
                d = i + 1
                break
        out[r] = d
    return out


def false_alarms(
    factory: Callable[[], Callable[[bool], bool]], total: int, seed: int, streams: int = 40
) -> tuple[int, int]:
    """Alarms and monitored observations over ``streams`` stationary streams."""
    rng = np.random.default_rng(seed)
    per = total // streams
    alarms = 0
    for _ in range(streams):
        step = factory()
        xs = (rng.random(per + WARMUP) < P0).tolist()
        for x in xs:
            if step(x):
                alarms += 1
    return alarms, streams * per


def oracle_fa_vectorised(
    hs: list[float], n_par: int, steps: int, seed: int
) -> tuple[list[int], int]:
    """Oracle false alarms for each threshold in ``hs`` on parallel stationary streams."""
    rng = np.random.default_rng(seed)
    h = np.asarray(hs)[None, :]
    s = np.zeros((n_par, len(hs)))
    alarms = np.zeros(len(hs), dtype=np.int64)
    for _ in range(steps):
        x = (rng.random(n_par) < P0)[:, None]
        s = np.maximum(s + np.where(x, A1, A0), 0.0)
        hit = s >= h
        if hit.any():
            alarms += hit.sum(axis=0)
            s[hit] = 0.0
    return alarms.tolist(), n_par * steps


def calibrate_oracle(seed: int) -> tuple[float, int, int]:
    """Smallest grid threshold with a simulated FA rate <= 1 per 10^6 observations."""
    global ORACLE_H
    hs = [SIEGMUND_H + d for d in (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)]
    alarms, n = oracle_fa_vectorised(hs, 20_000, 5_000, seed)
    for h, k in zip(hs, alarms, strict=True):
        if k / n <= 1e-6:
            ORACLE_H = h
            return h, k, n
    ORACLE_H = hs[-1]
    return hs[-1], alarms[-1], n


def poisson_upper95(k: int) -> float:
    """One-sided 95% upper confidence bound of a Poisson mean with k observed."""
    if k == 0:
        return -math.log(0.05)
    lo, hi = float(k), k + 10.0 * math.sqrt(k) + 10.0
    for _ in range(80):  # P(X <= k | mu) = 0.05
        mu = 0.5 * (lo + hi)
        cdf = sum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1)) for i in range(k + 1))
        lo, hi = (mu, hi) if cdf > 0.05 else (lo, mu)
    return hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--fa-obs", type=int, default=6_000_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    h, ko, no = calibrate_oracle(seed=1)
    print(
        f"Bernoulli {P0} -> {P1} at t={TAU}; {args.runs} runs; oracle h={h:.3f} "
        f"(Siegmund {SIEGMUND_H:.3f}; calibration {time.perf_counter() - t0:.1f} s)"
    )
    rows = {}
    for i, (label, factory) in enumerate(DETECTORS.items()):
        t = time.perf_counter()
        d = delays(factory, args.runs, seed=100 + i)
        if label == "oracle CUSUM":
            k, n = ko, no
        else:
            k, n = false_alarms(factory, args.fa_obs, seed=200 + i)
        rows[label] = (d, k, n, time.perf_counter() - t)
    print()
    print(f"{'detector':<22}{'median':>8}{'mean':>8}{'p90':>8}{'missed':>8}"
          f"{'FA':>7}{'obs':>12}{'FA/1e6':>9}{'UB95':>8}{'sec':>6}")  # fmt: skip
    for label, (d, k, n, sec) in rows.items():
        print(
            f"{label:<22}{np.median(d):>8.0f}{d.mean():>8.0f}{np.percentile(d, 90):>8.0f}"
            f"{int((d >= MAX_POST).sum()):>8d}{k:>7d}{n:>12d}{k / n * 1e6:>9.2f}"
            f"{poisson_upper95(k) / n * 1e6:>8.2f}{sec:>6.1f}"
        )
    med = {label: float(np.median(v[0])) for label, v in rows.items()}
    print()
    for ours in [k for k in rows if k.startswith("ours")]:
        r_adwin = med[ours] / med["river ADWIN()"]
        r_oracle = med[ours] / med["oracle CUSUM"]
        fa = rows[ours][1] / rows[ours][2] * 1e6
        print(
            f"{ours}: delay/ADWIN = {r_adwin:.2f} (target <= 1) "
            f"{'OK' if r_adwin <= 1 else 'MISSED'}; delay/oracle = {r_oracle:.2f} "
            f"(target <= 1.5) {'OK' if r_oracle <= 1.5 else 'MISSED'}; "
            f"FA/1e6 = {fa:.2f} (target <= 1) {'OK' if fa <= 1 else 'MISSED'}"
        )
    print(f"\nruntime {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
